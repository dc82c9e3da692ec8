#include "assess/key_spill.h"

#include <bit>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace tandem::assess {

namespace {

// A buffer is written out when it reaches this size: the 256 buffers of a key set take 4 MB.
constexpr size_t kBufferBytes = 16 * 1024;

void PutU64(uint64_t x, std::string& out) {
  char b[8];
  std::memcpy(b, &x, 8);
  out.append(b, 8);
}

uint64_t GetU64(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  return x;
}

bool IntLike(Kind k) {
  return k == Kind::kBool || k == Kind::kInt || k == Kind::kDate || k == Kind::kTime ||
         k == Kind::kTimestamp || k == Kind::kTimestampTz;
}

// A full or failing disk: the user can fix it (or point the state file elsewhere).
std::unexpected<Error> IoError(std::string_view what, const std::string& path) {
  return Fail(Code::kFailedPrecondition, "assess scratch: {} {}: {}", what, path,
              std::strerror(errno));
}

}  // namespace

void AppendKeyBytes(const Value& v, std::string& out) {
  out += static_cast<char>(v.kind());
  if (v.is_null()) return;
  if (IntLike(v.kind())) {
    PutU64(static_cast<uint64_t>(v.as_int()), out);
  } else if (v.kind() == Kind::kFloat) {
    PutU64(std::bit_cast<uint64_t>(v.as_float()), out);
  } else {
    PutU64(v.as_str().size(), out);
    out += v.as_str();
  }
}

Result<std::unique_ptr<KeyLog>> KeyLog::Create(const std::string& path) {
  std::unique_ptr<KeyLog> log(new KeyLog());
  log->path_ = path;
  log->file_ = std::fopen(path.c_str(), "w+b");
  if (!log->file_) return IoError("create", path);
  return log;
}

KeyLog::~KeyLog() {
  if (file_) std::fclose(file_);
}

Result<uint64_t> KeyLog::Append(const Row& row, const std::vector<int>& positions) {
  uint64_t place = size_ + buffer_.size();
  size_t at = buffer_.size();
  buffer_.append(4, '\0');
  for (int p : positions) AppendKeyBytes(row[p], buffer_);
  uint32_t len = static_cast<uint32_t>(buffer_.size() - at - 4);
  std::memcpy(buffer_.data() + at, &len, 4);
  if (buffer_.size() >= kBufferBytes) TANDEM_RETURN_IF_ERROR(Flush());
  return place;
}

Status KeyLog::Flush() {
  if (buffer_.empty()) return Ok();
  if (std::fseek(file_, 0, SEEK_END) != 0 ||
      std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size() ||
      std::fflush(file_) != 0) {
    return IoError("write", path_);
  }
  size_ += buffer_.size();
  buffer_.clear();
  return Ok();
}

Result<Row> KeyLog::Read(uint64_t place) {
  auto fail = [&] {
    return Fail(Code::kDataLoss, "assess scratch: key log {} is damaged at {}", path_, place);
  };
  uint32_t len = 0;
  if (std::fseek(file_, static_cast<long>(place), SEEK_SET) != 0 ||
      std::fread(&len, 1, 4, file_) != 4) {
    return fail();
  }
  std::string bytes(len, '\0');
  if (std::fread(bytes.data(), 1, len, file_) != len) return fail();
  Row key;
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  while (p < end) {
    Kind kind = static_cast<Kind>(*p++);
    Value v;
    if (kind == Kind::kNull) {
      key.push_back(v);
      continue;
    }
    if (end - p < 8) return fail();
    uint64_t x = GetU64(p);
    p += 8;
    if (IntLike(kind)) {
      v.SetInt(kind, static_cast<int64_t>(x));
    } else if (kind == Kind::kFloat) {
      v.SetFloat(std::bit_cast<double>(x));
    } else {
      if (static_cast<uint64_t>(end - p) < x) return fail();
      v.SetStr(kind, std::string_view(p, x));
      p += x;
    }
    key.push_back(std::move(v));
  }
  return key;
}

bool KeptBytes::Take(size_t bytes) {
  auto want = static_cast<int64_t>(bytes);
  int64_t left = left_.load(std::memory_order_relaxed);
  while (left >= want) {
    if (left_.compare_exchange_weak(left, left - want, std::memory_order_relaxed)) return true;
  }
  return false;
}

Result<std::unique_ptr<KeySpill>> KeySpill::Create(const std::string& path, KeptBytes* kept) {
  std::unique_ptr<KeySpill> s(new KeySpill());
  s->path_ = path;
  s->budget_ = kept;
  s->buffers_.resize(kPartitions);
  s->blocks_.resize(kPartitions);
  s->kept_.resize(kPartitions);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return IoError("create", path);
  std::fclose(f);
  return s;
}

Status KeySpill::Add(const KeyHash& hash, uint64_t place) {
  // The top bits choose the partition; the sort within one uses all of them.
  int p = static_cast<int>(hash.hi >> 56);
  std::string& b = buffers_[p];
  if (b.capacity() < kBufferBytes) b.reserve(kBufferBytes);
  uint64_t e[3] = {hash.hi, hash.lo, place};
  b.append(reinterpret_cast<const char*>(e), sizeof e);
  ++entries_;
  if (b.size() + sizeof e <= kBufferBytes) return Ok();
  if (budget_ && budget_->Take(b.capacity())) {
    kept_[p].push_back(std::move(b));
    b = std::string();
    return Ok();
  }
  return Write(p);
}

Status KeySpill::Write(int p) {
  std::string& b = buffers_[p];
  if (b.empty()) return Ok();
  std::FILE* f = std::fopen(path_.c_str(), "ab");
  if (!f) return IoError("open", path_);
  bool ok = std::fwrite(b.data(), 1, b.size(), f) == b.size();
  ok &= std::fclose(f) == 0;
  if (!ok) return IoError("write", path_);
  blocks_[p].push_back({size_, b.size()});
  size_ += b.size();
  b.clear();
  return Ok();
}

Status KeySpill::Flush() {
  for (int p = 0; p < kPartitions; ++p) {
    std::string& b = buffers_[p];
    if (!b.empty() && budget_ && budget_->Take(b.size())) {
      kept_[p].emplace_back(b);  // a copy of the entries alone, not of the buffer's capacity
    } else {
      TANDEM_RETURN_IF_ERROR(Write(p));
    }
    std::string().swap(b);  // a table's sets hold no buffers once it is read
  }
  return Ok();
}

Result<std::vector<KeySpill::Entry>> KeySpill::Load(int p) const {
  const auto& blocks = blocks_[p];
  uint64_t total = 0;
  for (const auto& b : blocks) total += b.bytes;
  for (const auto& k : kept_[p]) total += k.size();
  if (total % 24 != 0) return Fail(Code::kInternal, "assess scratch: partition {} of {} is not whole entries", p, path_);
  std::vector<Entry> out;
  out.reserve(total / 24);
  auto parse = [&out](std::string_view bytes) {
    for (size_t i = 0; i + 24 <= bytes.size(); i += 24) {
      const char* e = bytes.data() + i;
      out.push_back(Entry{{GetU64(e), GetU64(e + 8)}, GetU64(e + 16)});
    }
  };
  for (const auto& k : kept_[p]) parse(k);
  if (blocks.empty()) return out;
  std::FILE* f = std::fopen(path_.c_str(), "rb");
  if (!f) return IoError("open", path_);
  std::string bytes;
  bool failed = false;
  for (const auto& b : blocks) {
    bytes.resize(b.bytes);
    if (std::fseek(f, static_cast<long>(b.offset), SEEK_SET) != 0 ||
        std::fread(bytes.data(), 1, b.bytes, f) != b.bytes) {
      failed = true;
      break;
    }
    parse(bytes);
  }
  std::fclose(f);
  if (failed) return IoError("read", path_);
  return out;
}

}  // namespace tandem::assess
