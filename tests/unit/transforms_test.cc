// The transform steps of a mapping: time zones, encodings, mojibake, zero dates, expressions,
// their order with on_null/default/map, their config errors and their reverse.
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "mapping/config.h"
#include "mapping/reverse.h"
#include "mapping/transform.h"

namespace tandem::mapping {
namespace {

Column Col(std::string name, std::string_view type, bool nullable = true) {
  Column c;
  c.name = std::move(name);
  c.type = *ParsePortableType(type);
  c.nullable = nullable;
  return c;
}

TableSchema Table(std::string name, std::vector<Column> cols) {
  TableSchema t;
  t.name = std::move(name);
  t.columns = std::move(cols);
  t.primary_key = {t.columns[0].name};
  return t;
}

std::string Yaml(std::string_view table_body, std::string_view top = "") {
  return fmt::format("source: sqlite:old.db\ntarget: sqlite:new.db\n{}tables:\n  - source: t\n{}",
                     top, table_body);
}

// Compiles the one table of `yaml` against `source` (target created by tandem).
struct Compiled {
  std::optional<Config> cfg;
  std::optional<TableTransform> t;
  std::vector<std::string> problems;
  std::string error;
};
Compiled Compile(const std::string& yaml, const TableSchema& source,
                 const TableSchema* target = nullptr) {
  Compiled c;
  auto cfg = ParseConfig(yaml, "tandem.yaml");
  if (!cfg) {
    c.error = cfg.error().message;
    return c;
  }
  c.cfg = std::move(*cfg);
  c.t = TableTransform::Compile(c.cfg->tables[0], source, target, c.problems, &*c.cfg);
  for (const auto& p : c.problems) c.error += p + "\n";
  return c;
}

Value Ts(const char* s) { return Value::Timestamp(*ParseTimestamp(s)); }
Value Tz(const char* s) { return Value::TimestampTz(*ParseTimestamp(s)); }

// ---- time zones ---------------------------------------------------------------------------

TableSchema Events() { return Table("t", {Col("id", "bigint", false), Col("at", "timestamp")}); }
TableSchema EventsTz() {
  return Table("t", {Col("id", "bigint", false), Col("at", "timestamptz")});
}

struct TzCase {
  const char* zone;
  const char* policy;  // extra keys of the step
  const char* local;
  const char* want;    // UTC, or "reject:<problem>"
};

class FromTz : public ::testing::TestWithParam<TzCase> {};

TEST_P(FromTz, GapAndFoldFollowThePolicy) {
  const TzCase& c = GetParam();
  auto m = Compile(Yaml(fmt::format("    columns:\n      id: id\n      at: {{to: at, type: "
                                    "timestamptz, transform: [{{from_tz: {}{}}}]}}\n",
                                    c.zone, c.policy)),
                   Events());
  ASSERT_TRUE(m.t) << m.error;
  Row out;
  Refusal why;
  bool ok = m.t->Apply({Value::Int(1), Ts(c.local)}, out, why);
  std::string want = c.want;
  if (want.starts_with("reject:")) {
    ASSERT_FALSE(ok) << out[1].ToString();
    EXPECT_EQ(ProblemName(why.problem), want.substr(7));
    EXPECT_EQ(why.column, "at");
    std::string policy = why.problem == Problem::kDstGap ? "on_gap" : "on_fold";
    EXPECT_EQ(why.rule, fmt::format("from_tz: {} ({}: reject)", c.zone, policy));
    EXPECT_TRUE(why.message.starts_with(fmt::format("at: {}", c.local))) << why.message;
    EXPECT_NE(why.message.find(c.zone), std::string::npos) << why.message;
  } else {
    ASSERT_TRUE(ok) << why.message;
    EXPECT_EQ(out[1], Tz(c.want)) << out[1].ToString();
    // A value the policy changed lands with a note saying so (assess reports it as a warning);
    // a time that exists once has none.
    // (The local times of this suite that fall in a gap or a fold, from the comments below.)
    std::string policy = c.policy;
    static const std::set<std::string> ambiguous = {
        "2024-03-31 02:30:00", "2024-03-31 02:00:00", "2024-10-27 02:30:00",
        "2024-03-10 02:59:59", "2024-03-10 02:15:00", "2024-11-03 01:30:00"};
    bool resolved = ambiguous.contains(c.local);
    ASSERT_EQ(why.notes.size(), resolved ? 1u : 0u) << c.local << c.policy;
    if (resolved) {
      const auto& n = why.notes[0];
      EXPECT_EQ(n.column, "at");
      EXPECT_TRUE(n.problem == Problem::kDstGap || n.problem == Problem::kDstFold);
      EXPECT_EQ(n.rule, fmt::format("from_tz: {} ({}: {})", c.zone,
                                    n.problem == Problem::kDstGap ? "on_gap" : "on_fold",
                                    n.problem == Problem::kDstGap ? "shift_forward"
                                    : policy.find("later") != std::string::npos ? "later"
                                                                                : "earlier"));
      EXPECT_TRUE(n.message.starts_with(fmt::format("at: {}", c.local))) << n.message;
    }
    // The next row starts with no notes.
    ASSERT_TRUE(m.t->Apply({Value::Int(2), Ts("2024-06-01 12:00:00")}, out, why));
    EXPECT_TRUE(why.notes.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    ParisAndNewYork, FromTz,
    ::testing::Values(
        // Europe/Paris: 2024-03-31 02:00 -> 03:00 (gap), 2024-10-27 03:00 -> 02:00 (fold).
        TzCase{"Europe/Paris", "", "2024-06-01 12:00:00", "2024-06-01 10:00:00"},
        TzCase{"Europe/Paris", "", "2024-12-01 12:00:00", "2024-12-01 11:00:00"},
        TzCase{"Europe/Paris", "", "2024-03-31 02:30:00", "reject:dst_gap"},
        TzCase{"Europe/Paris", ", on_gap: reject", "2024-03-31 02:00:00", "reject:dst_gap"},
        TzCase{"Europe/Paris", ", on_gap: shift_forward", "2024-03-31 02:30:00",
               "2024-03-31 01:30:00"},
        TzCase{"Europe/Paris", "", "2024-10-27 02:30:00", "reject:dst_fold"},
        TzCase{"Europe/Paris", ", on_fold: earlier", "2024-10-27 02:30:00", "2024-10-27 00:30:00"},
        TzCase{"Europe/Paris", ", on_fold: later", "2024-10-27 02:30:00", "2024-10-27 01:30:00"},
        TzCase{"Europe/Paris", ", on_gap: shift_forward, on_fold: later", "2024-10-27 03:00:00",
               "2024-10-27 02:00:00"},
        // America/New_York: 2024-03-10 02:00 -> 03:00, 2024-11-03 02:00 -> 01:00.
        TzCase{"America/New_York", "", "2024-03-10 02:59:59", "reject:dst_gap"},
        TzCase{"America/New_York", ", on_gap: shift_forward", "2024-03-10 02:15:00",
               "2024-03-10 07:15:00"},
        TzCase{"America/New_York", "", "2024-11-03 01:30:00", "reject:dst_fold"},
        TzCase{"America/New_York", ", on_fold: earlier", "2024-11-03 01:30:00",
               "2024-11-03 05:30:00"},
        TzCase{"America/New_York", ", on_fold: later", "2024-11-03 01:30:00",
               "2024-11-03 06:30:00"},
        TzCase{"America/New_York", "", "2024-11-03 02:00:00", "2024-11-03 07:00:00"}));

TEST(FromTz, TextAndNaiveTargetsAndToTz) {
  // Text timestamps (SQLite) are read too; one with its own offset is an instant already.
  auto m = Compile(Yaml("    columns:\n      id: id\n      at: {to: at, type: timestamptz, "
                        "transform: [{from_tz: Europe/Paris}]}\n"),
                   Table("t", {Col("id", "bigint", false), Col("at", "text")}));
  ASSERT_TRUE(m.t) << m.error;
  Row out;
  Refusal why;
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Text("2024-06-01 12:00:00")}, out, why));
  EXPECT_EQ(out[1], Tz("2024-06-01 10:00:00"));
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Text("2024-06-01T12:00:00+05:00")}, out, why));
  EXPECT_EQ(out[1], Tz("2024-06-01 07:00:00"));
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Null()}, out, why));
  EXPECT_TRUE(out[1].is_null());
  ASSERT_FALSE(m.t->Apply({Value::Int(1), Value::Text("soon")}, out, why));
  EXPECT_EQ(why.problem, Problem::kTypeMismatch);
  EXPECT_EQ(why.message, "at: 'soon' is not a valid timestamp (from_tz: Europe/Paris)");

  // Into a naive timestamp: UTC as naive; with to_tz: the wall clock of another zone.
  auto naive = Compile(Yaml("    columns:\n      id: id\n      at: {to: at, transform: [{from_tz: "
                            "Europe/Paris}]}\n"),
                       Events());
  ASSERT_TRUE(naive.t) << naive.error;
  ASSERT_TRUE(naive.t->Apply({Value::Int(1), Ts("2024-06-01 12:00:00")}, out, why));
  EXPECT_EQ(out[1], Ts("2024-06-01 10:00:00"));
  auto ny = Compile(Yaml("    columns:\n      id: id\n      at: {to: at, transform: [{from_tz: "
                         "Europe/Paris, to_tz: America/New_York}]}\n"),
                    Events());
  ASSERT_TRUE(ny.t) << ny.error;
  ASSERT_TRUE(ny.t->Apply({Value::Int(1), Ts("2024-06-01 12:00:00")}, out, why));
  EXPECT_EQ(out[1], Ts("2024-06-01 06:00:00"));
  // to_tz alone: an instant shown on another wall clock.
  auto tokyo = Compile(Yaml("    columns:\n      id: id\n      at: {to: at, type: timestamp, "
                            "transform: [{to_tz: Asia/Tokyo}]}\n"),
                       EventsTz());
  ASSERT_TRUE(tokyo.t) << tokyo.error;
  ASSERT_TRUE(tokyo.t->Apply({Value::Int(1), Tz("2024-06-01 12:00:00")}, out, why));
  EXPECT_EQ(out[1], Ts("2024-06-01 21:00:00"));
}

TEST(FromTz, TimezoneDefaultAppliesToNaiveIntoTimestamptzOnly) {
  auto src = Table("t", {Col("id", "bigint", false), Col("at", "timestamp"),
                         Col("naive", "timestamp"), Col("own", "timestamp")});
  std::string body =
      "    columns:\n      id: id\n      at: {to: at, type: timestamptz}\n"
      "      naive: naive\n"
      "      own: {to: own, type: timestamptz, transform: [{from_tz: America/New_York}]}\n";
  // UTC (the default): nothing moves.
  auto utc = Compile(Yaml(body), src);
  ASSERT_TRUE(utc.t) << utc.error;
  Row out;
  Refusal why;
  Row in = {Value::Int(1), Ts("2024-06-01 12:00:00"), Ts("2024-06-01 12:00:00"),
            Ts("2024-06-01 12:00:00")};
  ASSERT_TRUE(utc.t->Apply(in, out, why));
  EXPECT_EQ(out[1], Tz("2024-06-01 12:00:00"));
  EXPECT_EQ(out[2], Ts("2024-06-01 12:00:00"));
  EXPECT_EQ(out[3], Tz("2024-06-01 16:00:00"));
  // The file's zone; a table's zone wins over it.
  for (auto [top, table, want] :
       {std::tuple{"timezone: Europe/Paris\n", "", "2024-06-01 10:00:00"},
        std::tuple{"timezone: Europe/Paris\n", "    timezone: Asia/Tokyo\n", "2024-06-01 03:00:00"},
        std::tuple{"", "    timezone: Asia/Tokyo\n", "2024-06-01 03:00:00"}}) {
    auto m = Compile(Yaml(std::string(table) + body, top), src);
    ASSERT_TRUE(m.t) << m.error;
    ASSERT_TRUE(m.t->Apply(in, out, why)) << why.message;
    EXPECT_EQ(out[1], Tz(want)) << top << table;
    EXPECT_EQ(out[2], Ts("2024-06-01 12:00:00")) << "a naive target keeps the wall clock";
    EXPECT_EQ(out[3], Tz("2024-06-01 16:00:00")) << "an explicit from_tz wins";
  }
  auto paris = Compile(Yaml(body, "timezone: Europe/Paris\n"), src);
  ASSERT_FALSE(paris.t->Apply({Value::Int(1), Ts("2024-03-31 02:30:00"), Value::Null(),
                               Value::Null()},
                              out, why));
  EXPECT_EQ(why.problem, Problem::kDstGap);
  EXPECT_EQ(why.rule, "timezone: Europe/Paris (on_gap: reject)");
}

// ---- encodings and mojibake ----------------------------------------------------------------

TEST(Decode, Cp1252AndLatin1) {
  auto src = Table("t", {Col("id", "bigint", false), Col("a", "bytes"), Col("b", "bytes")});
  auto m = Compile(Yaml("    columns:\n      id: id\n      a: {to: a, type: text, transform: "
                        "[{decode: cp1252}]}\n      b: {to: b, type: text, transform: [{decode: "
                        "latin1}]}\n"),
                   src);
  ASSERT_TRUE(m.t) << m.error;
  Row out;
  Refusal why;
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Bytes("\x80 \x93ok\x94"),
                          Value::Bytes("\x80 \x93ok\x94")},
                         out, why))
      << why.message;
  EXPECT_EQ(out[1], Value::Text("\u20AC \u201Cok\u201D"));
  EXPECT_EQ(out[2], Value::Text("\u0080 \u0093ok\u0094"));
  // 0x81 is not a cp1252 character.
  ASSERT_FALSE(m.t->Apply({Value::Int(2), Value::Bytes("a\x81"), Value::Bytes("a\x81")}, out, why));
  EXPECT_EQ(why.problem, Problem::kInvalidEncoding);
  EXPECT_EQ(why.column, "a");
  EXPECT_EQ(why.rule, "decode: cp1252");
  EXPECT_EQ(why.message,
            "a: cp1252 bytes 0x81 (at byte 1 of 2) have no Unicode mapping (decode: cp1252)");
  // Text holding bytes that are not UTF-8 (SQLite stores what it is given) decodes too; without
  // the step, it is refused and never passed through.
  auto t = Table("t", {Col("id", "bigint", false), Col("a", "text")});
  auto d = Compile(Yaml("    columns:\n      id: id\n      a: {to: a, transform: [{decode: cp1252}]}\n"), t);
  ASSERT_TRUE(d.t) << d.error;
  ASSERT_TRUE(d.t->Apply({Value::Int(1), Value::Text("caf\xE9")}, out, why));
  EXPECT_EQ(out[1], Value::Text("caf\u00E9"));
  auto plain = Compile(Yaml("    columns:\n      id: id\n      a: a\n"), t);
  ASSERT_TRUE(plain.t);
  ASSERT_FALSE(plain.t->Apply({Value::Int(1), Value::Text("caf\xE9")}, out, why));
  EXPECT_EQ(why.problem, Problem::kInvalidEncoding);
}

TEST(FixMojibake, RepairsOnlyWhatIsUnambiguous) {
  auto src = Table("t", {Col("id", "bigint", false), Col("a", "text")});
  auto m = Compile(Yaml("    columns:\n      id: id\n      a: {to: a, transform: [fix_mojibake]}\n"), src);
  ASSERT_TRUE(m.t) << m.error;
  auto keep = Compile(Yaml("    columns:\n      id: id\n      a: {to: a, transform: [{fix_mojibake: "
                           "keep}]}\n"),
                      src);
  ASSERT_TRUE(keep.t) << keep.error;
  Row out;
  Refusal why;
  auto run = [&](const TableTransform& t, std::string in) -> std::string {
    if (!t.Apply({Value::Int(1), Value::Text(in)}, out, why)) return "REJECT " + why.message;
    return out[1].as_str();
  };
  EXPECT_EQ(run(*m.t, "caf\u00C3\u00A9"), "caf\u00E9");                 // cafÃ© -> café
  EXPECT_EQ(run(*m.t, "l\u00E2\u20AC\u2122h\u00C3\u00B4tel"), "l\u2019h\u00F4tel");
  EXPECT_EQ(run(*m.t, "S\u00C3O PAULO"), "S\u00C3O PAULO");             // correct: untouched
  EXPECT_EQ(run(*m.t, "caf\u00E9"), "caf\u00E9");
  EXPECT_EQ(run(*m.t, "plain"), "plain");
  std::string mixed = "\u00E9t\u00E9 \u00C3\u00A9t\u00C3\u00A9";
  EXPECT_TRUE(run(*m.t, mixed).starts_with("REJECT a: '"));
  EXPECT_EQ(why.problem, Problem::kMojibake);
  EXPECT_EQ(why.rule, "fix_mojibake");
  EXPECT_EQ(run(*keep.t, mixed), mixed);
  EXPECT_EQ(run(*keep.t, "caf\u00C3\u00A9"), "caf\u00E9");
}

// ---- zero dates ---------------------------------------------------------------------------

TEST(ZeroDate, EachPolicy) {
  auto src = Table("t", {Col("id", "bigint", false), Col("d", "date"), Col("ts", "timestamp")});
  Row out;
  Refusal why;
  // Engines hand a zero date over as the text they read (MariaDB: '0000-00-00').
  Row zero = {Value::Int(1), Value::Text("0000-00-00"), Value::Text("0000-00-00 00:00:00")};
  Row impossible = {Value::Int(2), Value::Text("2023-02-30"), Value::Text("2023-00-10 10:00:00")};
  Row good = {Value::Int(3), Value::Date(*ParseDate("2023-02-28")), Ts("2023-02-28 10:00:00")};

  auto none = Compile(Yaml("    columns:\n      id: id\n      d: d\n      ts: ts\n"), src);
  ASSERT_TRUE(none.t);
  ASSERT_FALSE(none.t->Apply(zero, out, why));
  EXPECT_EQ(why.problem, Problem::kInvalidDate);
  EXPECT_EQ(why.rule, "cast to date");

  auto null = Compile(Yaml("    columns:\n      id: id\n      d: {to: d, zero_date: null}\n      ts: "
                           "{to: ts, zero_date: null}\n"),
                      src);
  ASSERT_TRUE(null.t) << null.error;
  ASSERT_TRUE(null.t->Apply(zero, out, why)) << why.message;
  EXPECT_TRUE(out[1].is_null());
  EXPECT_TRUE(out[2].is_null());
  ASSERT_TRUE(null.t->Apply(impossible, out, why));
  EXPECT_TRUE(out[1].is_null());
  ASSERT_TRUE(null.t->Apply(good, out, why));
  EXPECT_EQ(out[1], good[1]);
  EXPECT_EQ(out[2], good[2]);

  auto value = Compile(Yaml("    columns:\n      id: id\n      d: {to: d, zero_date: '1970-01-01'}\n"
                            "      ts: {to: ts, zero_date: '1970-01-01 00:00:00'}\n"),
                       src);
  ASSERT_TRUE(value.t) << value.error;
  ASSERT_TRUE(value.t->Apply(zero, out, why));
  EXPECT_EQ(out[1], Value::Date(0));
  EXPECT_EQ(out[2], Value::Timestamp(0));

  auto reject = Compile(Yaml("    columns:\n      id: id\n      d: {to: d, zero_date: reject}\n"
                             "      ts: ts\n"),
                        src);
  ASSERT_TRUE(reject.t) << reject.error;
  ASSERT_FALSE(reject.t->Apply(impossible, out, why));
  EXPECT_EQ(why.problem, Problem::kInvalidDate);
  EXPECT_EQ(why.rule, "zero_date: reject");
  EXPECT_EQ(why.message, "d: '2023-02-30' is a zero or impossible date (zero_date: reject)");

  // zero_date runs before on_null: a zero date made NULL meets on_null: default.
  auto then_default = Compile(Yaml("    columns:\n      id: id\n      d: {to: d, zero_date: null, "
                                   "on_null: default, default: '2000-01-01'}\n      ts: ts\n"),
                              src);
  ASSERT_TRUE(then_default.t) << then_default.error;
  ASSERT_TRUE(then_default.t->Apply({Value::Int(1), Value::Text("0000-00-00"), Value::Null()},
                                    out, why))
      << why.message;
  EXPECT_EQ(out[1], Value::Date(*ParseDate("2000-01-01")));
}

// ---- expressions --------------------------------------------------------------------------

TableSchema People() {
  return Table("t", {Col("id", "bigint", false), Col("first", "text"), Col("last", "text"),
                     Col("full", "text"), Col("doc", "text")});
}

TEST(Expr, OneColumnWithNulls) {
  auto m = Compile(Yaml("    columns:\n      id: id\n      first: {to: first, transform: "
                        "[{expr: \"upper(trim(?))\"}]}\n      last: {to: last, transform: "
                        "[{expr: \"coalesce(?, 'n/a')\"}]}\n      full: {drop: x}\n      doc: "
                        "{drop: x}\n"),
                   People());
  ASSERT_TRUE(m.t) << m.error;
  Row out;
  Refusal why;
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Text("  ann "), Value::Null()}, out, why));
  EXPECT_EQ(out[1], Value::Text("ANN"));
  EXPECT_EQ(out[2], Value::Text("n/a"));
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Null(), Value::Text("x")}, out, why));
  EXPECT_TRUE(out[1].is_null());
  EXPECT_EQ(out[2], Value::Text("x"));
}

TEST(Expr, SeveralColumnsIntoOneAndOneIntoSeveral) {
  auto m = Compile(Yaml("    columns:\n      id: id\n      doc: {drop: x}\n"
                        "    add:\n"
                        "      full_name: {from: [first, last], expr: \"first || ' ' || last\"}\n"
                        "      given: {from: full, expr: \"substr(full, 1, instr(full, ' ') - 1)\"}\n"
                        "      family: {from: [full], expr: \"substr(full, instr(full, ' ') + 1)\"}\n"
                        "      n: {from: [first, last], expr: \"length(first) + length(last)\", type: integer}\n"),
                   People());
  ASSERT_TRUE(m.t) << m.error;  // first, last and full are covered by the expressions
  EXPECT_EQ(m.t->source_columns(), (std::vector<std::string>{"id", "first", "last", "full"}));
  EXPECT_EQ(m.t->target_columns(),
            (std::vector<std::string>{"id", "full_name", "given", "family", "n"}));
  Row out;
  Refusal why;
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Text("Ada"), Value::Text("Lovelace"),
                          Value::Text("Grace Hopper")},
                         out, why))
      << why.message;
  EXPECT_EQ(out[1], Value::Text("Ada Lovelace"));
  EXPECT_EQ(out[2], Value::Text("Grace"));
  EXPECT_EQ(out[3], Value::Text("Hopper"));
  EXPECT_EQ(out[4], Value::Int(11));
  // NULL in, NULL out (SQL's ||), bound rather than pasted: quotes are just characters.
  ASSERT_TRUE(m.t->Apply({Value::Int(2), Value::Text("O'Brien"), Value::Null(),
                          Value::Text("x'); DROP TABLE t; --")},
                         out, why));
  EXPECT_TRUE(out[1].is_null());
  EXPECT_EQ(out[2], Value::Text("x');"));
  EXPECT_EQ(out[3], Value::Text("DROP TABLE t; --"));

  // The coverage rule: a column no expression reads and no entry maps is still a problem.
  auto missing = Compile(Yaml("    columns:\n      id: id\n    add:\n      full_name: {from: "
                              "[first], expr: \"first\"}\n"),
                         People());
  EXPECT_FALSE(missing.t);
  EXPECT_NE(missing.error.find("t.last is neither mapped nor dropped"), std::string::npos)
      << missing.error;
}

TEST(Expr, RunTimeErrorIsARejectAndSyntaxErrorIsAMappingError) {
  auto src = Table("t", {Col("id", "bigint", false), Col("doc", "text")});
  auto m = Compile(Yaml("    columns:\n      id: id\n      doc: {to: doc, transform: [{expr: "
                        "\"json_extract(?, '$.a')\"}]}\n"),
                   src);
  ASSERT_TRUE(m.t) << m.error;
  Row out;
  Refusal why;
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Text("{\"a\": \"b\"}")}, out, why));
  EXPECT_EQ(out[1], Value::Text("b"));
  ASSERT_FALSE(m.t->Apply({Value::Int(2), Value::Text("{not json")}, out, why));
  EXPECT_EQ(why.problem, Problem::kExpressionError);
  EXPECT_EQ(why.column, "doc");
  EXPECT_EQ(why.rule, "expr: json_extract(?, '$.a')");
  EXPECT_EQ(why.message,
            "doc: expression failed on '{not json': malformed JSON (expr: json_extract(?, '$.a'))");
  // The statement is usable again after a failure.
  ASSERT_TRUE(m.t->Apply({Value::Int(3), Value::Text("{\"a\": 1}")}, out, why));
  EXPECT_EQ(out[1], Value::Text("1"));

  std::string yaml = Yaml(
      "    columns:\n      id: id\n      doc: {to: doc, transform: [{expr: \"upper(?\"}]}\n");
  auto bad = Compile(yaml, src);
  EXPECT_FALSE(bad.t);
  EXPECT_NE(bad.error.find("tandem.yaml:7: column t.doc: expr \"upper(?\": "), std::string::npos)
      << bad.error;
  EXPECT_NE(bad.error.find("syntax error"), std::string::npos) << bad.error;
  auto fn = Compile(Yaml("    columns:\n      id: id\n      doc: {to: doc, transform: [{expr: "
                         "\"no_such_fn(?)\"}]}\n"),
                    src);
  EXPECT_NE(fn.error.find("no such function: no_such_fn"), std::string::npos) << fn.error;
  auto sneaky = Compile(Yaml("    columns:\n      id: id\n      doc: {to: doc, transform: [{expr: "
                             "\"1) FROM (SELECT 1); SELECT (2\"}]}\n"),
                        src);
  EXPECT_FALSE(sneaky.t);
  auto names = Compile(Yaml("    columns:\n      id: id\n    add:\n      x: {from: [doc], expr: "
                            "\"doc || nope\"}\n"),
                       src);
  EXPECT_NE(names.error.find("tandem.yaml:8: added column t.x: expr \"doc || nope\": no such "
                             "column: nope"),
            std::string::npos)
      << names.error;
  auto q = Compile(Yaml("    columns:\n      id: id\n    add:\n      x: {from: [doc], expr: \"?\"}\n"),
                   src);
  EXPECT_NE(q.error.find("`?` stands for the value"), std::string::npos) << q.error;
}

TEST(Expr, CopiesEvaluateOnTheirOwnStatements) {
  auto src = Table("t", {Col("id", "bigint", false), Col("doc", "text")});
  auto m = Compile(Yaml("    columns:\n      id: id\n      doc: {to: doc, transform: [{expr: "
                        "\"? || '!'\"}]}\n"),
                   src);
  ASSERT_TRUE(m.t) << m.error;
  std::vector<TableTransform> copies(4, *m.t);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int k = 0; k < 4; ++k) {
    // Two threads on copies, two sharing the original (serialised by its mutex).
    const TableTransform& t = k < 2 ? copies[k] : *m.t;
    threads.emplace_back([&t, &wrong, k] {
      Row out;
      Refusal why;
      for (int i = 0; i < 2000; ++i) {
        std::string s = fmt::format("{}-{}", k, i);
        if (!t.Apply({Value::Int(i), Value::Text(s)}, out, why) ||
            out[1] != Value::Text(s + "!")) {
          ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// ---- order of the steps -------------------------------------------------------------------

TEST(Order, ZeroDateOnNullStepsMapCast) {
  auto src = Table("t", {Col("id", "bigint", false), Col("code", "text")});
  auto m = Compile(Yaml("    columns:\n      id: id\n      code: {to: code, on_null: default, "
                        "default: ' x ', transform: [trim, {expr: \"upper(?)\"}], map: {X: "
                        "unknown, A: alpha}, on_unmapped: reject}\n"),
                   src);
  ASSERT_TRUE(m.t) << m.error;
  Row out;
  Refusal why;
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Null()}, out, why)) << why.message;
  EXPECT_EQ(out[1], Value::Text("unknown"));  // NULL -> ' x ' -> 'x' -> 'X' -> 'unknown'
  ASSERT_TRUE(m.t->Apply({Value::Int(1), Value::Text(" a")}, out, why));
  EXPECT_EQ(out[1], Value::Text("alpha"));
  ASSERT_FALSE(m.t->Apply({Value::Int(1), Value::Text("b")}, out, why));
  EXPECT_EQ(why.problem, Problem::kUnmappedValue);
  EXPECT_EQ(why.message, "code: value 'B' is not in its map (on_unmapped: reject)");
}

// ---- config errors with file:line ----------------------------------------------------------

TEST(TransformConfig, BadZonesEncodingsAndPoliciesPointAtTheirLine) {
  auto err = [](const std::string& yaml) {
    auto cfg = ParseConfig(yaml, "tandem.yaml");
    return cfg ? std::string("parsed") : cfg.error().message;
  };
  EXPECT_NE(err(Yaml("    columns:\n      at: {to: at, transform: [{from_tz: Europe/Pariss}]}\n"))
                .find("tandem.yaml:6: tables.t.columns.at.transform.from_tz: unknown time zone "
                      "'Europe/Pariss'"),
            std::string::npos);
  EXPECT_NE(err(Yaml("    columns:\n      at: {to: at, transform: [{from_tz: UTC, to_tz: Mars/Base}]}\n"))
                .find("tandem.yaml:6: tables.t.columns.at.transform.to_tz: unknown time zone "
                      "'Mars/Base'"),
            std::string::npos);
  EXPECT_NE(err(Yaml("    columns:\n      a: a\n", "timezone: Europe/Nowhere\n"))
                .find("tandem.yaml:3: timezone: unknown time zone 'Europe/Nowhere'"),
            std::string::npos);
  EXPECT_NE(err(Yaml("    timezone: CET5\n    columns:\n      a: a\n"))
                .find("tandem.yaml:5: tables.t.timezone: unknown time zone 'CET5'"),
            std::string::npos);
  EXPECT_NE(err(Yaml("    columns:\n      a: {to: a, transform: [{decode: klingon}]}\n"))
                .find("tandem.yaml:6: tables.t.columns.a.transform.decode: unknown encoding "
                      "'klingon'"),
            std::string::npos);
  EXPECT_NE(err(Yaml("    columns:\n      a: {to: a, transform: [{from_tz: UTC, on_gap: skip}]}\n"))
                .find("tandem.yaml:6: tables.t.columns.a.transform.on_gap: 'skip' is not reject "
                      "or shift_forward"),
            std::string::npos);
  EXPECT_NE(err(Yaml("    columns:\n      a: {to: a, transform: [{from_tz: UTC, on_fold: both}]}\n"))
                .find("tandem.yaml:6: tables.t.columns.a.transform.on_fold: 'both' is not reject, "
                      "earlier or later"),
            std::string::npos);
  EXPECT_NE(err(Yaml("    columns:\n      a: {to: a, transform: [{fix_mojibake: maybe}]}\n"))
                .find("tandem.yaml:6: tables.t.columns.a.transform.fix_mojibake: 'maybe' is not "
                      "keep or reject"),
            std::string::npos);
  EXPECT_NE(err(Yaml("    columns:\n      a: {to: a, zero_date: keep}\n"))
                .find("tandem.yaml:6: tables.t.columns.a.zero_date:"),
            std::string::npos);
  EXPECT_NE(err(Yaml("    columns:\n      a: a\n    add:\n      x: {expr: \"1\"}\n"))
                .find("an expression needs 'from:'"),
            std::string::npos);
  // A to_tz into timestamptz and a from_tz on an instant are compile problems.
  auto m = Compile(Yaml("    columns:\n      id: id\n      at: {to: at, type: timestamptz, "
                        "transform: [{from_tz: UTC, to_tz: Europe/Paris}]}\n"),
                   Events());
  EXPECT_NE(m.error.find("tandem.yaml:7: column t.at: to_tz gives local time in Europe/Paris"),
            std::string::npos)
      << m.error;
  auto tz = Compile(Yaml("    columns:\n      id: id\n      at: {to: at, transform: [{from_tz: "
                         "Europe/Paris}]}\n"),
                    EventsTz());
  EXPECT_NE(tz.error.find("from_tz reads naive local times"), std::string::npos) << tz.error;
  auto zd = Compile(Yaml("    columns:\n      id: id\n      at: {to: at, zero_date: 'soon'}\n"),
                    Events());
  EXPECT_NE(zd.error.find("tandem.yaml:7: column t.at: zero_date: text 'soon' is not a valid"), std::string::npos) << zd.error;
}

// ---- reverse ------------------------------------------------------------------------------

TEST(TransformReverse, ZonesInvertOthersNeedAsIs) {
  auto src = Table("t", {Col("id", "bigint", false), Col("at", "timestamp"), Col("d", "timestamp"),
                         Col("raw", "bytes")});
  auto tgt = Table("t", {Col("id", "bigint", false), Col("at", "timestamptz"),
                         Col("d", "timestamptz"), Col("raw", "text")});
  auto cfg = ParseConfig(Yaml("    columns:\n      id: id\n      at: {to: at, transform: "
                              "[{from_tz: America/New_York}]}\n      d: d\n      raw: {to: raw, "
                              "transform: [{decode: cp1252}]}\n",
                              "timezone: Europe/Paris\n"),
                         "tandem.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  std::vector<std::string> problems;
  auto fwd = TableTransform::Compile(cfg->tables[0], src, &tgt, problems, &*cfg);
  ASSERT_TRUE(fwd) << problems[0];
  auto rev = CompileReverse(cfg->tables[0], src, tgt, problems, &*cfg);
  ASSERT_TRUE(rev) << problems[0];
  Row in = {Value::Int(1), Ts("2024-11-03 01:30:00"), Ts("2024-10-27 02:30:00"),
            Value::Bytes("\x80\x93")};
  Row out, back;
  Refusal why;
  // The folds need a policy forward ...
  ASSERT_FALSE(fwd->Apply(in, out, why));
  in[1] = Ts("2024-07-01 09:00:00");
  in[2] = Ts("2024-07-01 09:00:00");
  ASSERT_TRUE(fwd->Apply(in, out, why)) << why.message;
  EXPECT_EQ(out[1], Tz("2024-07-01 13:00:00"));
  EXPECT_EQ(out[2], Tz("2024-07-01 07:00:00"));
  EXPECT_EQ(out[3], Value::Text("\u20AC\u201C"));
  // ... and come back to the old wall clocks and bytes.
  ASSERT_TRUE(rev->Apply(out, back, why)) << why.message;
  EXPECT_EQ(back, in);

  // trim, expr and fix_mojibake cannot be inverted: refused at check time unless as_is.
  auto txt = Table("t", {Col("id", "bigint", false), Col("a", "text")});
  for (std::string step : {"trim", "fix_mojibake", "{expr: \"upper(?)\"}"}) {
    auto c = ParseConfig(Yaml(fmt::format("    columns:\n      id: id\n      a: {{to: a, "
                                          "transform: [{}]}}\n",
                                          step)),
                         "tandem.yaml");
    ASSERT_TRUE(c);
    std::vector<std::string> p;
    EXPECT_FALSE(CompileReverse(c->tables[0], txt, txt, p, &*c));
    ASSERT_EQ(p.size(), 1u);
    EXPECT_NE(p[0].find("tandem.yaml:7: column t.a has a transform that cannot be inverted"), std::string::npos) << p[0];
    EXPECT_NE(p[0].find("reverse: as_is"), std::string::npos) << p[0];
    auto ok = ParseConfig(Yaml(fmt::format("    columns:\n      id: id\n      a: {{to: a, "
                                           "transform: [{}], reverse: as_is}}\n",
                                           step)),
                          "tandem.yaml");
    p.clear();
    EXPECT_TRUE(CompileReverse(ok->tables[0], txt, txt, p, &*ok)) << p[0];
  }
  // An expression that consumes source columns: refused unless `reverse: none`.
  auto two = Table("t", {Col("id", "bigint", false), Col("a", "text"), Col("b", "text")});
  auto one = Table("t", {Col("id", "bigint", false), Col("ab", "text")});
  for (std::string extra : {"", ", reverse: none"}) {
    auto c = ParseConfig(Yaml(fmt::format("    columns:\n      id: id\n    add:\n      ab: {{from: "
                                          "[a, b], expr: \"a || b\"{}}}\n",
                                          extra)),
                         "tandem.yaml");
    ASSERT_TRUE(c) << c.error().message;
    std::vector<std::string> p;
    auto r = CompileReverse(c->tables[0], two, one, p, &*c);
    if (extra.empty()) {
      EXPECT_FALSE(r);
      ASSERT_EQ(p.size(), 2u);
      EXPECT_NE(p[0].find("cannot fill t.a"), std::string::npos) << p[0];
    } else {
      EXPECT_TRUE(r) << p[0];
    }
  }
}

// ---- identity (pass-through eligibility, docs/decisions.md "Pass-through") ---------------

TEST(Identity, OnlyAMappingThatChangesNothingIsTheIdentity) {
  TableSchema src = Table("t", {Col("id", "bigint", false), Col("at", "timestamp"),
                                Col("v", "varchar(20)")});
  struct Case {
    std::string columns, top, why;  // why: "" for the identity
  };
  const Case cases[] = {
      {"      id: id\n      at: at\n      v: v\n", "", ""},
      {"      id: id\n      at: {to: at}\n      v: {to: v, type: varchar(20)}\n", "", ""},
      // A dropped source column leaves the rest as they are.
      {"      id: id\n      at: {drop: \"old\"}\n      v: v\n", "", ""},
      {"      id: id\n      at: at\n      v: w\n", "", "column v is renamed to w"},
      {"      id: id\n      at: at\n      v: {to: v, type: text}\n", "", "column v is cast to text"},
      {"      id: id\n      at: at\n      v: {to: v, transform: [trim]}\n", "",
       "column v is transformed"},
      {"      id: id\n      at: {to: at, zero_date: null}\n      v: v\n", "",
       "column at is transformed"},
      {"      id: id\n      at: at\n      v: {to: v, map: {a: b}}\n", "", "column v has a map"},
      {"      id: id\n      at: at\n      v: {to: v, on_null: reject}\n", "",
       "column v has on_null"},
      // The table's timezone: shifts a naive timestamp only into timestamptz.
      {"      id: id\n      at: at\n      v: v\n", "timezone: Europe/Paris\n", ""},
      {"      id: id\n      at: {to: at, type: timestamptz}\n      v: v\n",
       "timezone: Europe/Paris\n", "column at is cast to timestamptz"},
  };
  for (const Case& c : cases) {
    auto m = Compile(Yaml("    columns:\n" + c.columns, c.top), src);
    ASSERT_TRUE(m.t) << c.columns << m.error;
    EXPECT_EQ(m.t->identity_why(), c.why) << c.columns;
    EXPECT_EQ(m.t->identity(), c.why.empty()) << c.columns;
  }
  auto added = Compile(Yaml("    columns:\n      id: id\n      at: at\n      v: v\n"
                            "    add:\n      origin: {value: old}\n"),
                       src);
  ASSERT_TRUE(added.t) << added.error;
  EXPECT_EQ(added.t->identity_why(), "it adds column origin");
  // A target column the mapping leaves to its default.
  TableSchema wider = src;
  wider.columns.push_back(Col("note", "text"));
  auto left = Compile(Yaml("    columns:\n      id: id\n      at: at\n      v: v\n"), src, &wider);
  ASSERT_TRUE(left.t) << left.error;
  EXPECT_EQ(left.t->identity_why(), "target column note is left to its default");
  Column generated = Col("twice", "bigint");
  generated.generated = true;
  TableSchema computed = src;
  computed.columns.push_back(generated);
  auto gen = Compile(Yaml("    columns:\n      id: id\n      at: at\n      v: v\n"), src, &computed);
  ASSERT_TRUE(gen.t) << gen.error;
  EXPECT_TRUE(gen.t->identity()) << gen.t->identity_why();
}

}  // namespace
}  // namespace tandem::mapping
