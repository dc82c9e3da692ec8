#include "engines/postgres/pg_values.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

namespace tandem::pg {

namespace chr = std::chrono;

namespace {

constexpr int64_t kMicrosPerDay = 86400000000LL;
constexpr char kHex[] = "0123456789abcdef";

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string FloatText(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  // Shortest text that reads back as the same double (so -0.0 stays "-0").
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

// PostgreSQL writes years before 1 as "0044-03-15 BC"; tandem's parsers read astronomical
// years ("-0043-03-15"). Rewrites the former into the latter; nullopt when there is no BC.
std::optional<std::string> AstronomicalYear(std::string_view s) {
  if (!s.ends_with(" BC")) return std::nullopt;
  s.remove_suffix(3);
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  int64_t year = 0;
  if (digits == 0 || std::from_chars(s.data(), s.data() + digits, year).ec != std::errc()) {
    return std::nullopt;
  }
  int64_t astro = 1 - year;
  std::string out = astro == 0 ? "0000" : fmt::format("-{:04d}", -astro);
  out.append(s.substr(digits));
  return out;
}

std::optional<std::string> DecodeBytea(std::string_view s) {
  std::string out;
  if (s.starts_with("\\x")) {
    if (s.size() % 2 != 0) return std::nullopt;
    out.reserve((s.size() - 2) / 2);
    for (size_t i = 2; i < s.size(); i += 2) {
      int hi = HexDigit(s[i]), lo = HexDigit(s[i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
    }
    return out;
  }
  // Escape format (bytea_output=escape in the session that wrote a captured key).
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
    } else if (i + 1 < s.size() && s[i + 1] == '\\') {
      out += '\\';
      ++i;
    } else if (i + 3 < s.size()) {
      int v = 0;
      for (int k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') return std::nullopt;
        v = v * 8 + (c - '0');
      }
      out += static_cast<char>(v);
      i += 3;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

bool PlainDecimal(std::string_view s) {
  if (s.empty()) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  bool digit = false, dot = false;
  for (; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      digit = true;
    } else if (s[i] == '.' && !dot) {
      dot = true;
    } else {
      return false;
    }
  }
  return digit;
}

Value DecodeTimestamp(std::string_view text, bool want_zone) {
  std::optional<std::string> astro = AstronomicalYear(text);
  std::string_view s = astro ? std::string_view(*astro) : text;
  bool zone = false;
  std::optional<int64_t> micros = ParseTimestamp(s, &zone);
  if (!micros || zone != want_zone) return Value::Text(std::string(text));
  return want_zone ? Value::TimestampTz(*micros) : Value::Timestamp(*micros);
}

}  // namespace

PortableType PortableFromPg(TypeOid oid, int typmod) {
  PortableType t;
  switch (oid) {
    case kInt2Oid:
      t.kind = Kind::kInt, t.int_bytes = 2;
      break;
    case kInt4Oid:
      t.kind = Kind::kInt, t.int_bytes = 4;
      break;
    case kInt8Oid:
    case kOidOid:
      t.kind = Kind::kInt, t.int_bytes = 8;
      break;
    case kNumericOid:
      t.kind = Kind::kDecimal;
      if (typmod >= 4) {
        // typmod = ((precision << 16) | (scale & 0x7ff)) + VARHDRSZ; scale is an 11-bit signed
        // number since PostgreSQL 15.
        int packed = typmod - 4;
        t.precision = (packed >> 16) & 0xffff;
        int scale = packed & 0x7ff;
        t.scale = (scale & 0x400) ? scale - 0x800 : scale;
      }
      break;
    case kFloat4Oid:
    case kFloat8Oid:
      t.kind = Kind::kFloat;
      break;
    case kBoolOid:
      t.kind = Kind::kBool;
      break;
    case kVarcharOid:
    case kBpcharOid:
      t.kind = Kind::kText;
      if (typmod >= 4) t.length = typmod - 4;
      break;
    case kByteaOid:
      t.kind = Kind::kBytes;
      break;
    case kDateOid:
      t.kind = Kind::kDate;
      break;
    case kTimeOid:
      t.kind = Kind::kTime;
      break;
    case kTimestampOid:
      t.kind = Kind::kTimestamp;
      break;
    case kTimestampTzOid:
      t.kind = Kind::kTimestampTz;
      break;
    case kJsonOid:
    case kJsonbOid:
      t.kind = Kind::kJson;
      break;
    case kUuidOid:
      t.kind = Kind::kUuid;
      break;
    default:
      t.kind = Kind::kText;
      break;  // text, name, "char", enums, arrays, everything else
  }
  return t;
}

std::string PgTypeFor(const PortableType& type) {
  switch (type.kind) {
    case Kind::kBool:
      return "boolean";
    case Kind::kInt:
      return type.int_bytes == 2 ? "smallint" : type.int_bytes == 4 ? "integer" : "bigint";
    case Kind::kFloat:
      return "double precision";
    case Kind::kDecimal:
      // PostgreSQL caps a declared precision at 1000; beyond that only unbounded numeric fits.
      if (type.precision < 1 || type.precision > 1000) return "numeric";
      if (type.scale < 0) return fmt::format("numeric({})", type.precision);
      return fmt::format("numeric({},{})", type.precision, type.scale);
    case Kind::kText:
      return type.length > 0 ? fmt::format("varchar({})", type.length) : "text";
    case Kind::kBytes:
      return "bytea";
    case Kind::kDate:
      return "date";
    case Kind::kTime:
      return "time";
    case Kind::kTimestamp:
      return "timestamp";
    case Kind::kTimestampTz:
      return "timestamptz";
    case Kind::kJson:
      return "json";
    case Kind::kUuid:
      return "uuid";
    case Kind::kNull:
    case Kind::kUndecodable:  // not a column type
      return "text";
  }
  return "text";
}

Value DecodeText(TypeOid oid, std::string_view s) {
  switch (oid) {
    case kBoolOid:
      if (s == "t" || s == "true") return Value::Bool(true);
      if (s == "f" || s == "false") return Value::Bool(false);
      break;
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid: {
      int64_t i = 0;
      auto r = std::from_chars(s.data(), s.data() + s.size(), i);
      if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return Value::Int(i);
      break;
    }
    case kNumericOid:
      if (PlainDecimal(s)) return Value::Decimal(std::string(s));
      if (s == "NaN") return Value::Float(std::numeric_limits<double>::quiet_NaN());
      if (s == "Infinity") return Value::Float(std::numeric_limits<double>::infinity());
      if (s == "-Infinity") return Value::Float(-std::numeric_limits<double>::infinity());
      if (auto d = NormalizeDecimal(s)) return Value::Decimal(*d);
      break;
    case kFloat4Oid:
    case kFloat8Oid: {
      double d = 0;
      auto r = std::from_chars(s.data(), s.data() + s.size(), d);
      if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return Value::Float(d);
      // from_chars reports out-of-range for subnormal extremes; strtod handles them.
      if (r.ec == std::errc::result_out_of_range) {
        return Value::Float(std::strtod(std::string(s).c_str(), nullptr));
      }
      break;
    }
    case kByteaOid:
      if (auto b = DecodeBytea(s)) return Value::Bytes(std::move(*b));
      break;
    case kDateOid: {
      std::optional<std::string> astro = AstronomicalYear(s);
      if (auto d = ParseDate(astro ? std::string_view(*astro) : s)) return Value::Date(*d);
      break;
    }
    case kTimeOid:
      if (auto t = ParseTime(s)) return Value::Time(*t);
      break;
    case kTimestampOid:
      return DecodeTimestamp(s, false);
    case kTimestampTzOid:
      return DecodeTimestamp(s, true);
    case kJsonOid:
    case kJsonbOid:
      return Value::Json(std::string(s));
    case kUuidOid:
      if (auto u = ParseUuid(s)) return Value::Uuid(std::move(*u));
      break;
    default:
      break;
  }
  return Value::Text(std::string(s));
}

void DecodeTextInto(TypeOid oid, std::string_view s, Value& out) {
  switch (oid) {
    case kTextOid:
    case kVarcharOid:
    case kBpcharOid:
    case kNameOid:
      out.SetStr(Kind::kText, s);
      return;
    case kJsonOid:
    case kJsonbOid:
      out.SetStr(Kind::kJson, s);
      return;
    case kNumericOid:
      if (PlainDecimal(s)) {
        out.SetStr(Kind::kDecimal, s);
        return;
      }
      break;
    default:
      break;
  }
  out = DecodeText(oid, s);  // no string payload, or a rare form: nothing worth keeping
}

std::string DateText(int32_t days) {
  chr::year_month_day ymd{chr::sys_days{chr::days{days}}};
  int y = static_cast<int>(ymd.year());
  unsigned m = static_cast<unsigned>(ymd.month()), d = static_cast<unsigned>(ymd.day());
  if (y > 0) return fmt::format("{:04d}-{:02d}-{:02d}", y, m, d);
  return fmt::format("{:04d}-{:02d}-{:02d} BC", 1 - y, m, d);
}

std::string TimestampText(int64_t micros, bool with_zone) {
  int64_t days = micros / kMicrosPerDay;
  int64_t rest = micros % kMicrosPerDay;
  if (rest < 0) {
    rest += kMicrosPerDay;
    --days;
  }
  std::string date = DateText(static_cast<int32_t>(days));
  bool bc = date.ends_with(" BC");
  if (bc) date.resize(date.size() - 3);
  std::string out = date + " " + FormatTime(rest);
  if (with_zone) out += "+00";
  if (bc) out += " BC";
  return out;
}

std::optional<std::string> ParamText(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull:
      return std::nullopt;
    case Kind::kBool:
      return v.as_bool() ? "t" : "f";
    case Kind::kInt:
      return std::to_string(v.as_int());
    case Kind::kFloat:
      return FloatText(v.as_float());
    case Kind::kDecimal:
    case Kind::kText:
    case Kind::kJson:
      return v.as_str();
    case Kind::kBytes: {
      std::string out = "\\x";
      out.reserve(2 + v.as_str().size() * 2);
      for (unsigned char c : v.as_str()) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
      return out;
    }
    case Kind::kDate:
      return DateText(static_cast<int32_t>(v.as_int()));
    case Kind::kTime:
      return FormatTime(v.as_int());
    case Kind::kTimestamp:
      return TimestampText(v.as_int(), false);
    case Kind::kTimestampTz:
      return TimestampText(v.as_int(), true);
    case Kind::kUuid:
      return FormatUuid(v.as_str());
    case Kind::kUndecodable:  // never reaches a writer: every cast refuses it
      break;
  }
  return std::nullopt;
}

void AppendCopyEscaped(std::string_view s, std::string& out) {
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    const char* esc = nullptr;
    switch (c) {
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      default:
        continue;
    }
    out.append(s.data() + start, i - start);
    out.append(esc);
    start = i + 1;
  }
  out.append(s.data() + start, s.size() - start);
}

void AppendCopyField(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Kind::kNull:
      out += "\\N";
      return;
    case Kind::kText:
    case Kind::kJson:
      AppendCopyEscaped(v.as_str(), out);
      return;
    case Kind::kBytes:
      // The bytea hex form "\x..." with its backslash escaped for COPY.
      out += "\\\\x";
      for (unsigned char c : v.as_str()) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
      return;
    case Kind::kInt: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v.as_int());
      out.append(buf, r.ptr);
      return;
    }
    case Kind::kDecimal:
      out += v.as_str();
      return;
    default:
      // Remaining kinds print without tabs, newlines or backslashes.
      out += *ParamText(v);
      return;
  }
}

bool HasNulByte(const Value& v) {
  if (v.kind() != Kind::kText && v.kind() != Kind::kJson) return false;
  if (v.text_checked()) return false;
  return std::memchr(v.as_str().data(), '\0', v.as_str().size()) != nullptr;
}

bool SplitCopyRow(std::string_view line, std::vector<std::optional<std::string_view>>& fields,
                  std::string& storage) {
  fields.clear();
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  storage.clear();
  // An unescaped field is never longer than its escaped form: with this much room, appends
  // never move `storage`, so views into it stay valid.
  storage.reserve(line.size());
  size_t i = 0;
  for (;;) {
    size_t end = line.find('\t', i);
    std::string_view raw = line.substr(i, end == std::string_view::npos ? line.size() - i : end - i);
    if (raw == "\\N") {
      fields.emplace_back(std::nullopt);
    } else if (raw.find('\\') == std::string_view::npos) {
      fields.emplace_back(raw);
    } else {
      size_t start = storage.size();
      for (size_t k = 0; k < raw.size(); ++k) {
        char c = raw[k];
        if (c != '\\') {
          storage += c;
          continue;
        }
        if (++k == raw.size()) return false;  // a lone backslash at the end
        c = raw[k];
        switch (c) {
          case 'b': storage += '\b'; break;
          case 'f': storage += '\f'; break;
          case 'n': storage += '\n'; break;
          case 'r': storage += '\r'; break;
          case 't': storage += '\t'; break;
          case 'v': storage += '\v'; break;
          case 'x': {
            int v = 0, digits = 0;
            while (digits < 2 && k + 1 < raw.size() && HexDigit(raw[k + 1]) >= 0) {
              v = v * 16 + HexDigit(raw[++k]);
              ++digits;
            }
            if (digits == 0) {
              storage += 'x';
            } else {
              storage += static_cast<char>(v);
            }
            break;
          }
          default:
            if (c >= '0' && c <= '7') {
              int v = c - '0', digits = 1;
              while (digits < 3 && k + 1 < raw.size() && raw[k + 1] >= '0' && raw[k + 1] <= '7') {
                v = v * 8 + (raw[++k] - '0');
                ++digits;
              }
              storage += static_cast<char>(v & 0xFF);
            } else {
              storage += c;  // \\ and any other escaped character stand for themselves
            }
        }
      }
      fields.emplace_back(std::string_view(storage).substr(start));
    }
    if (end == std::string_view::npos) return true;
    i = end + 1;
  }
}

// ---- COPY binary format -------------------------------------------------------------------

namespace {

constexpr int64_t kPgEpochDays = 10957;                    // 2000-01-01 - 1970-01-01
constexpr int64_t kPgEpochMicros = kPgEpochDays * kMicrosPerDay;

// A row is written through one pointer into room reserved for its largest form
// (`FieldBound`): appending each length word and value to the string on its own, with a
// capacity check and a terminator each time, was most of the encoding's cost (about 140
// instructions a field, callgrind).
inline char* Put16(char* p, uint16_t v) {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
  return p + 2;
}
inline char* Put32(char* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
  return p + 4;
}
inline char* Put64(char* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
  return p + 8;
}
inline char* PutField(char* p, std::string_view bytes) {
  p = Put32(p, static_cast<uint32_t>(bytes.size()));
  std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

constexpr size_t kMaxNumericGroups = 64;  // longer than any decimal tandem writes

// The most bytes WriteField writes for `v` into any column type, its length word included:
// a fixed-size value takes at most 8, a text or JSON its bytes and jsonb's version byte, a
// numeric its 8-byte head and up to kMaxNumericGroups digits.
inline size_t FieldBound(const Value& v) {
  return 4 + 9 + v.as_str().size() + (v.kind() == Kind::kDecimal ? 8 + 2 * kMaxNumericGroups : 0);
}

// numeric_send's form: ndigits, weight, sign, dscale, then base-10000 digits, most
// significant first. `dec` is tandem's normalised decimal text: -?digits[.digits].
char* PutNumeric(char* p, std::string_view dec) {
  bool negative = !dec.empty() && dec[0] == '-';
  if (negative) dec.remove_prefix(1);
  size_t dot = dec.find('.');
  std::string_view int_part = dec.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : dec.substr(dot + 1);
  if (int_part.empty() && frac.empty()) return nullptr;
  for (char c : int_part) if (c < '0' || c > '9') return nullptr;
  for (char c : frac) if (c < '0' || c > '9') return nullptr;
  if (frac.size() > 0x3FFF) return nullptr;
  // Groups of four digits aligned on the decimal point.
  size_t int_groups = (int_part.size() + 3) / 4;
  size_t frac_groups = (frac.size() + 3) / 4;
  uint16_t digits[kMaxNumericGroups];
  size_t total = int_groups + frac_groups;
  if (total > kMaxNumericGroups) return nullptr;
  size_t lead = int_groups * 4 - int_part.size();  // zeros padded on the left
  for (size_t g = 0; g < int_groups; ++g) {
    int v = 0;
    for (size_t k = 0; k < 4; ++k) {
      size_t pos = g * 4 + k;  // position in the padded integer part
      v = v * 10 + (pos < lead ? 0 : int_part[pos - lead] - '0');
    }
    digits[g] = static_cast<uint16_t>(v);
  }
  for (size_t g = 0; g < frac_groups; ++g) {
    int v = 0;
    for (size_t k = 0; k < 4; ++k) {
      size_t pos = g * 4 + k;
      v = v * 10 + (pos < frac.size() ? frac[pos] - '0' : 0);
    }
    digits[int_groups + g] = static_cast<uint16_t>(v);
  }
  // Strip zero groups on both ends; the weight counts the groups before the point.
  size_t first = 0, last = total;
  int weight = static_cast<int>(int_groups) - 1;
  while (first < last && digits[first] == 0) {
    ++first;
    --weight;
  }
  while (last > first && digits[last - 1] == 0) --last;
  size_t n = last - first;
  if (n == 0) {
    weight = 0;
    negative = false;  // PostgreSQL has no negative zero
  }
  p = Put32(p, static_cast<uint32_t>(8 + 2 * n));
  p = Put16(p, static_cast<uint16_t>(n));
  p = Put16(p, static_cast<uint16_t>(static_cast<int16_t>(weight)));
  p = Put16(p, negative ? 0x4000 : 0x0000);
  p = Put16(p, static_cast<uint16_t>(frac.size()));
  for (size_t i = first; i < last; ++i) p = Put16(p, digits[i]);
  return p;
}

// Writes `v` in the binary form of a column of type `oid` at `p`, which has FieldBound(v)
// bytes of room; returns the position after it, or nullptr when `v` has no binary form there.
char* WriteField(TypeOid oid, const Value& v, char* p) {
  if (v.is_null()) return Put32(p, 0xFFFFFFFF);
  const Kind k = v.kind();
  switch (oid) {
    case kBoolOid:
      if (k != Kind::kBool) return nullptr;
      p = Put32(p, 1);
      *p = v.as_bool() ? 1 : 0;
      return p + 1;
    case kInt2Oid: {
      if (k != Kind::kInt) return nullptr;
      int64_t i = v.as_int();
      // Out of range: the text path lets the server refuse it in its own words.
      if (i < INT16_MIN || i > INT16_MAX) return nullptr;
      return Put16(Put32(p, 2), static_cast<uint16_t>(i));
    }
    case kInt4Oid: {
      if (k != Kind::kInt) return nullptr;
      int64_t i = v.as_int();
      if (i < INT32_MIN || i > INT32_MAX) return nullptr;
      return Put32(Put32(p, 4), static_cast<uint32_t>(i));
    }
    case kInt8Oid:
      if (k != Kind::kInt) return nullptr;
      return Put64(Put32(p, 8), static_cast<uint64_t>(v.as_int()));
    case kFloat8Oid: {
      if (k != Kind::kFloat) return nullptr;
      uint64_t bits;
      double d = v.as_float();
      std::memcpy(&bits, &d, sizeof bits);
      return Put64(Put32(p, 8), bits);
    }
    case kNumericOid:
      return k == Kind::kDecimal ? PutNumeric(p, v.as_str()) : nullptr;
    case kTextOid:
    case kVarcharOid:
    case kBpcharOid:
      return k == Kind::kText ? PutField(p, v.as_str()) : nullptr;
    case kJsonOid:
      return k == Kind::kJson || k == Kind::kText ? PutField(p, v.as_str()) : nullptr;
    case kJsonbOid: {
      if (k != Kind::kJson && k != Kind::kText) return nullptr;
      const std::string& doc = v.as_str();
      p = Put32(p, static_cast<uint32_t>(doc.size() + 1));
      *p++ = '\1';  // jsonb binary format version
      std::memcpy(p, doc.data(), doc.size());
      return p + doc.size();
    }
    case kByteaOid:
      return k == Kind::kBytes ? PutField(p, v.as_str()) : nullptr;
    case kUuidOid:
      if (k != Kind::kUuid || v.as_str().size() != 16) return nullptr;
      return PutField(p, v.as_str());
    case kDateOid:
      if (k != Kind::kDate) return nullptr;
      return Put32(Put32(p, 4), static_cast<uint32_t>(v.as_int() - kPgEpochDays));
    case kTimeOid:
      if (k != Kind::kTime) return nullptr;
      return Put64(Put32(p, 8), static_cast<uint64_t>(v.as_int()));
    case kTimestampOid:
    case kTimestampTzOid:
      if (k != (oid == kTimestampOid ? Kind::kTimestamp : Kind::kTimestampTz)) return nullptr;
      return Put64(Put32(p, 8), static_cast<uint64_t>(v.as_int() - kPgEpochMicros));
    default:
      return nullptr;
  }
}

}  // namespace

void AppendBinaryCopyHeader(std::string& out) {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";
  out.append(kSignature, 11);
  out.append(8, '\0');  // flags, header extension length
}

void AppendBinaryCopyTrailer(std::string& out) { out.append("\xff\xff", 2); }

void AppendBinaryTupleStart(std::string& out, size_t fields) {
  char b[2];
  Put16(b, static_cast<uint16_t>(fields));
  out.append(b, 2);
}

bool AppendBinaryRow(const std::vector<TypeOid>& types, const Row& row, std::string& out) {
  const size_t mark = out.size();
  size_t bound = 2;
  for (const Value& v : row) bound += FieldBound(v);
  bool ok = true;
  // The operation must not throw (nothing in it does); what it returns is the new size.
  out.resize_and_overwrite(mark + bound, [&](char* base, size_t) noexcept {
    char* p = Put16(base + mark, static_cast<uint16_t>(row.size()));
    for (size_t c = 0; c < row.size(); ++c) {
      p = WriteField(types[c], row[c], p);
      if (p == nullptr) {
        ok = false;
        return mark;
      }
    }
    return static_cast<size_t>(p - base);
  });
  return ok;
}

bool AppendBinaryField(TypeOid oid, const Value& v, std::string& out) {
  const size_t mark = out.size();
  bool ok = true;
  out.resize_and_overwrite(mark + FieldBound(v), [&](char* base, size_t) noexcept {
    char* p = WriteField(oid, v, base + mark);
    ok = p != nullptr;
    return ok ? static_cast<size_t>(p - base) : mark;
  });
  return ok;
}

// ---- COPY TO binary format ----------------------------------------------------------------

namespace {

// Inlined with a constant `bytes` at every call: it runs for every field read.
inline uint64_t GetBE(const char* p, int bytes) {
  switch (bytes) {
    case 2: {
      uint16_t x;
      std::memcpy(&x, p, 2);
      return __builtin_bswap16(x);
    }
    case 4: {
      uint32_t x;
      std::memcpy(&x, p, 4);
      return __builtin_bswap32(x);
    }
    case 8: {
      uint64_t x;
      std::memcpy(&x, p, 8);
      return __builtin_bswap64(x);
    }
    default: {
      uint64_t v = 0;
      for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
      return v;
    }
  }
}

// Days of 0001-01-01 and 10000-01-01 since 1970-01-01: inside, tandem's text path and the
// binary one agree trivially; outside, the binary value goes through PostgreSQL's text form.
constexpr int64_t kFirstCommonDay = -719162;
constexpr int64_t kPastCommonDay = 2932897;

// numeric_send's form back to numeric_out's text, into `out`.
bool NumericText(std::string_view b, std::string& out) {
  out.clear();
  if (b.size() < 8) return false;
  int ndigits = static_cast<int>(GetBE(b.data(), 2));
  int weight = static_cast<int16_t>(GetBE(b.data() + 2, 2));
  unsigned sign = static_cast<unsigned>(GetBE(b.data() + 4, 2));
  int dscale = static_cast<int>(GetBE(b.data() + 6, 2));
  if (b.size() != 8 + 2 * static_cast<size_t>(ndigits)) return false;
  if (sign == 0xC000) return out.assign("NaN"), true;
  if (sign == 0xD000) return out.assign("Infinity"), true;
  if (sign == 0xF000) return out.assign("-Infinity"), true;
  auto digit = [&](int i) -> unsigned {  // the i-th base-10000 digit, 0 outside the stored ones
    return i >= 0 && i < ndigits ? static_cast<unsigned>(GetBE(b.data() + 8 + 2 * i, 2)) : 0;
  };
  auto four = [&](unsigned v) {
    char d[4] = {static_cast<char>('0' + v / 1000 % 10), static_cast<char>('0' + v / 100 % 10),
                 static_cast<char>('0' + v / 10 % 10), static_cast<char>('0' + v % 10)};
    out.append(d, 4);
  };
  if (sign == 0x4000) out += '-';
  if (weight < 0) {
    out += '0';
  } else {
    char buf[8];
    auto r = std::to_chars(buf, buf + sizeof buf, digit(0));
    out.append(buf, r.ptr);
    for (int i = 1; i <= weight; ++i) four(digit(i));
  }
  if (dscale > 0) {
    out += '.';
    size_t frac_start = out.size();
    for (int i = weight + 1; static_cast<int>(out.size() - frac_start) < dscale; ++i) four(digit(i));
    out.resize(frac_start + static_cast<size_t>(dscale));
  }
  return true;
}

}  // namespace

bool BinaryDecodable(TypeOid oid) {
  switch (oid) {
    case kBoolOid: case kInt2Oid: case kInt4Oid: case kInt8Oid: case kOidOid:
    case kFloat4Oid: case kFloat8Oid: case kNumericOid:
    case kTextOid: case kVarcharOid: case kBpcharOid: case kNameOid:
    case kJsonOid: case kJsonbOid: case kByteaOid: case kUuidOid:
    case kDateOid: case kTimeOid: case kTimestampOid: case kTimestampTzOid:
      return true;
    default:
      return false;
  }
}

bool DecodeBinaryInto(TypeOid oid, std::string_view b, Value& out) {
  auto fixed = [&](size_t n) { return b.size() == n; };
  switch (oid) {
    case kBoolOid:
      if (!fixed(1)) return false;
      out.SetInt(Kind::kBool, b[0] != 0 ? 1 : 0);
      return true;
    case kInt2Oid:
      if (!fixed(2)) return false;
      out.SetInt(Kind::kInt, static_cast<int16_t>(GetBE(b.data(), 2)));
      return true;
    case kInt4Oid:
      if (!fixed(4)) return false;
      out.SetInt(Kind::kInt, static_cast<int32_t>(GetBE(b.data(), 4)));
      return true;
    case kOidOid:
      if (!fixed(4)) return false;
      out.SetInt(Kind::kInt, static_cast<int64_t>(GetBE(b.data(), 4)));
      return true;
    case kInt8Oid:
      if (!fixed(8)) return false;
      out.SetInt(Kind::kInt, static_cast<int64_t>(GetBE(b.data(), 8)));
      return true;
    case kFloat8Oid: {
      if (!fixed(8)) return false;
      uint64_t bits = GetBE(b.data(), 8);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      out.SetFloat(d);
      return true;
    }
    case kFloat4Oid: {
      if (!fixed(4)) return false;
      uint32_t bits = static_cast<uint32_t>(GetBE(b.data(), 4));
      float f;
      std::memcpy(&f, &bits, sizeof f);
      // The text path reads float4's shortest text as a double; so does this.
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, f);
      DecodeTextInto(kFloat8Oid, std::string_view(buf, static_cast<size_t>(r.ptr - buf)), out);
      return true;
    }
    case kNumericOid: {
      thread_local std::string text;
      if (!NumericText(b, text)) return false;
      DecodeTextInto(kNumericOid, text, out);
      return true;
    }
    case kTextOid:
    case kVarcharOid:
    case kBpcharOid:
    case kNameOid:
      // Checked here, where the bytes are in cache: the mapping's cast then takes them as
      // they are (a SQL_ASCII database can hand over any bytes).
      out.SetStrAndCheck(Kind::kText, b);
      return true;
    case kJsonOid:
      out.SetStr(Kind::kJson, b);
      return true;
    case kJsonbOid:
      if (b.empty() || b[0] != 1) return false;  // jsonb binary format version 1
      out.SetStr(Kind::kJson, b.substr(1));
      return true;
    case kByteaOid:
      out.SetStr(Kind::kBytes, b);
      return true;
    case kUuidOid:
      if (!fixed(16)) return false;
      out.SetStr(Kind::kUuid, b);
      return true;
    case kDateOid: {
      if (!fixed(4)) return false;
      int32_t d = static_cast<int32_t>(GetBE(b.data(), 4));
      if (d == INT32_MIN || d == INT32_MAX) {
        out.SetStr(Kind::kText, d == INT32_MIN ? "-infinity" : "infinity");
        return true;
      }
      int64_t days = static_cast<int64_t>(d) + kPgEpochDays;
      if (days >= kFirstCommonDay && days < kPastCommonDay) {
        out.SetInt(Kind::kDate, days);
      } else {
        out = DecodeText(kDateOid, DateText(static_cast<int32_t>(days)));
      }
      return true;
    }
    case kTimeOid: {
      if (!fixed(8)) return false;
      int64_t t = static_cast<int64_t>(GetBE(b.data(), 8));
      if (t < 0 || t >= kMicrosPerDay) {
        out = DecodeText(kTimeOid, FormatTime(t));  // 24:00:00 reads as its text
      } else {
        out.SetInt(Kind::kTime, t);
      }
      return true;
    }
    case kTimestampOid:
    case kTimestampTzOid: {
      if (!fixed(8)) return false;
      bool tz = oid == kTimestampTzOid;
      int64_t t = static_cast<int64_t>(GetBE(b.data(), 8));
      if (t == INT64_MIN || t == INT64_MAX) {
        out.SetStr(Kind::kText, t == INT64_MIN ? "-infinity" : "infinity");
        return true;
      }
      int64_t micros = t + kPgEpochMicros;
      int64_t day = micros >= 0 ? micros / kMicrosPerDay : -((-micros - 1) / kMicrosPerDay) - 1;
      if (day >= kFirstCommonDay && day < kPastCommonDay) {
        out.SetInt(tz ? Kind::kTimestampTz : Kind::kTimestamp, micros);
      } else {
        out = DecodeText(oid, TimestampText(micros, tz));
      }
      return true;
    }
    default:
      return false;
  }
}

bool SplitBinaryCopyRow(std::string_view msg, bool& header_seen, std::vector<std::optional<std::string_view>>& fields,
                        bool& trailer) {
  fields.clear();
  trailer = false;
  if (!header_seen) {
    // PGCOPY\n\377\r\n\0, flags, header extension length, extension.
    if (msg.size() < 19 || std::memcmp(msg.data(), "PGCOPY\n\377\r\n", 11) != 0) return false;
    uint64_t ext = GetBE(msg.data() + 15, 4);
    if (msg.size() < 19 + ext) return false;
    msg.remove_prefix(19 + ext);
    header_seen = true;
  }
  if (msg.size() < 2) return false;
  int16_t count = static_cast<int16_t>(GetBE(msg.data(), 2));
  msg.remove_prefix(2);
  if (count == -1) {
    trailer = true;
    return true;
  }
  for (int i = 0; i < count; ++i) {
    if (msg.size() < 4) return false;
    int32_t len = static_cast<int32_t>(GetBE(msg.data(), 4));
    msg.remove_prefix(4);
    if (len == -1) {
      fields.emplace_back(std::nullopt);
      continue;
    }
    if (len < 0 || msg.size() < static_cast<size_t>(len)) return false;
    fields.emplace_back(msg.substr(0, static_cast<size_t>(len)));
    msg.remove_prefix(static_cast<size_t>(len));
  }
  return msg.empty();
}

}  // namespace tandem::pg
