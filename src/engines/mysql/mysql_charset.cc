#include "engines/mysql/mysql_charset.h"

#include <iconv.h>

#include <array>
#include <cerrno>
#include <map>

#include <fmt/format.h>

#include "core/text.h"

namespace tandem::mysql {

namespace {

// MariaDB's latin1 (strings/ctype-latin1.c cs_to_uni): Windows-1252, where the five bytes
// that Windows leaves undefined are the C1 controls of the same number. Every byte maps.
constexpr std::array<uint16_t, 32> kLatin1High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,  // 0x80
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,  // 0x88
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,  // 0x90
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,  // 0x98
};

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string Latin1ToUtf8(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() + raw.size() / 4);
  for (unsigned char c : raw) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0xA0) {
      AppendUtf8(kLatin1High[c - 0x80], out);
    } else {
      AppendUtf8(c, out);
    }
  }
  return out;
}

// iconv's name for a MariaDB character set, or "" when iconv has none that matches.
std::string_view IconvName(std::string_view cs) {
  static const std::map<std::string_view, std::string_view> kNames = {
      {"armscii8", "ARMSCII-8"}, {"ascii", "ASCII"},        {"big5", "BIG5"},
      {"cp1250", "CP1250"},      {"cp1251", "CP1251"},      {"cp1256", "CP1256"},
      {"cp1257", "CP1257"},      {"cp850", "CP850"},        {"cp852", "CP852"},
      {"cp866", "CP866"},        {"cp932", "CP932"},        {"eucjpms", "EUC-JP-MS"},
      {"euckr", "EUC-KR"},       {"gb2312", "GB2312"},      {"gb18030", "GB18030"},
      {"gbk", "GBK"},            {"geostd8", "GEORGIAN-PS"}, {"greek", "ISO-8859-7"},
      {"hebrew", "ISO-8859-8"},  {"hp8", "HP-ROMAN8"},      {"koi8r", "KOI8-R"},
      {"koi8u", "KOI8-U"},       {"latin2", "ISO-8859-2"},  {"latin5", "ISO-8859-9"},
      {"latin7", "ISO-8859-13"}, {"macce", "MAC-CENTRALEUROPE"}, {"macroman", "MACINTOSH"},
      {"sjis", "SHIFT_JIS"},     {"tis620", "TIS-620"},     {"ucs2", "UCS-2BE"},
      {"ujis", "EUC-JP"},        {"utf16", "UTF-16BE"},     {"utf16le", "UTF-16LE"},
      {"utf32", "UTF-32BE"},
  };
  auto it = kNames.find(cs);
  return it == kNames.end() ? std::string_view() : it->second;
}

// One converter per character set and thread (an iconv_t holds shift state and is not
// shared); opened on first use, kept for the thread's life.
iconv_t Converter(std::string_view cs) {
  thread_local std::map<std::string, iconv_t, std::less<>> open;
  if (auto it = open.find(cs); it != open.end()) return it->second;
  std::string_view name = IconvName(cs);
  iconv_t cd = name.empty() ? reinterpret_cast<iconv_t>(-1)
                            : iconv_open("UTF-8", std::string(name).c_str());
  open.emplace(std::string(cs), cd);
  return cd;
}

bool Usable(iconv_t cd) { return cd != reinterpret_cast<iconv_t>(-1); }

std::string Hex(std::string_view bytes) {
  std::string out = "0x";
  for (unsigned char c : bytes) out += fmt::format("{:02X}", c);
  return out;
}

Value Unmapped(std::string_view cs, std::string_view raw, size_t at, size_t len) {
  len = std::min(len, raw.size() - at);
  return Value::Undecodable(fmt::format("{} bytes {} (at byte {} of {}) have no Unicode mapping",
                                        cs, Hex(raw.substr(at, len)), at, raw.size()));
}

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

}  // namespace

bool ServerConvertsCharset(std::string_view cs) {
  if (cs.empty() || cs == "utf8mb4" || cs == "utf8mb3" || cs == "utf8" || cs == "binary") {
    return true;
  }
  if (cs == "latin1") return false;
  return !Usable(Converter(cs));
}

Value DecodeCharset(std::string_view raw, std::string_view cs) {
  if (cs == "latin1") return Value::Text(Latin1ToUtf8(raw));
  iconv_t cd = Converter(cs);
  if (!Usable(cd)) return Value::Undecodable(fmt::format("no decoder for character set {}", cs));
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // back to the initial shift state
  std::string out(raw.size() * 4 + 4, '\0');
  char* in = const_cast<char*>(raw.data());
  size_t in_left = raw.size();
  char* to = out.data();
  size_t to_left = out.size();
  while (in_left > 0) {
    if (iconv(cd, &in, &in_left, &to, &to_left) != static_cast<size_t>(-1)) break;
    size_t at = static_cast<size_t>(in - raw.data());
    if (errno == E2BIG) {  // cannot happen with 4 output bytes per input byte, but be safe
      size_t used = static_cast<size_t>(to - out.data());
      out.resize(out.size() * 2);
      to = out.data() + used;
      to_left = out.size() - used;
      continue;
    }
    // EILSEQ: no mapping for the sequence at `at`; EINVAL: a sequence cut off at the end.
    if (errno == EINVAL) return Unmapped(cs, raw, at, raw.size() - at);
    return Unmapped(cs, raw, at, RejectedLength(cd, raw.substr(at)));
  }
  out.resize(static_cast<size_t>(to - out.data()));
  return Value::Text(std::move(out));
}

Value InvalidUtf8(std::string_view raw) {
  size_t at = FirstInvalidUtf8(raw);
  return Value::Undecodable(fmt::format("bytes {} (at byte {} of {}) are not valid UTF-8",
                                        Hex(raw.substr(at, std::min<size_t>(4, raw.size() - at))),
                                        at, raw.size()));
}

}  // namespace tandem::mysql
