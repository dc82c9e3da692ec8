#include <gtest/gtest.h>

#include "mapping/config.h"
#include "mapping/draft.h"
#include "mapping/transform.h"

namespace tandem::mapping {
namespace {

TableSchema Customers() {
  TableSchema t;
  t.name = "customers";
  auto col = [](std::string n, std::string_view type, bool nullable) {
    Column c;
    c.name = std::move(n);
    c.type = *ParsePortableType(type);
    c.nullable = nullable;
    return c;
  };
  t.columns = {col("id", "bigint", false), col("email", "text", true),
               col("full_name", "text", false), col("country", "text", true),
               col("legacy_flag", "integer", true)};
  t.primary_key = {"id"};
  return t;
}

constexpr char kGood[] = R"(source: sqlite:old.db
target: sqlite:new.db
tables:
  - source: customers
    target: customer
    columns:
      id: {to: id}
      email: {to: email, type: varchar(20), transform: [trim, lower], on_null: reject}
      full_name: name
      country: {to: country_code, map: {Canada: CA, "United States": US}, on_unmapped: reject}
      legacy_flag: {drop: "always 0 since 2019"}
    add:
      source_system: {value: legacy}
)";

TEST(Mapping, LoadsAndAppliesTransforms) {
  auto cfg = ParseConfig(kGood, "tandem.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  std::vector<std::string> problems;
  auto t = TableTransform::Compile(cfg->tables[0], Customers(), nullptr, problems);
  ASSERT_TRUE(t) << problems[0];
  EXPECT_EQ(t->source_columns(), (std::vector<std::string>{"id", "email", "full_name", "country"}));
  EXPECT_EQ(t->target_columns(),
            (std::vector<std::string>{"id", "email", "name", "country_code", "source_system"}));
  Row out;
  std::string reason;
  ASSERT_TRUE(t->Apply({Value::Int(1), Value::Text("  Ann@Example.COM "), Value::Text("Ann"),
                        Value::Text("Canada")},
                       out, reason))
      << reason;
  EXPECT_EQ(out[1], Value::Text("ann@example.com"));
  EXPECT_EQ(out[3], Value::Text("CA"));
  EXPECT_EQ(out[4], Value::Text("legacy"));

  EXPECT_FALSE(t->Apply({Value::Int(2), Value::Null(), Value::Text("B"), Value::Text("Canada")},
                        out, reason));
  EXPECT_EQ(reason, "email: NULL (on_null: reject)");
  EXPECT_FALSE(t->Apply({Value::Int(3), Value::Text("x@y"), Value::Text("C"), Value::Text("Narnia")},
                        out, reason));
  EXPECT_NE(reason.find("'Narnia' is not in its map"), std::string::npos) << reason;
  EXPECT_FALSE(t->Apply({Value::Int(4), Value::Text("a-very-long-address@example.com"),
                         Value::Text("D"), Value::Text("Canada")},
                        out, reason));
  EXPECT_NE(reason.find("email: value too long"), std::string::npos) << reason;
}

TEST(Mapping, RefusalsNameColumnProblemAndRule) {
  auto cfg = ParseConfig(kGood, "tandem.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  std::vector<std::string> problems;
  auto t = TableTransform::Compile(cfg->tables[0], Customers(), nullptr, problems);
  ASSERT_TRUE(t);
  Row out;
  Refusal why;
  auto refused = [&](Row in) { return !t->Apply(in, out, why); };
  ASSERT_TRUE(refused({Value::Int(2), Value::Null(), Value::Text("B"), Value::Text("Canada")}));
  EXPECT_EQ(why.column, "email");
  EXPECT_EQ(why.problem, Problem::kNullViolation);
  EXPECT_EQ(why.rule, "on_null: reject");
  ASSERT_TRUE(refused({Value::Int(3), Value::Text("x@y"), Value::Text("C"), Value::Text("Narnia")}));
  EXPECT_EQ(why.column, "country");
  EXPECT_EQ(ProblemName(why.problem), "unmapped_value");
  ASSERT_TRUE(refused({Value::Int(4), Value::Text("a-very-long-address@example.com"),
                       Value::Text("D"), Value::Text("Canada")}));
  EXPECT_EQ(why.problem, Problem::kTooLong);
  EXPECT_EQ(why.rule, "cast to varchar(20)");
  ASSERT_TRUE(refused({Value::Int(5), Value::Bytes("caf\xe9"), Value::Text("E"), Value::Text("Canada")}));
  EXPECT_EQ(why.problem, Problem::kInvalidEncoding);
  ASSERT_TRUE(refused({Value::Int(6), Value::Text("e@x"), Value::Null(), Value::Text("Canada")}));
  EXPECT_EQ(why.column, "full_name");
  EXPECT_EQ(why.problem, Problem::kNullViolation);
  EXPECT_EQ(why.rule, "NOT NULL");
}

TEST(Mapping, CoverageRuleNamesEveryUnmappedColumn) {
  std::string yaml = kGood;
  yaml.erase(yaml.find("      legacy_flag"), std::string("      legacy_flag: {drop: \"always 0 since 2019\"}\n").size());
  auto cfg = ParseConfig(yaml, "tandem.yaml");
  ASSERT_TRUE(cfg);
  auto all = CompileAll(*cfg, {Customers()}, {});
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code, Code::kInvalidArgument);
  EXPECT_NE(all.error().message.find("customers.legacy_flag is neither mapped nor dropped"),
            std::string::npos)
      << all.error().message;
}

TEST(Mapping, UnknownTableColumnAndTargetProblemsAreAllReported) {
  auto cfg = ParseConfig(R"(source: sqlite:a.db
target: sqlite:b.db
tables:
  - source: customers
    columns:
      id: {to: id}
      email: {to: email}
      full_name: {to: full_name}
      country: {to: country}
      legacy_flag: {to: legacy_flag}
      ghost: {to: ghost}
  - source: nowhere
    columns: {}
)", "m.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  TableSchema target = Customers();
  target.columns.pop_back();  // legacy_flag missing in the target
  Column extra;
  extra.name = "required_thing";
  extra.nullable = false;
  target.columns.push_back(extra);
  auto all = CompileAll(*cfg, {Customers()}, {target});
  ASSERT_FALSE(all);
  const std::string& m = all.error().message;
  EXPECT_NE(m.find("m.yaml:11: column customers.ghost does not exist in the source"), std::string::npos) << m;
  EXPECT_NE(m.find("table nowhere does not exist in the source"), std::string::npos) << m;
  EXPECT_NE(m.find("customers.legacy_flag -> customers.legacy_flag: the target table has no such column"), std::string::npos) << m;
  EXPECT_NE(m.find("customers.required_thing is NOT NULL without a default"), std::string::npos) << m;
}

TEST(Mapping, LoadErrorsPointAtFileLineAndKey) {
  auto bad = ParseConfig("source: sqlite:a.db\ntarget: sqlite:b.db\ntables:\n  - source: t\n"
                         "    columns:\n      a: {to: a, tranform: [trim]}\n      b: {to: b, type: varchr(3)}\n"
                         "      c: {}\n      d: {drop: \"\"}\n", "x.yaml");
  ASSERT_FALSE(bad);
  const std::string& m = bad.error().message;
  EXPECT_NE(m.find("x.yaml:6: tables.t.columns.a.tranform: unknown key"), std::string::npos) << m;
  EXPECT_NE(m.find("x.yaml:7: tables.t.columns.b.type: unknown type 'varchr(3)'"), std::string::npos) << m;
  EXPECT_NE(m.find("x.yaml:8: tables.t.columns.c: missing 'to:'"), std::string::npos) << m;
  EXPECT_NE(m.find("x.yaml:9: tables.t.columns.d.drop: a drop needs a reason"), std::string::npos) << m;
  auto syntax = ParseConfig("tables: [\n", "y.yaml");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find("y.yaml:"), std::string::npos);
}

TEST(Mapping, ImpossibleCastAndTransformedKeyAreRefused) {
  auto cfg = ParseConfig(R"(source: sqlite:a.db
target: sqlite:b.db
tables:
  - source: customers
    columns:
      id: {to: id, transform: [trim]}
      email: {to: email}
      full_name: {to: full_name}
      country: {to: country}
      legacy_flag: {to: legacy_flag, type: date}
)", "m.yaml");
  ASSERT_TRUE(cfg);
  auto all = CompileAll(*cfg, {Customers()}, {});
  ASSERT_FALSE(all);
  EXPECT_NE(all.error().message.find("integer can never become date"), std::string::npos)
      << all.error().message;
  EXPECT_NE(all.error().message.find("key column customers.id cannot be transformed"),
            std::string::npos);
}

TEST(Mapping, LooseColumnsAreDraftedFromWhatTheyStore) {
  auto col = [](std::string_view declared, std::string_view portable) {
    Column c;
    c.name = "c";
    c.engine_type = std::string(declared);
    c.type = *ParsePortableType(portable);
    c.loose_type = true;
    return c;
  };
  auto kind_of = [](const std::optional<StoredTypeChoice>& c) {
    return c ? c->type.ToString() : std::string("(declared)");
  };
  Column untyped = col("", "bytes");
  EXPECT_EQ(kind_of(TypeFromStoredClasses(untyped, {.integer = 3})), "bigint");
  EXPECT_EQ(kind_of(TypeFromStoredClasses(untyped, {.real = 3})), "double");
  EXPECT_EQ(kind_of(TypeFromStoredClasses(untyped, {.integer = 1, .real = 3})), "decimal");
  EXPECT_EQ(kind_of(TypeFromStoredClasses(untyped, {.integer = 1, .text = 1})), "text");
  EXPECT_EQ(kind_of(TypeFromStoredClasses(untyped, {})), "text");
  EXPECT_EQ(kind_of(TypeFromStoredClasses(untyped, {.blob = 2})), "(declared)");
  auto mixed = TypeFromStoredClasses(untyped, {.integer = 2, .text = 1, .blob = 1});
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->type.ToString(), "bytes");
  EXPECT_NE(mixed->why.find("2 integer value(s) cannot become bytes"), std::string::npos)
      << mixed->why;
  EXPECT_EQ(kind_of(TypeFromStoredClasses(col("ANY", "decimal"), {.integer = 1, .text = 1,
                                                                   .text_not_number = 1})),
            "text");

  // A declared type stays while most values fit it; the rest are counted in `why`.
  Column datetime = col("DATETIME", "timestamp");
  EXPECT_EQ(kind_of(TypeFromStoredClasses(datetime, {.text = 10})), "(declared)");
  auto some = TypeFromStoredClasses(datetime, {.integer = 1, .text = 9});
  ASSERT_TRUE(some);
  EXPECT_EQ(some->type.ToString(), "timestamp");
  EXPECT_NE(some->why.find("1 of 10 value(s) cannot become timestamp"), std::string::npos)
      << some->why;
  EXPECT_EQ(kind_of(TypeFromStoredClasses(datetime, {.integer = 10})), "bigint");
  // Number-like text in a number column may be NaN or Infinity: it stays a number.
  Column real = col("DOUBLE", "double");
  EXPECT_EQ(kind_of(TypeFromStoredClasses(real, {.real = 5, .text = 1})), "(declared)");
  Column string = col("STRING", "decimal");
  EXPECT_EQ(kind_of(TypeFromStoredClasses(string, {.integer = 1, .text = 4, .text_not_number = 4})),
            "text");
  auto few_words = TypeFromStoredClasses(string, {.integer = 4, .text = 1, .text_not_number = 1});
  ASSERT_TRUE(few_words);
  EXPECT_EQ(few_words->type.ToString(), "decimal");
  EXPECT_NE(few_words->why.find("1 of 5 value(s) cannot become decimal"), std::string::npos)
      << few_words->why;
}

TEST(Mapping, DraftListsEveryColumnAndRoundTrips) {
  TableSchema odd = Customers();
  odd.name = "order details";
  odd.columns[3].name = "yes";
  std::string yaml = DraftYaml("sqlite:a.db", "sqlite:b.db", {Customers(), odd});
  auto cfg = ParseConfig(yaml, "draft.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message << "\n" << yaml;
  ASSERT_EQ(cfg->tables.size(), 2u);
  EXPECT_EQ(cfg->tables[1].source, "order details");
  EXPECT_EQ(cfg->tables[1].columns[3].source, "yes");
  auto all = CompileAll(*cfg, {Customers(), odd}, {});
  EXPECT_TRUE(all) << all.error().message;
}

}  // namespace
}  // namespace tandem::mapping
