#include <bit>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <random>
#include <vector>
#include <limits>

#include <gtest/gtest.h>

#include "core/canonical.h"
#include "tandem/value.h"

namespace tandem {
namespace {

PortableType T(std::string_view name) { return *ParsePortableType(name); }

TEST(Value, EqualValuesOfDifferentSourceTypesHashEqualWhenTypedTheSame) {
  // integer 15, text '15', double 15.0 and decimal '15.00' are one integer.
  auto ti = T("bigint");
  uint64_t h = HashRow({Value::Int(15)}, {ti});
  EXPECT_EQ(h, HashRow({Value::Text("15")}, {ti}));
  EXPECT_EQ(h, HashRow({Value::Float(15.0)}, {ti}));
  EXPECT_EQ(h, HashRow({Value::Decimal("15.00")}, {ti}));
  // 1.50 numeric, 1.5 double and '1.50' text as decimal(6,2) are equal...
  auto td = T("decimal(6,2)");
  EXPECT_TRUE(CanonicalEqual(Value::Decimal("1.50"), Value::Float(1.5), td));
  EXPECT_TRUE(CanonicalEqual(Value::Text("1.50"), Value::Float(1.5), td));
  // ...and as text they are not.
  EXPECT_FALSE(CanonicalEqual(Value::Text("1.50"), Value::Float(1.5), T("text")));
  // A date stored as text and as a date.
  EXPECT_TRUE(CanonicalEqual(Value::Text("2024-02-29"), Value::Date(*ParseDate("2024-02-29")),
                             T("date")));
}

TEST(Value, InPlaceSettersEqualFreshValues) {
  Value v = Value::Text(std::string(100, 'x'));
  v.SetInt(Kind::kInt, 5);
  EXPECT_EQ(v, Value::Int(5));  // no stale text left behind
  EXPECT_EQ(v <=> Value::Int(5), std::strong_ordering::equal);
  v.SetStr(Kind::kText, "short");
  EXPECT_EQ(v, Value::Text("short"));
  v.SetStr(Kind::kDecimal, "1.50");
  EXPECT_EQ(v, Value::Decimal("1.50"));
  EXPECT_NE(v, Value::Text("1.50"));
  v.SetFloat(-0.0);
  EXPECT_EQ(v.kind(), Kind::kFloat);
  EXPECT_TRUE(std::signbit(v.as_float()));
  v.SetNull();
  EXPECT_EQ(v, Value::Null());
  v.SetInt(Kind::kDate, 3);
  EXPECT_EQ(v, Value::Date(3));
}

// A reader's mark that a text is clean UTF-8 (no NUL): kept by a copy with the bytes,
// forgotten by every setter, never part of the value, and what lets a cast keep an
// unchecked text only after checking it.
TEST(Value, TextCheckedMarkFollowsTheBytes) {
  Value v;
  EXPECT_TRUE(v.SetStrAndCheck(Kind::kText, "Zoë"));
  EXPECT_TRUE(v.text_checked());
  Value copy = v;
  EXPECT_TRUE(copy.text_checked());
  EXPECT_EQ(copy, Value::Text("Zoë"));  // the mark is not part of the value
  EXPECT_EQ(copy <=> Value::Text("Zoë"), std::strong_ordering::equal);
  EXPECT_FALSE(Value::Text("Zoë").text_checked());
  v.SetStr(Kind::kText, "other");
  EXPECT_FALSE(v.text_checked());
  EXPECT_TRUE(v.SetStrAndCheck(Kind::kText, "x"));
  v.SetInt(Kind::kInt, 1);
  EXPECT_FALSE(v.text_checked());
  EXPECT_FALSE(v.SetStrAndCheck(Kind::kText, std::string("a\0b", 3)));  // valid, but a NUL
  EXPECT_FALSE(v.text_checked());
  EXPECT_FALSE(v.SetStrAndCheck(Kind::kText, "ab\xff"));
  EXPECT_FALSE(v.text_checked());
  // An unchecked text is checked by the cast; a checked one is taken as it is.
  PortableType text{.kind = Kind::kText};
  EXPECT_FALSE(CastKeepsAsIs(v, text));
  EXPECT_FALSE(CastTo(v, text));
  EXPECT_TRUE(CastKeepsAsIs(copy, text));
}

TEST(Value, NullEmptyAndZeroDiffer) {
  for (auto type : {T("text"), T("bigint"), T("decimal(5,2)"), T("json")}) {
    std::vector<Value> vals = {Value::Null(), Value::Text(""), Value::Int(0)};
    for (size_t i = 0; i < vals.size(); ++i) {
      for (size_t j = i + 1; j < vals.size(); ++j) {
        EXPECT_FALSE(CanonicalEqual(vals[i], vals[j], type))
            << vals[i].ToDisplay() << " vs " << vals[j].ToDisplay() << " as " << type.ToString();
      }
    }
  }
}

TEST(Value, CastRejectsWithReasons) {
  auto r = CastTo(Value::Text("abc"), T("integer"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'abc' is not an integer"), std::string::npos);
  EXPECT_FALSE(CastTo(Value::Int(70000), T("smallint")));
  auto long_text = CastTo(Value::Text("héllo wörld"), T("varchar(5)"));
  ASSERT_FALSE(long_text);
  EXPECT_NE(long_text.error().message.find("11 characters into varchar(5)"), std::string::npos);
  EXPECT_TRUE(CastTo(Value::Text("héllo"), T("varchar(5)")));
  EXPECT_FALSE(CastTo(Value::Text("\xC3\x28"), T("text")));  // invalid UTF-8
  EXPECT_FALSE(CastTo(Value::Text("0000-00-00"), T("date")));
  EXPECT_FALSE(CastTo(Value::Text("2023-02-30"), T("date")));
  EXPECT_FALSE(CastTo(Value::Decimal("12345.6"), T("decimal(5,2)")));
  EXPECT_FALSE(CastTo(Value::Text("{bad json"), T("json")));
}

TEST(Value, CastFailuresSayWhichProblem) {
  auto problem = [](const Value& v, std::string_view type) {
    auto r = CastTo(v, *ParsePortableType(type));
    return r ? Problem::kNone : r.error().problem;
  };
  EXPECT_EQ(problem(Value::Text("2023-02-30"), "date"), Problem::kInvalidDate);
  EXPECT_EQ(problem(Value::Text("0000-00-00 00:00:00"), "timestamp"), Problem::kInvalidDate);
  EXPECT_EQ(problem(Value::Text("soon"), "date"), Problem::kTypeMismatch);
  EXPECT_EQ(problem(Value::Text("abc"), "integer"), Problem::kTypeMismatch);
  EXPECT_EQ(problem(Value::Int(70000), "smallint"), Problem::kOutOfRange);
  EXPECT_EQ(problem(Value::Text("99999999999999999999"), "bigint"), Problem::kOutOfRange);
  EXPECT_EQ(problem(Value::Text("123.45"), "decimal(4,2)"), Problem::kOutOfRange);
  EXPECT_EQ(problem(Value::Text("1.234"), "decimal(6,2)"), Problem::kOutOfRange);
  EXPECT_EQ(problem(Value::Float(std::numeric_limits<double>::quiet_NaN()), "decimal(6,2)"),
            Problem::kOutOfRange);
  EXPECT_EQ(problem(Value::Text("abcdef"), "varchar(3)"), Problem::kTooLong);
  EXPECT_EQ(problem(Value::Bytes("\xff\xfe"), "text"), Problem::kInvalidEncoding);
  EXPECT_EQ(problem(Value::Timestamp(1'500'000), "timestamp(0)"), Problem::kOutOfRange);
  EXPECT_EQ(problem(Value::Text("12"), "integer"), Problem::kNone);
}

TEST(Value, DecimalRoundingAndNormalising) {
  // Fraction digits the scale cannot keep are refused, never rounded away silently.
  auto rounded = CastTo(Value::Text("+001.005"), T("decimal(6,2)"));
  ASSERT_FALSE(rounded.has_value());
  EXPECT_NE(rounded.error().message.find("has 3 fraction digits, more than decimal(6,2) keeps"),
            std::string::npos)
      << rounded.error().message;
  EXPECT_FALSE(CastTo(Value::Text("-0.004"), T("decimal(6,2)")).has_value());
  EXPECT_EQ(CastTo(Value::Text("+001.500"), T("decimal(6,2)"))->as_str(), "1.50");
  EXPECT_EQ(CastTo(Value::Text("-0.000"), T("decimal(6,2)"))->as_str(), "0.00");
  EXPECT_EQ(CastTo(Value::Float(0.99), T("decimal(10,2)"))->as_str(), "0.99");
  // A double becomes its shortest round-trip digits whatever its size (not the exact binary
  // value 12345678901234567168 for an integral double and the short form for a fraction).
  EXPECT_EQ(CastTo(Value::Float(12345678901234567890.5), T("decimal"))->as_str(),
            "12345678901234567000");
  EXPECT_EQ(CastTo(Value::Float(0.1), T("decimal"))->as_str(), "0.1");
  EXPECT_EQ(CastTo(Value::Float(-0.0), T("decimal"))->as_str(), "0");
  EXPECT_EQ(CastTo(Value::Text("1e3"), T("decimal"))->as_str(), "1000");
  EXPECT_EQ(CastTo(Value::Int(7), T("decimal(4,1)"))->as_str(), "7.0");
  EXPECT_EQ(CastTo(Value::Decimal("999.995"), T("decimal(5,2)")).has_value(), false);
}

// A double into a decimal takes a direct path; it must give exactly what the general path
// gives for the same digits as text (the shortest scientific form), accepted or refused.
TEST(Value, DoubleToDecimalMatchesItsDigitsAsText) {
  std::mt19937_64 rng(20261207);
  std::vector<double> xs = {0.0, -0.0, 0.5, -0.5, 0.05, 0.005, 1.0, 10.0, 99.995, 999.99, 1e-7,
                            -1e-7, 1e15, 1e16, 123456789012.34, 9999999999.99, 1e300, 5e-324,
                            -123.4, 0.1, 0.2, 0.3, 100.0, 1234567.0};
  std::uniform_int_distribution<int> cents(-2'000'000'000, 2'000'000'000);
  std::uniform_int_distribution<int> shift(-30, 30);
  std::uniform_int_distribution<uint64_t> bits;
  // Around the direct path's bound (|x| * 10^scale below 2^52 / 10) and its neighbours: large
  // integers of k fraction digits, and the doubles either side of them.
  std::uniform_int_distribution<int64_t> big(-(int64_t{1} << 53), int64_t{1} << 53);
  std::uniform_int_distribution<int> k_digits(0, 12);
  for (int i = 0; i < 5000; ++i) {
    double v = static_cast<double>(big(rng)) / std::pow(10.0, k_digits(rng));
    for (double d : {v, std::nextafter(v, 1e300), std::nextafter(v, -1e300)}) xs.push_back(d);
  }
  for (int i = 0; i < 20000; ++i) {
    xs.push_back(cents(rng) / 100.0);
    xs.push_back(cents(rng) * std::pow(10.0, shift(rng)));
    double b = std::bit_cast<double>(bits(rng));
    if (std::isfinite(b)) xs.push_back(b);
  }
  std::vector<PortableType> types;
  for (auto name : {"decimal", "decimal(12,2)", "decimal(12,0)", "decimal(5,2)", "decimal(38,10)",
                    "decimal(20,4)", "decimal(3,3)", "decimal(65,30)"}) {
    types.push_back(T(name));
  }
  int accepted = 0, refused = 0;
  for (double x : xs) {
    char sci[40];
    auto end = std::to_chars(sci, sci + sizeof sci, x, std::chars_format::scientific).ptr;
    Value text = Value::Text(std::string(sci, end));
    for (const auto& t : types) {
      auto direct = CastTo(Value::Float(x), t);
      auto general = CastTo(text, t);
      ASSERT_EQ(direct.has_value(), general.has_value()) << text.as_str() << " into " << t.ToString();
      if (direct) {
        ASSERT_EQ(direct->kind(), Kind::kDecimal);
        ASSERT_EQ(direct->as_str(), general->as_str()) << text.as_str() << " into " << t.ToString();
        ++accepted;
      } else {
        ASSERT_EQ(direct.error().problem, general.error().problem) << text.as_str();
        ++refused;
      }
    }
  }
  // Both outcomes were exercised many times over.
  EXPECT_GT(accepted, 50000);
  EXPECT_GT(refused, 50000);
}

// A decimal literal already in normal form with the type's scale is kept as it is; every
// other literal takes the general path. The same number written with a leading zero (which
// the general path normalises away) must give the same result, accepted or refused.
TEST(Value, NormalDecimalsKeptAsTheyAreMatchTheGeneralPath) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> digits(0, 14), fraction(0, 5), digit(0, 9), coin(0, 3);
  std::vector<std::string> literals = {"0", "0.00", "-0.5", "1", "-1.50", "999.99", "1000.00",
                                       "0.001", "12345678901234567890.12"};
  for (int i = 0; i < 20000; ++i) {
    std::string s = coin(rng) == 0 ? "-" : "";
    int n = digits(rng);
    if (n == 0) s += '0';
    for (int k = 0; k < n; ++k) s += static_cast<char>('0' + (k == 0 ? 1 + digit(rng) % 9 : digit(rng)));
    int f = fraction(rng);
    if (f > 0) s += '.';
    for (int k = 0; k < f; ++k) s += static_cast<char>('0' + digit(rng));
    literals.push_back(s);
  }
  std::vector<PortableType> types;
  for (auto name : {"decimal", "decimal(12,2)", "decimal(5,2)", "decimal(10,0)", "decimal(6,3)",
                    "decimal(20,5)", "decimal(3,3)", "integer"}) {
    types.push_back(T(name));
  }
  int kept = 0;
  for (const auto& s : literals) {
    bool neg = s.starts_with('-');
    std::string padded = (neg ? "-0" : "0") + s.substr(neg ? 1 : 0);  // not normal: general path
    for (const auto& t : types) {
      for (Kind k : {Kind::kDecimal, Kind::kText}) {
        Value v = k == Kind::kDecimal ? Value::Decimal(s) : Value::Text(s);
        Value p = k == Kind::kDecimal ? Value::Decimal(padded) : Value::Text(padded);
        auto direct = CastTo(v, t);
        auto general = CastTo(p, t);
        ASSERT_EQ(direct.has_value(), general.has_value()) << s << " into " << t.ToString();
        if (!direct) continue;
        ASSERT_EQ(direct->kind(), general->kind()) << s;
        ASSERT_EQ(direct->ToString(), general->ToString()) << s << " into " << t.ToString();
        if (CastKeepsAsIs(v, t)) {
          ASSERT_EQ(*direct, v) << s << " is kept as it is, yet the cast changes it";
          ++kept;
        }
      }
    }
  }
  EXPECT_GT(kept, 5000);
}

// Integers within a narrower type's range and times with no fraction finer than the type's
// precision are kept as they are; just past a bound, the cast refuses. Whenever a value is
// said to be kept, the cast returns it unchanged.
TEST(Value, IntsAndTimesKeptAsTheyAreExactlyWhenTheCastWould) {
  std::vector<Value> values;
  for (int64_t i : {int64_t{0}, int64_t{-1}, int64_t{INT16_MIN} - 1, int64_t{INT16_MIN},
                    int64_t{INT16_MAX}, int64_t{INT16_MAX} + 1, int64_t{INT32_MIN} - 1,
                    int64_t{INT32_MIN}, int64_t{INT32_MAX}, int64_t{INT32_MAX} + 1, INT64_MIN,
                    INT64_MAX}) {
    values.push_back(Value::Int(i));
  }
  for (int64_t us : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{1'500'000'000'000'000},
                     int64_t{1'500'000'000'100'000}, int64_t{1'500'000'000'120'000},
                     int64_t{1'500'000'000'123'456}, int64_t{-86'400'000'000},
                     int64_t{-86'400'500'000}, int64_t{43'200'000'000}}) {
    values.push_back(Value::Timestamp(us));
    values.push_back(Value::TimestampTz(us));
    if (us >= 0 && us < 86'400'000'000) values.push_back(Value::Time(us));
  }
  int kept = 0, refused = 0;
  for (const char* name : {"smallint", "integer", "bigint", "timestamp", "timestamp(0)",
                           "timestamp(1)", "timestamp(3)", "timestamp(5)", "timestamptz(0)",
                           "timestamptz(2)", "timestamptz", "time(0)", "time(4)", "time"}) {
    PortableType t = T(name);
    for (const auto& v : values) {
      if (v.kind() != t.kind) continue;
      auto cast = CastTo(v, t);
      if (CastKeepsAsIs(v, t)) {
        ASSERT_TRUE(cast) << v.ToString() << " into " << name << ": kept, yet refused";
        ASSERT_EQ(*cast, v) << v.ToString() << " into " << name;
        ++kept;
      } else {
        ASSERT_FALSE(cast) << v.ToString() << " into " << name << ": cast, yet not kept";
        ++refused;
      }
    }
  }
  EXPECT_GT(kept, 40);
  EXPECT_GT(refused, 20);
}

// A cast value encodes the same whether it is cast again or not (AppendCanonicalCast skips the
// cast for the values a mapping made): casts are idempotent.
TEST(Value, CastValuesEncodeAlikeWithoutASecondCast) {
  std::vector<Value> raws = {Value::Null(), Value::Int(15), Value::Int(-3), Value::Float(15.0),
                             Value::Float(0.1), Value::Float(-0.0), Value::Text("15"),
                             Value::Text(" 15"), Value::Text("1.50"), Value::Text("+001.500"),
                             Value::Decimal("12.5"), Value::Decimal("-0.00"), Value::Bool(true),
                             Value::Text("true"), Value::Text("Zoë"), Value::Text(std::string(70, 'x')),
                             Value::Text("2024-03-10 02:30:00"), Value::Text("2024-03-10"),
                             Value::Timestamp(1'500'000), Value::Date(19000),
                             Value::Text("{\"b\": 1, \"a\": [1, 2]}"), Value::Bytes("\x01\xff"),
                             Value::Text("00000000-0000-0000-0000-000000000001")};
  int encoded = 0;
  for (auto name : {"bigint", "integer", "smallint", "double", "decimal", "decimal(12,2)",
                    "decimal(5,0)", "text", "varchar(64)", "bool", "bytes", "date", "time",
                    "timestamp", "timestamp(0)", "timestamptz", "json", "uuid"}) {
    PortableType t = T(name);
    for (const auto& raw : raws) {
      auto cast = CastTo(raw, t);
      if (!cast) continue;
      std::string once, again;
      AppendCanonical(raw, t, once);
      AppendCanonicalCast(*cast, t, again);
      ASSERT_EQ(once, again) << raw.ToDisplay() << " as " << name;
      ++encoded;
    }
  }
  EXPECT_GT(encoded, 100);
}

TEST(Value, TimestampsParseAndFormat) {
  bool zone = false;
  auto ts = ParseTimestamp("2009-01-01 00:00:00", &zone);
  ASSERT_TRUE(ts);
  EXPECT_FALSE(zone);
  EXPECT_EQ(FormatTimestamp(*ts), "2009-01-01 00:00:00");
  auto frac = ParseTimestamp("1969-12-31T23:59:59.5");
  ASSERT_TRUE(frac);
  EXPECT_EQ(*frac, -500000);
  EXPECT_EQ(FormatTimestamp(*frac), "1969-12-31 23:59:59.5");
  auto off = ParseTimestamp("2024-03-10 02:30:00-07:00", &zone);
  ASSERT_TRUE(off);
  EXPECT_TRUE(zone);
  EXPECT_EQ(FormatTimestamp(*off), "2024-03-10 09:30:00");
}

// A date written YYYY-MM-DD is read at fixed places; std::chrono decides what it should be.
// Every day of years 1 to 9999 parses to chrono's day, and every month and day number from 0
// to 99 in a spread of years (leap, not, century) is refused exactly when chrono calls it
// impossible.
TEST(Value, DatesReadAtFixedPlacesAgreeWithChrono) {
  namespace chr = std::chrono;
  const int32_t first = chr::sys_days{chr::year{1} / 1 / 1}.time_since_epoch().count();
  const int32_t last = chr::sys_days{chr::year{9999} / 12 / 31}.time_since_epoch().count();
  char text[16];
  for (int32_t day = first; day <= last; ++day) {
    chr::year_month_day ymd{chr::sys_days{chr::days{day}}};
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    auto parsed = ParseDate(text);
    ASSERT_TRUE(parsed) << text;
    ASSERT_EQ(*parsed, day) << text;
  }
  for (int y : {0, 1, 4, 100, 400, 1900, 1970, 2000, 2023, 2024, 2100, 9999}) {
    for (unsigned m = 0; m < 100; ++m) {
      for (unsigned d = 0; d < 100; ++d) {
        std::snprintf(text, sizeof text, "%04d-%02u-%02u", y, m, d);
        chr::year_month_day ymd{chr::year{y}, chr::month{m}, chr::day{d}};
        auto parsed = ParseDate(text);
        ASSERT_EQ(parsed.has_value(), ymd.ok()) << text;
        if (parsed) {
          EXPECT_EQ(*parsed, chr::sys_days{ymd}.time_since_epoch().count()) << text;
        }
      }
    }
  }
  // Not the fixed form: the general path still reads them, or refuses them as before.
  EXPECT_EQ(ParseDate("10000-01-01"), chr::sys_days{chr::year{10000} / 1 / 1}.time_since_epoch().count());
  EXPECT_EQ(ParseDate("-0044-03-15"), chr::sys_days{chr::year{-44} / 3 / 15}.time_since_epoch().count());
  for (const char* bad : {"2024-1-01", "2024-01-1", "2024-01-01x", "2024/01/01", "2024-0a-01",
                          "202４-01-01", "2024-01-", "", "-2024-13-01"}) {
    EXPECT_FALSE(ParseDate(bad)) << bad;
  }
  EXPECT_EQ(ParseTimestamp("2024-02-29T23:59:59.999999"),
            int64_t{chr::sys_days{chr::year{2024} / 2 / 29}.time_since_epoch().count()} * 86400000000LL +
                86399999999LL);
  EXPECT_FALSE(ParseTimestamp("2023-02-29 00:00:00"));
  EXPECT_FALSE(ParseTimestamp("2024-01-0100:00:00"));
}

TEST(Value, FloatEdgesKeepIdentity) {
  auto tf = T("double");
  double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(CanonicalEqual(Value::Float(nan), Value::Text("NaN"), tf));
  EXPECT_FALSE(CanonicalEqual(Value::Float(0.0), Value::Float(-0.0), tf));
  EXPECT_TRUE(CanonicalEqual(Value::Float(INFINITY), Value::Text("Infinity"), tf));
  EXPECT_EQ(Value::Float(0.1).ToString(), "0.1");
}

TEST(Value, JsonKeyOrderIsNotDataButNumberFormIs) {
  auto tj = T("json");
  EXPECT_TRUE(CanonicalEqual(Value::Json(R"({"a":1,"b":2})"), Value::Text(R"({ "b": 2, "a": 1 })"), tj));
  EXPECT_FALSE(CanonicalEqual(Value::Json("15"), Value::Json("15.0"), tj));
}

TEST(Value, UuidAndBytes) {
  auto u = ParseUuid("123e4567-e89b-12d3-a456-426614174000");
  ASSERT_TRUE(u);
  EXPECT_EQ(FormatUuid(*u), "123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(Value::Bytes(std::string("\x00\xff", 2)).ToString(), "\\x00ff");
}

TEST(Value, KeyOrder) {
  EXPECT_LT(Value::Int(-5), Value::Int(3));
  EXPECT_LT(Value::Decimal("9.5"), Value::Decimal("10"));
  EXPECT_LT(Value::Decimal("-10"), Value::Decimal("-9.5"));
  Row a{Value::Text("a"), Value::Int(2)}, b{Value::Text("a"), Value::Int(10)};
  EXPECT_LT(a, b);
}

}  // namespace
}  // namespace tandem
