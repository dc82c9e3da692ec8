#include "engines/mysql/mysql_charset.h"

#include <map>

#include <fmt/format.h>

#include "core/encoding.h"

namespace tandem::mysql {

namespace {

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

}  // namespace

bool ServerConvertsCharset(std::string_view cs) {
  if (cs.empty() || cs == "utf8mb4" || cs == "utf8mb3" || cs == "utf8" || cs == "binary") {
    return true;
  }
  if (cs == "latin1") return false;
  std::string_view name = IconvName(cs);
  return name.empty() || !CanonicalEncoding(name);
}

Value DecodeCharset(std::string_view raw, std::string_view cs) {
  // MariaDB's latin1 is Windows-1252 with its five undefined bytes as C1 controls
  // (core/encoding.h, mariadb_latin1); every other set goes through iconv.
  auto text = cs == "latin1" ? DecodeToUtf8(raw, "mariadb_latin1")
                             : DecodeWithIconv(raw, IconvName(cs), cs);
  if (!text) return Value::Undecodable(std::move(text.error().message));
  return Value::Text(std::move(*text));
}

Value InvalidUtf8(std::string_view raw) {
  auto text = DecodeToUtf8(raw, "utf-8");
  return Value::Undecodable(text ? std::string("valid UTF-8") : std::move(text.error().message));
}

}  // namespace tandem::mysql
