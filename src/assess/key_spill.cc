#include "assess/key_spill.h"

#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace tandem::assess {

namespace {

// A buffer is written out when it reaches this size: the 256 buffers of a key set take 4 MB
// (only once kept memory is spent).
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

KeptMemory::~KeptMemory() {
  for (void* b : blocks_) std::free(b);
}

char* KeptMemory::Take(size_t bytes) {
  constexpr size_t kBlock = size_t{2} << 20;
  std::lock_guard lock(mu_);
  if (bytes > left_) {
    if (bytes > kBlock || (blocks_.size() + 1) * kBlock > budget_) return nullptr;
    void* block = std::aligned_alloc(kBlock, kBlock);
    if (!block) return nullptr;
    blocks_.push_back(block);
    next_ = static_cast<char*>(block);
    left_ = kBlock;
  }
  char* at = next_;
  next_ += bytes;
  left_ -= bytes;
  return at;
}

Result<std::unique_ptr<KeySpill>> KeySpill::Create(const std::string& path, KeptMemory* kept) {
  std::unique_ptr<KeySpill> s(new KeySpill());
  s->path_ = path;
  s->kept_memory_ = kept;
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
  if (stage_.empty()) stage_.resize(kPartitions * kStageEntries * kEntryBytes);
  uint64_t e[3] = {hash.hi, hash.lo, place};
  std::memcpy(&stage_[(p * kStageEntries + staged_[p]) * kEntryBytes], e, kEntryBytes);
  ++entries_;
  if (++staged_[p] < kStageEntries) return Ok();
  return Unstage(p);
}

// Moves partition p's staged entries to kept memory, or else to its file buffer (written out
// when full).
Status KeySpill::Unstage(int p) {
  size_t bytes = staged_[p] * kEntryBytes;
  if (bytes == 0) return Ok();
  const char* from = &stage_[p * kStageEntries * kEntryBytes];
  staged_[p] = 0;
  if (char* at = kept_memory_ && !spilling_ ? kept_memory_->Take(bytes) : nullptr) {
    std::memcpy(at, from, bytes);
    kept_[p].emplace_back(at, bytes);
    return Ok();
  }
  spilling_ = true;  // the memory is spent: no lock a batch to find that out again
  std::string& b = buffers_[p];
  if (b.capacity() < kBufferBytes) b.reserve(kBufferBytes);
  b.append(from, bytes);
  if (b.size() + kStageEntries * kEntryBytes > kBufferBytes) return Write(p);
  return Ok();
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
    if (!stage_.empty()) TANDEM_RETURN_IF_ERROR(Unstage(p));
    TANDEM_RETURN_IF_ERROR(Write(p));
    std::string().swap(buffers_[p]);  // a table's sets hold no buffers once it is read
  }
  std::vector<char>().swap(stage_);
  return Ok();
}

Result<std::vector<KeySpill::Entry>> KeySpill::Load(int p) const {
  const auto& blocks = blocks_[p];
  uint64_t total = 0;
  for (const auto& b : blocks) total += b.bytes;
  for (const auto& k : kept_[p]) total += k.size();
  if (total % kEntryBytes != 0) {
    return Fail(Code::kDataLoss, "assess scratch: partition {} of {} is not whole entries", p,
                path_);
  }
  std::vector<Entry> out;
  out.reserve(total / kEntryBytes);
  auto parse = [&out](std::string_view bytes) {
    for (size_t i = 0; i + kEntryBytes <= bytes.size(); i += kEntryBytes) {
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
