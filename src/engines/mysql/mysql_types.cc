#include "engines/mysql/mysql_types.h"

#include <charconv>
#include <cmath>

#include "core/text.h"
#include "engines/mysql/mysql_charset.h"

namespace tandem::mysql {

namespace {

PortableType IntType(int bytes) { return PortableType{.kind = Kind::kInt, .int_bytes = bytes}; }

PortableType DecimalType(int precision, int scale) {
  return PortableType{.kind = Kind::kDecimal, .precision = precision, .scale = scale};
}

bool IsOneOf(std::string_view s, std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (s == n) return true;
  }
  return false;
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// The text protocol sends BIT(n) as ceil(n/8) raw big-endian bytes.
Value DecodeBitBytes(std::string_view raw, const PortableType& type) {
  uint64_t v = 0;
  for (unsigned char c : raw) v = (v << 8) | c;
  if (type.kind == Kind::kDecimal) return Value::Decimal(std::to_string(v));
  return Value::Int(static_cast<int64_t>(v));
}

// A decimal literal exactly as MariaDB prints DECIMAL ("-12.50"): kept verbatim.
bool IsPlainDecimal(std::string_view s) {
  size_t i = s.starts_with('-') ? 1 : 0;
  bool digits = false, dot = false;
  for (; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      digits = true;
    } else if (s[i] == '.' && !dot && digits) {
      dot = true;
    } else {
      return false;
    }
  }
  return digits && !s.ends_with('.');
}

std::optional<std::string> Unhex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int v = 0;
    auto r = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, v, 16);
    if (r.ec != std::errc() || r.ptr != hex.data() + 2 * i + 2) return std::nullopt;
    out[i] = static_cast<char>(v);
  }
  return out;
}

}  // namespace

ColumnCodec CodecFor(const ColumnInfo& c) {
  std::string dt = AsciiLower(c.data_type);
  std::string ct = AsciiLower(c.column_type);
  bool is_unsigned = ct.find("unsigned") != std::string::npos;
  ColumnCodec codec;
  PortableType& t = codec.type;
  if (dt == "tinyint") {
    t = ct.starts_with("tinyint(1)") ? PortableType{.kind = Kind::kBool} : IntType(2);
  } else if (dt == "bool" || dt == "boolean") {
    t.kind = Kind::kBool;
  } else if (dt == "smallint") {
    t = IntType(is_unsigned ? 4 : 2);
  } else if (dt == "mediumint") {
    t = IntType(4);
  } else if (dt == "int" || dt == "integer") {
    t = IntType(is_unsigned ? 8 : 4);
  } else if (dt == "bigint") {
    // bigint unsigned reaches 2^64-1, beyond int64: an exact decimal keeps every value.
    t = is_unsigned ? DecimalType(20, 0) : IntType(8);
  } else if (IsOneOf(dt, {"decimal", "numeric", "fixed", "dec"})) {
    t = DecimalType(static_cast<int>(c.numeric_precision),
                    static_cast<int>(c.numeric_scale < 0 ? 0 : c.numeric_scale));
  } else if (IsOneOf(dt, {"float", "double", "real", "double precision"})) {
    t.kind = Kind::kFloat;
  } else if (dt == "char" || dt == "varchar") {
    t.kind = Kind::kText;
    t.length = static_cast<int>(c.char_max_length);
  } else if (IsOneOf(dt, {"tinytext", "text", "mediumtext", "longtext"})) {
    t.kind = c.json_check ? Kind::kJson : Kind::kText;
  } else if (dt == "json") {
    t.kind = Kind::kJson;
  } else if (IsOneOf(dt, {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
                          "geometry", "point", "linestring", "polygon", "multipoint",
                          "multilinestring", "multipolygon", "geometrycollection", "vector"})) {
    t.kind = Kind::kBytes;
    codec.is_bytes = true;
  } else if (dt == "date") {
    t.kind = Kind::kDate;
  } else if (dt == "time") {
    t.kind = Kind::kTime;
  } else if (dt == "datetime") {
    t.kind = Kind::kTimestamp;
  } else if (dt == "timestamp") {
    // MariaDB stores TIMESTAMP as UTC and prints it in the session time zone, which tandem
    // sets to +00:00.
    t.kind = Kind::kTimestampTz;
    codec.wire = Wire::kTimestamp;
  } else if (dt == "year") {
    t = IntType(2);
  } else if (dt == "bit") {
    int64_t n = c.numeric_precision;
    t = n >= 64 ? DecimalType(20, 0) : IntType(n < 16 ? 2 : n < 32 ? 4 : 8);
    codec.wire = Wire::kBit;
  } else if (dt == "uuid") {
    t.kind = Kind::kUuid;
  } else {  // enum, set, inet4, inet6 and anything newer: the server prints text
    t.kind = Kind::kText;
  }
  // Text in latin1, gbk, ...: the server's conversion would write '?' for a byte without a
  // mapping, so tandem reads the bytes and decodes them.
  if (t.kind == Kind::kText && !c.charset.empty() && !ServerConvertsCharset(AsciiLower(c.charset))) {
    codec.charset = AsciiLower(c.charset);
  }
  // datetime, timestamp and time without six fraction digits: a value with a finer fraction
  // would be rounded by the server, so casts into such a column refuse it.
  if ((t.kind == Kind::kTimestamp || t.kind == Kind::kTimestampTz || t.kind == Kind::kTime) &&
      c.datetime_precision >= 0 && c.datetime_precision < 6) {
    t.precision = static_cast<int>(c.datetime_precision);
  }
  // What tandem's CreateTable could not say by type alone (timestamptz in datetime(6), a
  // decimal too wide for DECIMAL...) it said in the comment.
  if (c.comment.starts_with("tandem:") && codec.wire == Wire::kText && !codec.is_bytes) {
    if (auto p = ParsePortableType(std::string_view(c.comment).substr(7)); p) t = *p;
  } else if (c.comment.starts_with("tandem:") && codec.is_bytes) {
    if (auto p = ParsePortableType(std::string_view(c.comment).substr(7));
        p && p->kind == Kind::kBytes) {
      t = *p;
    }
  }
  return codec;
}

Column ColumnFor(const ColumnInfo& c) {
  Column col;
  col.name = c.name;
  col.type = CodecFor(c).type;
  col.engine_type = col.type.kind == Kind::kJson ? "json" : c.column_type;
  col.nullable = c.nullable;
  // utf8mb4_bin and utf8mb4_nopad_bin compare bytes; *_ci and linguistic ones do not.
  col.byte_ordered = c.collation.empty() || c.collation.ends_with("_bin");
  // MariaDB shows "no default" on a nullable column as the text NULL.
  if (c.default_value && *c.default_value != "NULL") col.default_expr = c.default_value;
  std::string extra = AsciiUpper(c.extra);
  col.generated = extra.find("VIRTUAL") != std::string::npos ||
                  extra.find("STORED") != std::string::npos ||
                  extra.find("PERSISTENT") != std::string::npos;
  return col;
}

Value DecodeText(std::string_view raw, const ColumnCodec& codec) {
  const PortableType& t = codec.type;
  if (codec.wire == Wire::kBit) return DecodeBitBytes(raw, t);
  switch (t.kind) {
    case Kind::kBool:
      if (raw == "0") return Value::Bool(false);
      if (raw == "1") return Value::Bool(true);
      if (auto i = ParseInt64(raw)) return Value::Int(*i);  // tinyint(1) holding 2..127
      return Value::Text(std::string(raw));
    case Kind::kInt:
      if (auto i = ParseInt64(raw)) return Value::Int(*i);
      if (IsPlainDecimal(raw)) return Value::Decimal(std::string(raw));
      return Value::Text(std::string(raw));
    case Kind::kDecimal:
      if (IsPlainDecimal(raw)) return Value::Decimal(std::string(raw));
      if (auto d = NormalizeDecimal(raw)) return Value::Decimal(*d);
      return Value::Text(std::string(raw));
    case Kind::kFloat: {
      double d = 0;
      auto r = std::from_chars(raw.data(), raw.data() + raw.size(), d);
      if (r.ec == std::errc() && r.ptr == raw.data() + raw.size()) return Value::Float(d);
      return Value::Text(std::string(raw));
    }
    case Kind::kBytes:
      return Value::Bytes(std::string(raw));
    case Kind::kDate:
      if (auto d = ParseDate(raw)) return Value::Date(*d);
      return Value::Text(std::string(raw));  // '0000-00-00' and other zero dates
    case Kind::kTime:
      if (auto d = ParseTime(raw)) return Value::Time(*d);
      return Value::Text(std::string(raw));  // beyond 24h or negative ('-838:59:59')
    case Kind::kTimestamp:
    case Kind::kTimestampTz: {
      bool zone = false;
      auto ts = ParseTimestamp(raw, &zone);
      if (!ts || zone) return Value::Text(std::string(raw));
      return t.kind == Kind::kTimestamp ? Value::Timestamp(*ts) : Value::TimestampTz(*ts);
    }
    case Kind::kJson:
      return Value::Json(std::string(raw));
    case Kind::kUuid:
      if (auto u = ParseUuid(raw)) return Value::Uuid(*u);
      return Value::Text(std::string(raw));
    case Kind::kText:
    default:
      if (!codec.charset.empty()) return DecodeCharset(raw, codec.charset);
      // utf8mb4 columns are valid by construction; bytes that are not UTF-8 can only come from
      // a mislabelled column: never invalid text, never silently bytes.
      if (!IsValidUtf8(raw)) return InvalidUtf8(raw);
      return Value::Text(std::string(raw));
  }
}

void DecodeTextInto(std::string_view raw, const ColumnCodec& codec, Value& out) {
  if (codec.wire != Wire::kBit) {
    switch (codec.type.kind) {
      case Kind::kText:
        // One pass: valid and free of NUL marks it checked (the mapping's cast and a
        // PostgreSQL target then look no further); valid with a NUL is kept unmarked.
        if (codec.charset.empty() && (out.SetStrAndCheck(Kind::kText, raw) || IsValidUtf8(raw))) {
          return;
        }
        break;
      case Kind::kDecimal:
        if (IsPlainDecimal(raw)) {
          out.SetStr(Kind::kDecimal, raw);
          return;
        }
        break;
      case Kind::kJson:
        out.SetStr(Kind::kJson, raw);
        return;
      case Kind::kBytes:
        out.SetStr(Kind::kBytes, raw);
        return;
      default:
        break;
    }
  }
  out = DecodeText(raw, codec);  // no string payload, or a rare form
}

Value DecodeCaptured(std::string_view raw, const ColumnCodec& codec) {
  if (codec.is_bytes) {
    if (auto b = Unhex(raw)) return Value::Bytes(*b);
    return Value::Text(std::string(raw));
  }
  if (!codec.charset.empty()) {  // HEX() of the stored bytes
    if (auto b = Unhex(raw)) return DecodeText(*b, codec);
    return Value::Text(std::string(raw));
  }
  if (codec.wire == Wire::kBit) {
    if (codec.type.kind == Kind::kDecimal) return Value::Decimal(std::string(raw));
    if (auto i = ParseInt64(raw)) return Value::Int(*i);
    return Value::Text(std::string(raw));
  }
  if (codec.wire == Wire::kTimestamp) {
    // UNIX_TIMESTAMP(col): seconds since the epoch with up to 6 fraction digits.
    std::string_view secs = raw, frac;
    if (size_t dot = raw.find('.'); dot != std::string_view::npos) {
      secs = raw.substr(0, dot);
      frac = raw.substr(dot + 1);
    }
    auto s = ParseInt64(secs);
    if (!s || frac.size() > 6) return Value::Text(std::string(raw));
    int64_t micros = 0;
    for (size_t i = 0; i < 6; ++i) micros = micros * 10 + (i < frac.size() ? frac[i] - '0' : 0);
    return Value::TimestampTz(*s * 1000000 + micros);
  }
  return DecodeText(raw, codec);
}

Status AppendLiteral(std::string& out, const Value& v, const QuoteFn& quote) {
  switch (v.kind()) {
    case Kind::kNull:
      out += "NULL";
      return Ok();
    case Kind::kBool:
      out += v.as_bool() ? '1' : '0';
      return Ok();
    case Kind::kInt:
      fmt::format_to(std::back_inserter(out), "{}", v.as_int());
      return Ok();
    case Kind::kFloat: {
      double d = v.as_float();
      if (!std::isfinite(d)) {
        return Fail(Code::kInvalidArgument, "MariaDB cannot store the float {}", v.ToString());
      }
      if (d == 0 && std::signbit(d)) {
        return Fail(Code::kInvalidArgument,
                    "MariaDB cannot store the float -0 (a DOUBLE column keeps it as 0)");
      }
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      std::string_view s(buf, r.ptr - buf);
      out += s;
      // "1.5" alone would be an exact DECIMAL literal; the exponent makes it a DOUBLE.
      if (s.find('e') == std::string_view::npos) out += "e0";
      return Ok();
    }
    case Kind::kDecimal: {
      const std::string& d = v.as_str();
      size_t digits = 0;
      for (char c : d) digits += (c >= '0' && c <= '9');
      // MariaDB reads a bare number of more than 65 digits as DOUBLE, losing digits; quoted
      // text converts exactly into DECIMAL and text columns.
      if (digits > 65 || !IsPlainDecimal(d)) {
        quote(out, d);
      } else {
        out += d;
      }
      return Ok();
    }
    case Kind::kText:
    case Kind::kJson:
      quote(out, v.as_str());
      return Ok();
    case Kind::kBytes: {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += "X'";
      for (unsigned char c : v.as_str()) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
      out += '\'';
      return Ok();
    }
    case Kind::kDate:
    case Kind::kTime:
    case Kind::kTimestamp:
    case Kind::kTimestampTz:
      out += '\'';
      out += v.kind() == Kind::kDate   ? FormatDate(static_cast<int32_t>(v.as_int()))
             : v.kind() == Kind::kTime ? FormatTime(v.as_int())
                                       : FormatTimestamp(v.as_int());
      out += '\'';
      return Ok();
    case Kind::kUuid:
      out += '\'';
      out += FormatUuid(v.as_str());
      out += '\'';
      return Ok();
    case Kind::kUndecodable:
      return Fail(Code::kInvalidArgument, "{}", v.as_str());
  }
  return Fail(Code::kInternal, "unknown value kind");
}

MysqlColumnType MysqlTypeFor(const PortableType& t, const TypeOptions& opt) {
  switch (t.kind) {
    case Kind::kBool:
      return {"tinyint(1)", ""};
    case Kind::kInt:
      return {t.int_bytes == 2 ? "smallint" : t.int_bytes == 4 ? "int" : "bigint", ""};
    case Kind::kFloat:
      return {"double", ""};
    case Kind::kDecimal: {
      if (t.precision < 0) {
        // Unbounded in the source; MariaDB caps DECIMAL at 65 digits (30 after the point in
        // MySQL). Values beyond are errors (or rounded past 30 places), never silent text.
        return {"decimal(65,30)", "tandem:decimal"};
      }
      int scale = t.scale < 0 ? 0 : t.scale;
      if (t.precision <= 65 && scale <= 30)
        return {fmt::format("decimal({},{})", t.precision, scale), ""};
      // Too wide for DECIMAL: exact digits as text, read back as decimal through the comment.
      return {fmt::format("varchar({})", t.precision + 2), "tandem:" + t.ToString()};
    }
    case Kind::kText:
      if (t.length > 0) {
        if (opt.in_key || opt.varchar_fits) return {fmt::format("varchar({})", t.length), ""};
        return {"longtext", "tandem:" + t.ToString()};
      }
      if (opt.in_key) return {fmt::format("varchar({})", opt.key_text_chars), "tandem:text"};
      return {"longtext", ""};
    case Kind::kBytes:
      if (opt.in_key) return {fmt::format("varbinary({})", opt.key_text_chars * 4), "tandem:bytes"};
      return {"longblob", ""};
    case Kind::kDate:
      return {"date", ""};
    case Kind::kTime:
      return {"time(6)", ""};
    case Kind::kTimestamp:
      return {"datetime(6)", ""};
    // TIMESTAMP would be UTC too, but ends in 2038; datetime(6) holds the UTC wall time.
    case Kind::kTimestampTz:
      return {"datetime(6)", "tandem:timestamptz"};
    case Kind::kJson:
      return {"json", ""};
    case Kind::kUuid:
      if (opt.uuid_type) return {"uuid", ""};
      return {"char(36)", "tandem:uuid"};
    case Kind::kNull:
    case Kind::kUndecodable:
      break;
  }
  return {"longtext", ""};
}

}  // namespace tandem::mysql
