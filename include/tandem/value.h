// The one value type every engine converts to and from, and the portable column types.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/error.h"

namespace tandem {

// What a Value holds. Order matters only for display.
enum class Kind : uint8_t {
  kNull,
  kBool,
  kInt,          // int64
  kFloat,        // float64
  kDecimal,      // exact decimal as text: -?digits[.digits]
  kText,         // valid UTF-8
  kBytes,
  kDate,         // days since 1970-01-01
  kTime,         // microseconds since midnight
  kTimestamp,    // microseconds since 1970-01-01 00:00:00, no zone
  kTimestampTz,  // microseconds since 1970-01-01 00:00:00 UTC
  kJson,         // JSON document as text
  kUuid,         // 16 bytes
  // Bytes an engine read from a text column that have no Unicode mapping in the column's
  // character set (MariaDB gbk 0x80, invalid UTF-8 in utf8mb4). The payload is the reason,
  // naming the bytes in hex. CastTo refuses it into every type, so a row holding one becomes
  // a reject (backfill, change stream) or a difference (verify); no writer ever receives one.
  kUndecodable,
};

std::string_view KindName(Kind kind);

// A single field. Small and copyable; text-like payloads live in `str_`.
class Value {
 public:
  Value() = default;
  static Value Null() { return Value(); }
  static Value Bool(bool b) { return Value(Kind::kBool, b ? 1 : 0); }
  static Value Int(int64_t i) { return Value(Kind::kInt, i); }
  static Value Float(double d);
  static Value Decimal(std::string digits) { return Value(Kind::kDecimal, std::move(digits)); }
  static Value Text(std::string s) { return Value(Kind::kText, std::move(s)); }
  static Value Bytes(std::string b) { return Value(Kind::kBytes, std::move(b)); }
  static Value Date(int32_t days) { return Value(Kind::kDate, days); }
  static Value Time(int64_t micros) { return Value(Kind::kTime, micros); }
  static Value Timestamp(int64_t micros) { return Value(Kind::kTimestamp, micros); }
  static Value TimestampTz(int64_t micros) { return Value(Kind::kTimestampTz, micros); }
  static Value Json(std::string doc) { return Value(Kind::kJson, std::move(doc)); }
  static Value Uuid(std::string bytes16) { return Value(Kind::kUuid, std::move(bytes16)); }
  static Value Undecodable(std::string reason) {
    return Value(Kind::kUndecodable, std::move(reason));
  }

  // In-place assignment that keeps this Value's string buffer, for readers that refill the
  // rows of a batch: a steady copy then allocates nothing per value. Same results as
  // assigning Value::Null(), Value::Int(i) (or Bool/Date/Time/Timestamp/TimestampTz with
  // `kind`), Value::Float(d), Value::Text(s) (or Decimal/Bytes/Json/Uuid with `kind`).
  void SetNull() { Set(Kind::kNull, 0, 0); }
  void SetInt(Kind kind, int64_t i) { Set(kind, i, 0); }
  void SetFloat(double d) { Set(Kind::kFloat, 0, d); }
  void SetStr(Kind kind, std::string_view s) {
    Set(kind, 0, 0);
    str_.assign(s.data(), s.size());
  }

  // Text whose bytes the reader that decoded it found valid UTF-8 holding no NUL byte
  // (SetStrAndCheck, in the engines' ColumnInto/DecodeTextInto): what a later stage would
  // check again (the mapping's cast, PostgreSQL's NUL check) it may take as known. Any Set*
  // forgets it; a copy keeps it with the bytes. Not part of the value: == and <=> ignore it.
  void MarkTextChecked() { checked_.on = true; }
  bool text_checked() const { return checked_.on; }
  // SetStr, then MarkTextChecked when `s` is valid UTF-8 without a NUL byte: a reader's one
  // pass over a text. Returns whether it marked.
  bool SetStrAndCheck(Kind kind, std::string_view s);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }  // kInt, kDate, kTime, kTimestamp(Tz)
  double as_float() const { return float_; }
  // kDecimal, kText, kBytes, kJson, kUuid; kUndecodable: the reason
  const std::string& as_str() const { return str_; }

  // Human-readable form for messages, reports and text-typed targets: ISO dates, decimals as
  // written, bytes as \x hex, uuid in 8-4-4-4-12 form. Null prints as NULL.
  std::string ToString() const;
  // Like ToString but quotes text so '' and NULL and 0 read differently in messages.
  std::string ToDisplay() const;

  friend bool operator==(const Value& a, const Value& b) = default;
  // Total order used for keys: by kind first, then by payload.
  friend std::strong_ordering operator<=>(const Value& a, const Value& b);

 private:
  Value(Kind k, int64_t i) : kind_(k), int_(i) {}
  Value(Kind k, std::string s) : kind_(k), str_(std::move(s)) {}
  void Set(Kind k, int64_t i, double d) {
    kind_ = k;
    checked_.on = false;
    int_ = i;
    float_ = d;
    str_.clear();
  }

  // A fact about the bytes, not part of the value (see MarkTextChecked).
  struct Checked {
    bool on = false;
    friend bool operator==(Checked, Checked) { return true; }
  };

  Kind kind_ = Kind::kNull;
  Checked checked_;  // in kind_'s padding: a Value keeps its size
  int64_t int_ = 0;
  double float_ = 0;
  std::string str_;
};

using Row = std::vector<Value>;

// A portable column type: what a column means independent of the engine it lives in.
struct PortableType {
  Kind kind = Kind::kText;
  int length = -1;     // text: max characters (varchar(n)); -1 unbounded
  int precision = -1;  // decimal precision; time/timestamp(tz): fraction digits 0-5; -1 unbounded (6)
  int scale = -1;      // decimal scale; -1 unbounded
  int int_bytes = 8;   // kInt: 2, 4 or 8

  // "bigint", "integer", "smallint", "double", "decimal(12,2)", "varchar(64)", "text",
  // "bool", "bytes", "date", "time", "timestamp", "timestamptz", "json", "uuid".
  std::string ToString() const;
  friend bool operator==(const PortableType&, const PortableType&) = default;
};

// Parses the type names written by PortableType::ToString (and common aliases).
Result<PortableType> ParsePortableType(std::string_view name);

// Converts `v` into `type`. Returns the converted value, or an error message (kInvalidArgument)
// that says why the value does not fit ("text 'abc' is not an integer", "value too long:
// 70 characters into varchar(64)"). Null passes through.
Result<Value> CastTo(const Value& v, const PortableType& type);
// True when CastTo(v, type) would return `v` unchanged: the caller may use `v` as it is and
// skip the cast's copy (text within its length, a decimal already in normal form with the
// type's scale, ...). False says nothing: the cast may still keep the value.
bool CastKeepsAsIs(const Value& v, const PortableType& type);

// Date and time helpers shared by engines (civil calendar, proleptic Gregorian).
std::string FormatDate(int32_t days);
std::string FormatTime(int64_t micros);
std::string FormatTimestamp(int64_t micros);  // "YYYY-MM-DD HH:MM:SS[.ffffff]"
std::optional<int32_t> ParseDate(std::string_view s);
std::optional<int64_t> ParseTime(std::string_view s);
// Accepts "YYYY-MM-DD[ T]HH:MM[:SS[.f]]" and a bare date; with `zone_seen` set when a
// trailing Z or +hh[:mm] offset was present (the result is then UTC).
std::optional<int64_t> ParseTimestamp(std::string_view s, bool* zone_seen = nullptr);
std::string FormatUuid(std::string_view bytes16);
std::optional<std::string> ParseUuid(std::string_view text);
// Normalises a decimal literal ("+01.50" -> "1.50"); nullopt when not a number.
std::optional<std::string> NormalizeDecimal(std::string_view s);

}  // namespace tandem
