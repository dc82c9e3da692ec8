#include "core/encoding.h"

#include <cstring>

#include <iconv.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "core/text.h"

namespace tandem {

namespace {

// Windows-1252 0x80-0x9F (the rest of its high half is ISO-8859-1). 0 marks the five bytes
// Windows leaves undefined; MariaDB's latin1 (strings/ctype-latin1.c cs_to_uni) maps those to
// the C1 controls of the same number.
constexpr std::array<uint16_t, 32> kCp1252High = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,  // 0x80
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,       // 0x88
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,  // 0x90
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,  // 0x98
};

enum class Table { kLatin1, kCp1252, kMariadbLatin1 };

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The code point at s[i] and its length. REQUIRES: s is valid UTF-8 and i < s.size().
uint32_t NextCodePoint(std::string_view s, size_t& i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < len && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += len;
  return cp;
}

uint32_t TableCodePoint(Table t, unsigned char b) {
  if (b < 0x80 || b >= 0xA0 || t == Table::kLatin1) return b;
  uint16_t cp = kCp1252High[b - 0x80];
  if (cp == 0 && t == Table::kMariadbLatin1) return b;
  return cp;  // 0: undefined in cp1252
}

// The byte of code point `cp` in table `t`, or -1.
int TableByte(Table t, uint32_t cp) {
  if (cp < 0x80) return static_cast<int>(cp);
  if (t == Table::kLatin1) return cp <= 0xFF ? static_cast<int>(cp) : -1;
  if (cp >= 0xA0 && cp <= 0xFF) return static_cast<int>(cp);
  for (int i = 0; i < 32; ++i) {
    if (kCp1252High[i] == cp) return 0x80 + i;
  }
  if (t == Table::kMariadbLatin1 && cp >= 0x80 && cp < 0xA0 && kCp1252High[cp - 0x80] == 0) {
    return static_cast<int>(cp);
  }
  return -1;
}

std::string_view TableName(Table t) {
  switch (t) {
    case Table::kLatin1: return "latin1";
    case Table::kCp1252: return "cp1252";
    case Table::kMariadbLatin1: return "mariadb_latin1";
  }
  return "";
}

std::optional<Table> TableFor(std::string_view canonical) {
  if (canonical == "latin1") return Table::kLatin1;
  if (canonical == "cp1252") return Table::kCp1252;
  if (canonical == "mariadb_latin1") return Table::kMariadbLatin1;
  return std::nullopt;
}

Error Unmapped(std::string_view label, std::string_view raw, size_t at, size_t len) {
  len = std::min(len, raw.size() - at);
  return Error{Code::kInvalidArgument,
               fmt::format("{} bytes {} (at byte {} of {}) have no Unicode mapping", label,
                           HexBytes(raw.substr(at, len)), at, raw.size()),
               Problem::kInvalidEncoding};
}

Result<std::string> DecodeTable(std::string_view raw, Table t) {
  std::string out;
  out.reserve(raw.size() + raw.size() / 4);
  for (size_t i = 0; i < raw.size(); ++i) {
    auto c = static_cast<unsigned char>(raw[i]);
    uint32_t cp = TableCodePoint(t, c);
    if (cp == 0 && c != 0) return std::unexpected(Unmapped(TableName(t), raw, i, 1));
    AppendUtf8(cp, out);
  }
  return out;
}

Result<std::string> EncodeTable(std::string_view utf8, Table t) {
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) {
    size_t at = i;
    uint32_t cp = NextCodePoint(utf8, i);
    int b = TableByte(t, cp);
    if (b < 0) {
      return std::unexpected(Error{
          Code::kInvalidArgument,
          fmt::format("character U+{:04X} (at byte {} of {}) has no byte in {}", cp, at,
                      utf8.size(), TableName(t)),
          Problem::kInvalidEncoding});
    }
    out += static_cast<char>(b);
  }
  return out;
}

// One converter per (to, from) pair and thread: an iconv_t holds shift state and is not
// shared between threads; opened on first use, kept for the thread's life.
iconv_t Converter(std::string_view to, std::string_view from) {
  thread_local std::map<std::string, iconv_t, std::less<>> open;
  std::string key = fmt::format("{}<{}", to, from);
  if (auto it = open.find(key); it != open.end()) return it->second;
  iconv_t cd = iconv_open(std::string(to).c_str(), std::string(from).c_str());
  open.emplace(std::move(key), cd);
  return cd;
}

bool Usable(iconv_t cd) { return cd != reinterpret_cast<iconv_t>(-1); }

// How many bytes of `rest` (which iconv refused with EILSEQ) form the refused sequence: the
// fewest that iconv refuses on their own rather than call incomplete.
size_t RejectedLength(iconv_t cd, std::string_view rest) {
  for (size_t n = 1; n <= std::min<size_t>(4, rest.size()); ++n) {
    iconv(cd, nullptr, nullptr, nullptr, nullptr);
    char buf[32];
    char* in = const_cast<char*>(rest.data());
    size_t in_left = n;
    char* to = buf;
    size_t to_left = sizeof buf;
    if (iconv(cd, &in, &in_left, &to, &to_left) == static_cast<size_t>(-1) && errno == EILSEQ) {
      return n;
    }
  }
  return 1;
}

// Runs `cd` over all of `in`. On failure returns the offset of the refused input and its
// length (EINVAL: cut off at the end).
struct IconvFailure {
  size_t at = 0;
  size_t len = 0;
};
std::expected<std::string, IconvFailure> RunIconv(iconv_t cd, std::string_view raw) {
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // back to the initial shift state
  std::string out(raw.size() * 4 + 8, '\0');
  char* in = const_cast<char*>(raw.data());
  size_t in_left = raw.size();
  char* to = out.data();
  size_t to_left = out.size();
  while (in_left > 0) {
    if (iconv(cd, &in, &in_left, &to, &to_left) != static_cast<size_t>(-1)) break;
    size_t at = static_cast<size_t>(in - raw.data());
    if (errno == E2BIG) {
      size_t used = static_cast<size_t>(to - out.data());
      out.resize(out.size() * 2);
      to = out.data() + used;
      to_left = out.size() - used;
      continue;
    }
    if (errno == EINVAL) return std::unexpected(IconvFailure{at, raw.size() - at});
    return std::unexpected(IconvFailure{at, RejectedLength(cd, raw.substr(at))});
  }
  // Flush a stateful encoder's closing shift sequence.
  if (to_left < 16) {
    size_t used = static_cast<size_t>(to - out.data());
    out.resize(out.size() + 16);
    to = out.data() + used;
    to_left = out.size() - used;
  }
  iconv(cd, nullptr, nullptr, &to, &to_left);
  out.resize(static_cast<size_t>(to - out.data()));
  return out;
}

}  // namespace

std::string HexBytes(std::string_view bytes, size_t max) {
  std::string out = "0x";
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    out += fmt::format("{:02X}", static_cast<unsigned char>(bytes[i]));
  }
  if (bytes.size() > max) out += "...";
  return out;
}

std::optional<std::string> CanonicalEncoding(std::string_view name) {
  std::string low = AsciiLower(name);
  if (low == "latin1" || low == "iso-8859-1" || low == "iso8859-1" || low == "iso_8859-1") {
    return "latin1";
  }
  if (low == "cp1252" || low == "windows-1252") return "cp1252";
  if (low == "mariadb_latin1") return "mariadb_latin1";
  if (low == "utf-8" || low == "utf8") return "utf-8";
  if (name.empty()) return std::nullopt;
  if (!Usable(Converter("UTF-8", name))) return std::nullopt;
  return std::string(name);
}

Result<std::string> DecodeWithIconv(std::string_view bytes, std::string_view iconv_name,
                                    std::string_view label) {
  iconv_t cd = Converter("UTF-8", iconv_name);
  if (!Usable(cd)) {
    return Fail(Code::kInvalidArgument, "no decoder for encoding {}", label);
  }
  auto out = RunIconv(cd, bytes);
  if (!out) return std::unexpected(Unmapped(label, bytes, out.error().at, out.error().len));
  return std::move(*out);
}

Result<std::string> DecodeToUtf8(std::string_view bytes, std::string_view encoding) {
  auto canonical = CanonicalEncoding(encoding);
  if (!canonical) return Fail(Code::kInvalidArgument, "unknown encoding '{}'", encoding);
  if (auto t = TableFor(*canonical)) return DecodeTable(bytes, *t);
  if (*canonical == "utf-8") {
    size_t at = FirstInvalidUtf8(bytes);
    if (at == bytes.size()) return std::string(bytes);
    return std::unexpected(Error{
        Code::kInvalidArgument,
        fmt::format("bytes {} (at byte {} of {}) are not valid UTF-8",
                    HexBytes(bytes.substr(at, std::min<size_t>(4, bytes.size() - at))), at,
                    bytes.size()),
        Problem::kInvalidEncoding});
  }
  return DecodeWithIconv(bytes, *canonical, *canonical);
}

Result<std::string> EncodeFromUtf8(std::string_view utf8, std::string_view encoding) {
  auto canonical = CanonicalEncoding(encoding);
  if (!canonical) return Fail(Code::kInvalidArgument, "unknown encoding '{}'", encoding);
  if (auto t = TableFor(*canonical)) return EncodeTable(utf8, *t);
  if (*canonical == "utf-8") return std::string(utf8);
  iconv_t cd = Converter(*canonical, "UTF-8");
  if (!Usable(cd)) return Fail(Code::kInvalidArgument, "no encoder for encoding {}", *canonical);
  auto out = RunIconv(cd, utf8);
  if (!out) {
    return std::unexpected(Error{
        Code::kInvalidArgument,
        fmt::format("text {} (at byte {} of {}) has no bytes in {}",
                    HexBytes(utf8.substr(out.error().at, out.error().len)), out.error().at,
                    utf8.size(), *canonical),
        Problem::kInvalidEncoding});
  }
  return std::move(*out);
}

namespace {

// The text taken back to the bytes cp1252 (or latin1, for U+0080-U+009F) gave its
// characters: -1 for a character that has no such byte.
int MojibakeByte(uint32_t cp) {
  if (cp <= 0xFF) return static_cast<int>(cp);
  for (int i = 0; i < 32; ++i) {
    if (kCp1252High[i] == cp) return 0x80 + i;
  }
  return -1;
}

// Length of the valid multi-byte UTF-8 sequence starting at b[i], or 0.
size_t ValidSequenceAt(const std::vector<int>& b, size_t i) {
  int c = b[i];
  if (c < 0xC2 || c > 0xF4) return 0;
  size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (i + len > b.size()) return 0;
  std::string seq;
  for (size_t k = 0; k < len; ++k) {
    if (b[i + k] < 0) return 0;
    seq += static_cast<char>(b[i + k]);
  }
  return IsValidUtf8(seq) ? len : 0;
}

// The cp1252/latin1 byte of each character of `utf8` (-1 where none), into `b`.
void MojibakeBytes(std::string_view utf8, std::vector<int>& b) {
  b.clear();
  for (size_t i = 0; i < utf8.size();) b.push_back(MojibakeByte(NextCodePoint(utf8, i)));
}

}  // namespace

bool LooksLikeMojibake(std::string_view utf8) {
  // Fast path: mojibake always has a lead character U+00C2-U+00F4 (bytes C3 82..C3 B4)
  // followed by a character whose cp1252/latin1 byte is a continuation byte 80..BF: U+0080 to
  // U+00BF (C2 xx) or one of cp1252's 0x80-0x9F characters (C5, C6, CB or E2 first). Text
  // without that pair (most text with accents) needs no decoding.
  bool candidate = false;
  for (size_t i = utf8.find('\xC3'); i != std::string_view::npos && !candidate;
       i = utf8.find('\xC3', i + 1)) {
    if (i + 2 >= utf8.size()) break;
    auto lead = static_cast<unsigned char>(utf8[i + 1]);
    auto next = static_cast<unsigned char>(utf8[i + 2]);
    candidate = lead >= 0x82 && lead <= 0xB4 &&
                (next == 0xC2 || next == 0xC5 || next == 0xC6 || next == 0xCB || next == 0xE2);
  }
  if (!candidate) return false;
  if (!IsValidUtf8(utf8)) return false;
  // `assess` asks this of every text value with a C3 byte: one buffer a thread, not one a call.
  thread_local std::vector<int> b;
  MojibakeBytes(utf8, b);
  for (size_t i = 0; i < b.size(); ++i) {
    if (ValidSequenceAt(b, i)) return true;
  }
  return false;
}

std::optional<std::string> RepairMojibake(std::string_view utf8) {
  if (utf8.find('\xC3') == std::string_view::npos) return std::nullopt;
  if (!IsValidUtf8(utf8)) return std::nullopt;
  std::string out;
  out.reserve(utf8.size());
  bool multibyte = false;
  for (size_t i = 0; i < utf8.size();) {
    int byte = MojibakeByte(NextCodePoint(utf8, i));
    if (byte < 0) return std::nullopt;
    multibyte |= byte >= 0x80;
    out += static_cast<char>(byte);
  }
  if (!multibyte || !IsValidUtf8(out)) return std::nullopt;
  return out;
}

std::optional<size_t> FindControlCharacter(std::string_view s) {
  auto control = [](unsigned char c) { return c < 0x20 && c != '\t' && c != '\n' && c != '\r'; };
  size_t i = 0;
  // Eight bytes at a time: `assess` runs this on every text value. A word holds a byte below
  // 0x20 exactly when (w - 0x20 in each byte) & ~w has a high bit set; then its bytes are
  // looked at one by one (tab, newline and carriage return are allowed).
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull) == 0) continue;
    for (size_t k = i; k < i + 8; ++k) {
      if (control(static_cast<unsigned char>(s[k]))) return k;
    }
  }
  for (; i < s.size(); ++i) {
    if (control(static_cast<unsigned char>(s[i]))) return i;
  }
  return std::nullopt;
}

}  // namespace tandem
