#include "tandem/value.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/text.h"

namespace tandem {

namespace chr = std::chrono;

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "integer";
    case Kind::kFloat: return "double";
    case Kind::kDecimal: return "decimal";
    case Kind::kText: return "text";
    case Kind::kBytes: return "bytes";
    case Kind::kDate: return "date";
    case Kind::kTime: return "time";
    case Kind::kTimestamp: return "timestamp";
    case Kind::kTimestampTz: return "timestamptz";
    case Kind::kJson: return "json";
    case Kind::kUuid: return "uuid";
    case Kind::kUndecodable: return "undecodable text";
  }
  return "?";
}

Value Value::Float(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.float_ = d;
  return v;
}

bool Value::SetStrAndCheck(Kind kind, std::string_view s) {
  SetStr(kind, s);
  if (!IsCleanUtf8(s)) return false;
  MarkTextChecked();
  return true;
}

std::strong_ordering operator<=>(const Value& a, const Value& b) {
  if (a.kind_ != b.kind_) return a.kind_ <=> b.kind_;
  switch (a.kind_) {
    case Kind::kNull: return std::strong_ordering::equal;
    case Kind::kFloat: {
      auto c = std::strong_order(a.float_, b.float_);
      return c;
    }
    case Kind::kDecimal: {
      // Numeric order on normalised literals.
      int c = CompareDecimal(a.str_, b.str_);
      return c < 0 ? std::strong_ordering::less
                   : c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal;
    }
    case Kind::kText:
    case Kind::kBytes:
    case Kind::kJson:
    case Kind::kUuid:
    case Kind::kUndecodable: return a.str_ <=> b.str_;
    default: return a.int_ <=> b.int_;
  }
}

// ---- dates and times -------------------------------------------------------------------

std::string FormatDate(int32_t days) {
  chr::year_month_day ymd{chr::sys_days{chr::days{days}}};
  int y = static_cast<int>(ymd.year());
  if (y < 0 || y > 9999) {
    return fmt::format("{:05d}-{:02d}-{:02d}", y, static_cast<unsigned>(ymd.month()),
                       static_cast<unsigned>(ymd.day()));
  }
  return fmt::format("{:04d}-{:02d}-{:02d}", y, static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

static std::string FormatFraction(int64_t micros) {
  if (micros == 0) return "";
  std::string f = fmt::format(".{:06d}", micros);
  while (f.back() == '0') f.pop_back();
  return f;
}

std::string FormatTime(int64_t micros) {
  int64_t s = micros / 1000000, us = micros % 1000000;
  return fmt::format("{:02d}:{:02d}:{:02d}{}", s / 3600, (s / 60) % 60, s % 60, FormatFraction(us));
}

std::string FormatTimestamp(int64_t micros) {
  int64_t days = micros >= 0 ? micros / 86400000000LL : -((-micros + 86400000000LL - 1) / 86400000000LL);
  int64_t rest = micros - days * 86400000000LL;
  return FormatDate(static_cast<int32_t>(days)) + " " + FormatTime(rest);
}

namespace {

// Reads exactly `n` digits at s[pos].
bool Digits(std::string_view s, size_t& pos, int n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The common form, YYYY-MM-DD, read at fixed places into y, m, d: a bulk read parses one or
// two dates a row, and the general path's loops cost about 100 instructions more a date.
bool FixedDate(std::string_view s, size_t& pos, int& y, int& m, int& d) {
  if (pos + 10 > s.size()) return false;
  const char* c = s.data() + pos;
  if (c[4] != '-' || c[7] != '-' || !IsDigit(c[0]) || !IsDigit(c[1]) || !IsDigit(c[2]) ||
      !IsDigit(c[3]) || !IsDigit(c[5]) || !IsDigit(c[6]) || !IsDigit(c[8]) || !IsDigit(c[9])) {
    return false;
  }
  y = (c[0] - '0') * 1000 + (c[1] - '0') * 100 + (c[2] - '0') * 10 + (c[3] - '0');
  m = (c[5] - '0') * 10 + (c[6] - '0');
  d = (c[8] - '0') * 10 + (c[9] - '0');
  pos += 10;
  return true;
}

std::optional<int32_t> ParseDateAt(std::string_view s, size_t& pos) {
  int y, m, d;
  if (!FixedDate(s, pos, y, m, d)) {
    bool neg = false;
    if (pos < s.size() && s[pos] == '-') {
      neg = true;
      ++pos;
    }
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos - start < 4 || pos - start > 6) return std::nullopt;
    y = 0;
    for (size_t i = start; i < pos; ++i) y = y * 10 + (s[i] - '0');
    if (neg) y = -y;
    if (pos >= s.size() || s[pos++] != '-' || !Digits(s, pos, 2, m)) return std::nullopt;
    if (pos >= s.size() || s[pos++] != '-' || !Digits(s, pos, 2, d)) return std::nullopt;
  }
  chr::year_month_day ymd{chr::year{y}, chr::month{static_cast<unsigned>(m)},
                          chr::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;  // 0000-00-00, 2023-02-30: impossible dates
  return static_cast<int32_t>(chr::sys_days{ymd}.time_since_epoch().count());
}

std::optional<int64_t> ParseTimeAt(std::string_view s, size_t& pos) {
  int h, mi, sec = 0;
  if (!Digits(s, pos, 2, h) || pos >= s.size() || s[pos++] != ':' || !Digits(s, pos, 2, mi)) {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!Digits(s, pos, 2, sec)) return std::nullopt;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      int64_t scale = 100000;
      size_t start = pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (scale > 0) micros += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) return std::nullopt;
    }
  }
  if (h > 24 || mi > 59 || sec > 60) return std::nullopt;
  if (h == 24 && (mi || sec || micros)) return std::nullopt;
  if (sec == 60) return std::nullopt;  // leap seconds are not representable
  return (int64_t{h} * 3600 + mi * 60 + sec) * 1000000 + micros;
}

}  // namespace

std::optional<int32_t> ParseDate(std::string_view s) {
  size_t pos = 0;
  auto d = ParseDateAt(s, pos);
  if (!d || pos != s.size()) return std::nullopt;
  return d;
}

std::optional<int64_t> ParseTime(std::string_view s) {
  size_t pos = 0;
  auto t = ParseTimeAt(s, pos);
  if (!t || pos != s.size() || *t >= 86400000000LL) return std::nullopt;
  return t;
}

std::optional<int64_t> ParseTimestamp(std::string_view s, bool* zone_seen) {
  if (zone_seen) *zone_seen = false;
  size_t pos = 0;
  auto d = ParseDateAt(s, pos);
  if (!d) return std::nullopt;
  int64_t micros = int64_t{*d} * 86400000000LL;
  if (pos == s.size()) return micros;
  if (s[pos] != ' ' && s[pos] != 'T') return std::nullopt;
  ++pos;
  auto t = ParseTimeAt(s, pos);
  if (!t) return std::nullopt;
  micros += *t;
  if (pos == s.size()) return micros;
  if (s[pos] == ' ') ++pos;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
    if (zone_seen) *zone_seen = true;
    return micros;
  }
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos++] == '-' ? -1 : 1;
    int oh, om = 0, os = 0;
    if (!Digits(s, pos, 2, oh)) return std::nullopt;
    if (pos < s.size() && s[pos] == ':') ++pos;
    if (pos < s.size() && !Digits(s, pos, 2, om)) return std::nullopt;
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!Digits(s, pos, 2, os)) return std::nullopt;
    }
    if (pos != s.size()) return std::nullopt;
    if (zone_seen) *zone_seen = true;
    return micros - sign * (int64_t{oh} * 3600 + om * 60 + os) * 1000000;
  }
  return std::nullopt;
}

std::string FormatUuid(std::string_view b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[static_cast<uint8_t>(b[i]) >> 4];
    out += kHex[static_cast<uint8_t>(b[i]) & 15];
  }
  return out;
}

std::optional<std::string> ParseUuid(std::string_view t) {
  std::string out;
  int nib = -1;
  for (char c : t) {
    if (c == '-') continue;
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else if ((c == '{' || c == '}')) continue;
    else return std::nullopt;
    if (nib < 0) nib = v;
    else {
      out += static_cast<char>(nib * 16 + v);
      nib = -1;
    }
  }
  if (out.size() != 16 || nib >= 0) return std::nullopt;
  return out;
}

// ---- decimals --------------------------------------------------------------------------

std::optional<std::string> NormalizeDecimal(std::string_view s) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  std::string intpart, frac;
  bool dot = false, any = false;
  int64_t exp = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      (dot ? frac : intpart) += c;
      any = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else if ((c == 'e' || c == 'E') && any) {
      auto r = std::from_chars(s.data() + i + 1 + (s[i + 1] == '+'), s.data() + s.size(), exp);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size() || std::abs(exp) > 400) {
        return std::nullopt;
      }
      break;
    } else {
      return std::nullopt;
    }
  }
  if (!any) return std::nullopt;
  // Apply the exponent by moving the point.
  if (exp > 0) {
    for (int64_t k = 0; k < exp; ++k) {
      intpart += frac.empty() ? '0' : frac[0];
      if (!frac.empty()) frac.erase(0, 1);
    }
  } else if (exp < 0) {
    for (int64_t k = 0; k < -exp; ++k) {
      frac.insert(frac.begin(), intpart.empty() ? '0' : intpart.back());
      if (!intpart.empty()) intpart.pop_back();
    }
  }
  size_t nz = intpart.find_first_not_of('0');
  intpart = nz == std::string::npos ? "0" : intpart.substr(nz);
  bool zero = intpart == "0" && frac.find_first_not_of('0') == std::string::npos;
  std::string out = (neg && !zero) ? "-" : "";
  out += intpart;
  if (!frac.empty()) out += "." + frac;
  return out;
}

int CompareDecimal(std::string_view a, std::string_view b) {
  bool na = a.starts_with('-'), nb = b.starts_with('-');
  if (na != nb) return na ? -1 : 1;
  if (na) {
    a.remove_prefix(1);
    b.remove_prefix(1);
  }
  auto split = [](std::string_view s, std::string_view& i, std::string_view& f) {
    size_t dot = s.find('.');
    i = s.substr(0, dot);
    f = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  };
  std::string_view ai, af, bi, bf;
  split(a, ai, af);
  split(b, bi, bf);
  int c = ai.size() != bi.size() ? (ai.size() < bi.size() ? -1 : 1) : ai.compare(bi);
  if (c == 0) {
    size_t n = std::max(af.size(), bf.size());
    for (size_t k = 0; k < n && c == 0; ++k) {
      char x = k < af.size() ? af[k] : '0', y = k < bf.size() ? bf[k] : '0';
      c = x < y ? -1 : x > y ? 1 : 0;
    }
  } else {
    c = c < 0 ? -1 : 1;
  }
  return na ? -c : c;
}

std::string StripDecimalZeros(std::string_view d) {
  std::string s(d);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

// Rounds a normalised decimal to `scale` fraction digits (half away from zero) and pads.
static std::string RoundDecimal(const std::string& d, int scale) {
  bool neg = d.starts_with('-');
  std::string body = neg ? d.substr(1) : d;
  size_t dot = body.find('.');
  std::string ip = body.substr(0, dot);
  std::string fp = dot == std::string::npos ? "" : body.substr(dot + 1);
  bool round_up = static_cast<int>(fp.size()) > scale && fp[scale] >= '5';
  fp.resize(scale, '0');
  std::string digits = ip + fp;
  if (round_up) {
    int k = static_cast<int>(digits.size()) - 1;
    while (k >= 0 && digits[k] == '9') digits[k--] = '0';
    if (k < 0) digits.insert(digits.begin(), '1');
    else ++digits[k];
  }
  std::string out = digits.substr(0, digits.size() - scale);
  if (out.empty()) out = "0";
  if (scale > 0) out += "." + digits.substr(digits.size() - scale);
  auto n = NormalizeDecimal((neg ? "-" : "") + out);
  std::string r = n ? *n : out;
  // NormalizeDecimal keeps trailing zeros; re-pad if it lost the fraction.
  return r;
}

static std::string FormatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

// The shortest digits that read back as `d`, always in scientific form. The plain to_chars
// form prints an integral double by its exact value (12345678901234567168) but a fraction by
// its shortest digits (0.1), so a decimal made from it would follow two rules by magnitude.
static std::string ShortestDigits(double d) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  return std::string(buf, r.ptr);
}

// ---- display ---------------------------------------------------------------------------

std::string Value::ToString() const {
  switch (kind_) {
    case Kind::kNull: return "NULL";
    case Kind::kBool: return int_ ? "true" : "false";
    case Kind::kInt: return std::to_string(int_);
    case Kind::kFloat: return FormatDouble(float_);
    case Kind::kDecimal:
    case Kind::kText:
    case Kind::kJson: return str_;
    case Kind::kBytes: {
      static constexpr char kHex[] = "0123456789abcdef";
      std::string out = "\\x";
      for (unsigned char c : str_) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
      return out;
    }
    case Kind::kDate: return FormatDate(static_cast<int32_t>(int_));
    case Kind::kTime: return FormatTime(int_);
    case Kind::kTimestamp: return FormatTimestamp(int_);
    case Kind::kTimestampTz: return FormatTimestamp(int_) + "+00";
    case Kind::kUuid: return FormatUuid(str_);
    case Kind::kUndecodable: return "<" + str_ + ">";
  }
  return "?";
}

std::string Value::ToDisplay() const {
  if (kind_ == Kind::kText) {
    std::string s = str_.size() > 80 ? str_.substr(0, 77) + "..." : str_;
    return "'" + s + "'";
  }
  return ToString();
}

// ---- portable types --------------------------------------------------------------------

std::string PortableType::ToString() const {
  switch (kind) {
    case Kind::kInt: return int_bytes == 2 ? "smallint" : int_bytes == 4 ? "integer" : "bigint";
    case Kind::kDecimal:
      if (precision < 0) return "decimal";
      if (scale < 0) return fmt::format("decimal({})", precision);
      return fmt::format("decimal({},{})", precision, scale);
    case Kind::kText: return length < 0 ? "text" : fmt::format("varchar({})", length);
    case Kind::kTime:
    case Kind::kTimestamp:
    case Kind::kTimestampTz:
      if (precision >= 0 && precision < 6) return fmt::format("{}({})", KindName(kind), precision);
      return std::string(KindName(kind));
    default: return std::string(KindName(kind));
  }
}

Result<PortableType> ParsePortableType(std::string_view name) {
  std::string n;
  for (char c : name) {
    if (c != ' ') n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string base = n.substr(0, n.find('('));
  std::vector<int> args;
  if (auto open = n.find('('); open != std::string::npos) {
    if (n.back() != ')') return Fail(Code::kInvalidArgument, "bad type '{}'", name);
    std::string inner = n.substr(open + 1, n.size() - open - 2);
    size_t p = 0;
    while (p <= inner.size()) {
      size_t comma = inner.find(',', p);
      std::string part = inner.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
      int v = 0;
      auto r = std::from_chars(part.data(), part.data() + part.size(), v);
      if (r.ec != std::errc() || r.ptr != part.data() + part.size()) {
        return Fail(Code::kInvalidArgument, "bad type '{}'", name);
      }
      args.push_back(v);
      if (comma == std::string::npos) break;
      p = comma + 1;
    }
  }
  PortableType t;
  if (base == "bool" || base == "boolean") t.kind = Kind::kBool;
  else if (base == "smallint" || base == "int2") t = {.kind = Kind::kInt, .int_bytes = 2};
  else if (base == "int" || base == "integer" || base == "int4") t = {.kind = Kind::kInt, .int_bytes = 4};
  else if (base == "bigint" || base == "int8") t = {.kind = Kind::kInt, .int_bytes = 8};
  else if (base == "double" || base == "float" || base == "real" || base == "float8") t.kind = Kind::kFloat;
  else if (base == "decimal" || base == "numeric") {
    t.kind = Kind::kDecimal;
    if (args.size() >= 1) t.precision = args[0];
    if (args.size() >= 2) t.scale = args[1];
    else if (args.size() == 1) t.scale = 0;
    if (args.size() > 2 || (t.precision >= 0 && (t.precision < 1 || t.scale > t.precision))) {
      return Fail(Code::kInvalidArgument, "bad decimal type '{}'", name);
    }
    return t;
  } else if (base == "text" || base == "string") t.kind = Kind::kText;
  else if (base == "varchar" || base == "char") {
    t.kind = Kind::kText;
    if (args.size() != 1 || args[0] < 1) return Fail(Code::kInvalidArgument, "bad type '{}'", name);
    t.length = args[0];
    return t;
  } else if (base == "bytes" || base == "blob" || base == "bytea") t.kind = Kind::kBytes;
  else if (base == "date") t.kind = Kind::kDate;
  else if (base == "time" || base == "timestamp" || base == "datetime" || base == "timestamptz") {
    t.kind = base == "time" ? Kind::kTime : base == "timestamptz" ? Kind::kTimestampTz : Kind::kTimestamp;
    // Fraction digits: timestamp(0) holds whole seconds; 6 (microseconds) is the default.
    if (args.size() > 1 || (args.size() == 1 && (args[0] < 0 || args[0] > 6))) {
      return Fail(Code::kInvalidArgument, "bad type '{}' (fraction digits are 0 to 6)", name);
    }
    if (args.size() == 1 && args[0] < 6) t.precision = args[0];
    return t;
  }
  else if (base == "json" || base == "jsonb") t.kind = Kind::kJson;
  else if (base == "uuid") t.kind = Kind::kUuid;
  else {
    return Fail(Code::kInvalidArgument,
                "unknown type '{}' (expected bool, smallint, integer, bigint, double, "
                "decimal(p,s), text, varchar(n), bytes, date, time, timestamp, timestamptz, "
                "json or uuid)",
                name);
  }
  if (!args.empty()) return Fail(Code::kInvalidArgument, "type '{}' takes no arguments", name);
  return t;
}

// ---- casts -----------------------------------------------------------------------------

namespace {

// A value the target type cannot hold; `problem` says why (the kind of the reject).
std::unexpected<Error> NoFit(const Value& v, std::string_view what,
                             Problem problem = Problem::kTypeMismatch) {
  auto e = Fail(Code::kInvalidArgument, "{} {} {}", KindName(v.kind()), v.ToDisplay(), what);
  e.error().problem = problem;
  return e;
}

std::unexpected<Error> Refuse(Problem problem, std::string message) {
  return std::unexpected(Error{Code::kInvalidArgument, std::move(message), problem});
}

// Text shaped like a date ("2023-02-30", "0000-00-00 00:00:00") that did not parse is an
// impossible date, not text of the wrong type.
bool LooksLikeDate(std::string_view s) {
  auto digits = [&](size_t from, size_t n) {
    if (s.size() < from + n) return false;
    for (size_t i = from; i < from + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
  };
  return digits(0, 4) && s.size() > 4 && s[4] == '-' && digits(5, 1);
}

Problem DateProblem(const Value& v) {
  return v.kind() == Kind::kText && LooksLikeDate(v.as_str()) ? Problem::kInvalidDate
                                                             : Problem::kTypeMismatch;
}

bool ParseInt(std::string_view s, int64_t& out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

std::optional<double> ParseDouble(std::string_view s) {
  if (s == "NaN" || s == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (s == "Infinity" || s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-Infinity" || s == "-inf") return -std::numeric_limits<double>::infinity();
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  double d;
  auto r = std::from_chars(s.data(), s.data() + s.size(), d);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return d;
}

// Whether `i` fits a `bytes`-byte integer (2 or 4; any other width holds every int64).
bool IntFits(int64_t i, int bytes) {
  int64_t lo = bytes == 2 ? INT16_MIN : bytes == 4 ? INT32_MIN : INT64_MIN;
  int64_t hi = bytes == 2 ? INT16_MAX : bytes == 4 ? INT32_MAX : INT64_MAX;
  return i >= lo && i <= hi;
}

// The finest fraction, in microseconds, a time type with `precision` fraction digits holds:
// 1 when it holds microseconds (6 digits, or unbounded).
int64_t FractionUnit(int precision) {
  if (precision < 0) return 1;
  int64_t unit = 1;
  for (int i = precision; i < 6; ++i) unit *= 10;
  return unit;
}

Result<Value> ToInt(const Value& v, int bytes) {
  int64_t i;
  switch (v.kind()) {
    case Kind::kInt: i = v.as_int(); break;
    case Kind::kBool: i = v.as_bool(); break;
    case Kind::kFloat: {
      double d = v.as_float();
      if (!std::isfinite(d) || d != std::trunc(d) || d < -9.2233720368547758e18 ||
          d >= 9.2233720368547758e18) {
        return NoFit(v, "is not an integer", std::isfinite(d) && d == std::trunc(d) ? Problem::kOutOfRange : Problem::kTypeMismatch);
      }
      i = static_cast<int64_t>(d);
      break;
    }
    case Kind::kDecimal:
    case Kind::kText: {
      std::string_view s = v.as_str();
      if (!ParseInt(s, i)) {
        auto n = NormalizeDecimal(s);
        if (!n) return NoFit(v, "is not an integer");
        std::string stripped = StripDecimalZeros(*n);
        if (stripped.find('.') != std::string::npos || !ParseInt(stripped, i)) {
          return NoFit(v, "is not an integer (or out of the 64-bit range)",
                       stripped.find('.') == std::string::npos ? Problem::kOutOfRange
                                                                 : Problem::kTypeMismatch);
        }
      }
      break;
    }
    default: return NoFit(v, "cannot become an integer");
  }
  if (!IntFits(i, bytes)) return NoFit(v, fmt::format("is out of range for a {}-byte integer", bytes), Problem::kOutOfRange);
  return Value::Int(i);
}

// Whether a decimal with `int_digits` digits before the point fits `t`'s precision (the
// digits its scale leaves for the integer part). One rule for the three paths of ToDecimal.
bool IntDigitsFit(int int_digits, const PortableType& t) {
  return t.precision < 0 || int_digits <= t.precision - std::max(t.scale, 0);
}

// A decimal literal exactly as NormalizeDecimal writes it (an optional '-' on a value that is
// not zero, integer digits without leading zeros or a lone 0, then '.' and at least one digit
// if there is a fraction), with its counts of integer and fraction digits. The int digits of
// "0.5" are 0, as the precision check counts them.
bool IsNormalDecimal(std::string_view s, int& int_digits, int& frac_digits) {
  size_t i = s.starts_with('-') ? 1 : 0;
  size_t start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  size_t ints = i - start;
  if (ints == 0 || (ints > 1 && s[start] == '0')) return false;
  size_t fracs = 0;
  if (i < s.size()) {
    if (s[i] != '.') return false;
    size_t f = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i != s.size() || i == f) return false;
    fracs = i - f;
  }
  bool zero = s.find_first_not_of("-0.") == std::string_view::npos;
  if (start == 1 && zero) return false;  // "-0.00" normalises to "0.00"
  int_digits = s[start] == '0' ? 0 : static_cast<int>(ints);
  frac_digits = static_cast<int>(fracs);
  return true;
}

// A decimal literal that ToDecimal would return as it is: in normal form, with exactly the
// type's scale (any number of fraction digits when the scale is unbounded), and within its
// precision.
bool DecimalKeepsAsIs(std::string_view s, const PortableType& t) {
  int int_digits, frac_digits;
  if (!IsNormalDecimal(s, int_digits, frac_digits)) return false;
  if (t.scale >= 0 && frac_digits != t.scale) return false;
  return IntDigitsFit(int_digits, t);
}

// A double into a decimal, built straight from its shortest digits: the same string the
// general path below makes (shortest scientific digits, normalised, padded to the scale),
// without its four intermediate strings. nullopt when the value does not fit; the general
// path then says why.
std::optional<Value> FloatToDecimal(double x, const PortableType& t) {
  // First without the shortest digits at all: when x is the double nearest r / 10^scale for
  // an integer r, and |r| < 2^52 / 10 (so that the doubles next to x are less than a tenth of
  // 10^-scale away: no other decimal of as few digits rounds to x), r / 10^scale is x's
  // shortest decimal (tests/unit: DoubleToDecimalMatchesItsDigitsAsText).
  static constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10};
  if (t.scale >= 0 && t.scale <= 10) {
    double p = kPow10[t.scale];
    double y = std::nearbyint(x * p);
    if (std::fabs(y) < 0x1p52 / 10 && y / p == x) {
      auto r = static_cast<int64_t>(y);
      uint64_t mag = r < 0 ? -static_cast<uint64_t>(r) : static_cast<uint64_t>(r);
      auto unit = static_cast<uint64_t>(p);
      uint64_t whole = mag / unit, frac = mag % unit;
      char buf[32];
      char* w = buf;
      if (r < 0) *w++ = '-';
      char* digits_at = w;
      w = std::to_chars(w, buf + sizeof buf, whole).ptr;
      int int_digits = whole == 0 ? 0 : static_cast<int>(w - digits_at);
      if (!IntDigitsFit(int_digits, t)) return std::nullopt;  // the general path says why
      if (t.scale > 0) {
        *w++ = '.';
        for (int k = t.scale - 1; k >= 0; --k, frac /= 10) {
          w[k] = static_cast<char>('0' + frac % 10);
        }
        w += t.scale;
      }
      return Value::Decimal(std::string(buf, w));
    }
  }
  char sci[40];
  auto r = std::to_chars(sci, sci + sizeof sci, x, std::chars_format::scientific);
  if (r.ec != std::errc()) return std::nullopt;
  std::string_view s(sci, r.ptr);
  bool neg = s.starts_with('-');
  if (neg) s.remove_prefix(1);
  size_t e_at = s.find('e');
  if (e_at == std::string_view::npos) return std::nullopt;
  int exp = 0;
  std::string_view es = s.substr(e_at + 1);
  if (es.starts_with('+')) es.remove_prefix(1);
  if (std::from_chars(es.data(), es.data() + es.size(), exp).ec != std::errc()) return std::nullopt;
  char digits[24];
  size_t n = 0;
  for (char c : s.substr(0, e_at)) {
    if (c != '.') digits[n++] = c;
  }
  bool zero = n == 1 && digits[0] == '0';
  // The point sits after `point` digits (before the first when zero or negative).
  int point = zero ? 1 : exp + 1;
  int frac_digits = point >= static_cast<int>(n) ? 0 : static_cast<int>(n) - point;
  int int_digits = zero || point <= 0 ? 0 : point;
  if (t.scale >= 0 && frac_digits > t.scale) return std::nullopt;  // refused: the general path says why
  if (!IntDigitsFit(int_digits, t)) return std::nullopt;
  if (int_digits > 400 || frac_digits > 400) return std::nullopt;
  std::string out;
  int scale = t.scale >= 0 ? t.scale : frac_digits;
  out.reserve(static_cast<size_t>(neg + std::max(int_digits, 1) + 1 + scale));
  if (neg && !zero) out += '-';
  if (int_digits == 0) {
    out += '0';
  } else {
    for (int k = 0; k < int_digits; ++k) out += k < static_cast<int>(n) ? digits[k] : '0';
  }
  if (scale > 0) {
    out += '.';
    // Fraction digit k (0-based) is digits[point + k], zero outside the digits.
    for (int k = 0; k < scale; ++k) {
      int at = point + k;
      out += !zero && at >= 0 && at < static_cast<int>(n) ? digits[at] : '0';
    }
  }
  return Value::Decimal(std::move(out));
}

Result<Value> ToDecimal(const Value& v, const PortableType& t) {
  if (v.kind() == Kind::kFloat && std::isfinite(v.as_float())) {
    if (auto fast = FloatToDecimal(v.as_float(), t)) return *std::move(fast);
  }
  if ((v.kind() == Kind::kDecimal || v.kind() == Kind::kText) && DecimalKeepsAsIs(v.as_str(), t)) {
    return Value::Decimal(v.as_str());
  }
  std::optional<std::string> d;
  switch (v.kind()) {
    case Kind::kInt: d = std::to_string(v.as_int()); break;
    case Kind::kBool: d = v.as_bool() ? "1" : "0"; break;
    case Kind::kFloat:
      if (!std::isfinite(v.as_float())) return NoFit(v, "does not fit a decimal", Problem::kOutOfRange);
      d = NormalizeDecimal(ShortestDigits(v.as_float()));
      break;
    case Kind::kDecimal:
    case Kind::kText: d = NormalizeDecimal(v.as_str()); break;
    default: return NoFit(v, "cannot become a decimal");
  }
  if (!d) return NoFit(v, "is not a number");
  // More fraction digits than the scale keeps would be rounded away: refused, never silent.
  if (t.scale >= 0) {
    size_t dot = d->find('.');
    if (dot != std::string::npos) {
      std::string_view frac = std::string_view(*d).substr(dot + 1);
      size_t keep = static_cast<size_t>(t.scale);
      if (frac.size() > keep && frac.substr(keep).find_first_not_of('0') != std::string_view::npos) {
        return NoFit(v, fmt::format("has {} fraction digits, more than {} keeps", frac.size(), t.ToString()),
                     Problem::kOutOfRange);
      }
    }
  }
  std::string out = t.scale >= 0 ? RoundDecimal(*d, t.scale) : *d;
  std::string_view body = out;
  if (body.starts_with('-')) body.remove_prefix(1);
  size_t int_digits = body.starts_with('0') ? 0 : body.substr(0, body.find('.')).size();
  if (!IntDigitsFit(static_cast<int>(int_digits), t)) {
    return NoFit(v, fmt::format("is out of range for {}", t.ToString()), Problem::kOutOfRange);
  }
  return Value::Decimal(out);
}

Result<Value> ToText(const Value& v, const PortableType& t) {
  std::string s;
  if (v.kind() == Kind::kBytes || v.kind() == Kind::kText) {
    s = v.as_str();
    if (!IsValidUtf8(s)) {
      return Refuse(Problem::kInvalidEncoding,
                    fmt::format("{} is not valid UTF-8 (first bad byte at offset {})",
                                KindName(v.kind()), FirstInvalidUtf8(s)));
    }
  } else {
    s = v.ToString();
  }
  if (t.length >= 0) {
    size_t n = Utf8Length(s);
    if (n > static_cast<size_t>(t.length)) {
      return Refuse(Problem::kTooLong,
                    fmt::format("value too long: {} characters into {}", n, t.ToString()));
    }
  }
  return Value::Text(std::move(s));
}

}  // namespace

namespace {

Result<Value> CastToExact(const Value& v, const PortableType& t);

// A time or timestamp with more fraction digits than the type holds is not rounded: the
// column would keep a different value than the source has.
Result<Value> CheckFraction(Result<Value> r, const Value& v, const PortableType& t) {
  if (!r || r->is_null() || t.precision < 0 || t.precision >= 6) return r;
  int64_t us = r->as_int();
  if (us % FractionUnit(t.precision) != 0) {
    return NoFit(v, fmt::format("has fractional seconds (.{:06d}) that {} cannot hold",
                                static_cast<int>(((us % 1000000) + 1000000) % 1000000),
                                t.ToString()),
                 Problem::kOutOfRange);
  }
  return r;
}

}  // namespace

bool CastKeepsAsIs(const Value& v, const PortableType& type) {
  if (v.kind() != type.kind) return false;
  switch (type.kind) {
    case Kind::kInt: return IntFits(v.as_int(), type.int_bytes);  // ToInt keeps it
    // Within a length (CastTo would build a new string).
    case Kind::kText:
      return (v.text_checked() || IsValidUtf8(v.as_str())) &&
             (type.length < 0 || v.as_str().size() <= static_cast<size_t>(type.length) ||
              Utf8Length(v.as_str()) <= static_cast<size_t>(type.length));
    case Kind::kDecimal: return DecimalKeepsAsIs(v.as_str(), type);
    case Kind::kJson: return false;  // CastTo validates documents
    case Kind::kTime:
    case Kind::kTimestamp:
    case Kind::kTimestampTz:  // no fraction finer than the type holds (CheckFraction)
      return v.as_int() % FractionUnit(type.precision) == 0;
    default: return true;
  }
}

Result<Value> CastTo(const Value& v, const PortableType& t) {
  if (t.kind == Kind::kTime || t.kind == Kind::kTimestamp || t.kind == Kind::kTimestampTz) {
    return CheckFraction(CastToExact(v, t), v, t);
  }
  return CastToExact(v, t);
}

namespace {

Result<Value> CastToExact(const Value& v, const PortableType& t) {
  if (v.is_null()) return v;
  if (v.kind() == Kind::kUndecodable) return Refuse(Problem::kInvalidEncoding, v.as_str());
  switch (t.kind) {
    case Kind::kNull: return Value::Null();
    case Kind::kBool:
      switch (v.kind()) {
        case Kind::kBool: return v;
        case Kind::kInt:
          if (v.as_int() == 0 || v.as_int() == 1) return Value::Bool(v.as_int());
          return NoFit(v, "is not a boolean (0 or 1)");
        case Kind::kFloat:
          if (v.as_float() == 0 || v.as_float() == 1) return Value::Bool(v.as_float() == 1);
          return NoFit(v, "is not a boolean (0 or 1)");
        case Kind::kDecimal:
        case Kind::kText: {
          std::string s = AsciiLower(v.as_str());
          if (s == "t" || s == "true" || s == "1" || s == "yes" || s == "y" || s == "on") return Value::Bool(true);
          if (s == "f" || s == "false" || s == "0" || s == "no" || s == "n" || s == "off") return Value::Bool(false);
          return NoFit(v, "is not a boolean");
        }
        default: return NoFit(v, "cannot become a boolean");
      }
    case Kind::kInt: return ToInt(v, t.int_bytes);
    case Kind::kFloat:
      switch (v.kind()) {
        case Kind::kFloat: return v;
        case Kind::kInt: return Value::Float(static_cast<double>(v.as_int()));
        case Kind::kBool: return Value::Float(v.as_bool() ? 1 : 0);
        case Kind::kDecimal:
        case Kind::kText: {
          auto d = ParseDouble(v.as_str());
          if (!d) return NoFit(v, "is not a number");
          return Value::Float(*d);
        }
        default: return NoFit(v, "cannot become a double");
      }
    case Kind::kDecimal: return ToDecimal(v, t);
    case Kind::kText: return ToText(v, t);
    case Kind::kBytes:
      if (v.kind() == Kind::kBytes) return v;
      if (v.kind() == Kind::kText) return Value::Bytes(v.as_str());
      return NoFit(v, "cannot become bytes");
    case Kind::kDate:
      switch (v.kind()) {
        case Kind::kDate: return v;
        case Kind::kTimestamp:
        case Kind::kTimestampTz:
          if (v.as_int() % 86400000000LL != 0) return NoFit(v, "has a time of day; not a date");
          return Value::Date(static_cast<int32_t>(v.as_int() / 86400000000LL));
        case Kind::kText: {
          if (auto d = ParseDate(v.as_str())) return Value::Date(*d);
          bool zone = false;
          auto ts = ParseTimestamp(v.as_str(), &zone);
          if (ts && !zone && *ts % 86400000000LL == 0) {
            return Value::Date(static_cast<int32_t>(*ts / 86400000000LL));
          }
          return NoFit(v, "is not a valid date", DateProblem(v));
        }
        default: return NoFit(v, "cannot become a date");
      }
    case Kind::kTime:
      if (v.kind() == Kind::kTime) return v;
      if (v.kind() == Kind::kText) {
        if (auto tm = ParseTime(v.as_str())) return Value::Time(*tm);
        return NoFit(v, "is not a valid time");
      }
      return NoFit(v, "cannot become a time");
    case Kind::kTimestamp:
    case Kind::kTimestampTz: {
      bool tz = t.kind == Kind::kTimestampTz;
      auto make = [&](int64_t us) { return tz ? Value::TimestampTz(us) : Value::Timestamp(us); };
      switch (v.kind()) {
        // A naive timestamp read as UTC unless the mapping says otherwise (from_tz).
        case Kind::kTimestamp:
        case Kind::kTimestampTz: return make(v.as_int());
        case Kind::kDate: return make(v.as_int() * 86400000000LL);
        case Kind::kText: {
          if (auto ts = ParseTimestamp(v.as_str())) return make(*ts);
          return NoFit(v, "is not a valid timestamp", DateProblem(v));
        }
        default: return NoFit(v, fmt::format("cannot become a {}", KindName(t.kind)));
      }
    }
    case Kind::kJson:
      switch (v.kind()) {
        case Kind::kJson: return v;
        case Kind::kText:
          if (!nlohmann::json::accept(v.as_str())) return NoFit(v, "is not valid JSON");
          return Value::Json(v.as_str());
        case Kind::kInt:
        case Kind::kDecimal: return Value::Json(v.ToString());
        case Kind::kBool: return Value::Json(v.as_bool() ? "true" : "false");
        case Kind::kFloat:
          if (!std::isfinite(v.as_float())) return NoFit(v, "has no JSON form", Problem::kOutOfRange);
          return Value::Json(v.ToString());
        default: return NoFit(v, "cannot become JSON");
      }
    case Kind::kUuid:
      switch (v.kind()) {
        case Kind::kUuid: return v;
        case Kind::kText:
          if (auto u = ParseUuid(v.as_str())) return Value::Uuid(*u);
          return NoFit(v, "is not a valid UUID");
        case Kind::kBytes:
          if (v.as_str().size() == 16) return Value::Uuid(v.as_str());
          return NoFit(v, "is not 16 bytes; not a UUID");
        default: return NoFit(v, "cannot become a UUID");
      }
    case Kind::kUndecodable: break;  // not a column type
  }
  return Fail(Code::kInternal, "unhandled cast to {}", t.ToString());
}

}  // namespace
}  // namespace tandem
