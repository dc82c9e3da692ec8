// Issue 11, item 8: values the loader used to take without a word (chunk_rows: 0, a repeated
// key, a map where a command belongs) are refused at load, with file:line, the key and what
// was expected.
#include <gtest/gtest.h>

#include <string>

#include "mapping/config.h"

namespace tandem::mapping {
namespace {

// A valid mapping with `extra` spliced in after the target line.
std::string Mapping(std::string_view extra, std::string_view columns = "      id: {to: id}\n") {
  return "source: sqlite:old.db\n"
         "target: sqlite:new.db\n" +
         std::string(extra) +
         "tables:\n"
         "  - source: t\n"
         "    columns:\n" +
         std::string(columns);
}

// The load error of `yaml`, or "" when it loads.
std::string LoadError(const std::string& yaml) {
  auto cfg = ParseConfig(yaml, "tandem.yaml");
  return cfg ? "" : cfg.error().message;
}

TEST(MappingValidation, TheBaseMappingLoads) { EXPECT_EQ(LoadError(Mapping("")), ""); }

TEST(MappingValidation, ZeroOrNegativeOrNonNumericRowCountsAreRefused) {
  for (std::string bad : {"0", "-5", "ten", "1.5", "[1]", "999999999999"}) {
    std::string e = LoadError(Mapping("options: {chunk_rows: " + bad + "}\n"));
    EXPECT_NE(e.find("tandem.yaml:3: options.chunk_rows: expected a whole number"),
              std::string::npos)
        << bad << ": " << e;
    e = LoadError(Mapping("options:\n  batch_rows: " + bad + "\n"));
    EXPECT_NE(e.find("tandem.yaml:4: options.batch_rows: expected a whole number"),
              std::string::npos)
        << bad << ": " << e;
  }
  auto cfg = ParseConfig(Mapping("options: {chunk_rows: 7, batch_rows: 3}\n"), "tandem.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->chunk_rows, 7);
  EXPECT_EQ(cfg->batch_rows, 3);
}

TEST(MappingValidation, SequenceHeadroomIsAWholeNumberFromZero) {
  for (std::string bad : {"-1", "lots", "2.5", "{a: 1}", "9999999999"}) {
    std::string e = LoadError(Mapping("options:\n  sequence_headroom: " + bad + "\n"));
    EXPECT_NE(e.find("tandem.yaml:4: options.sequence_headroom: expected a whole number from 0 to "
                     "1000000000"),
              std::string::npos)
        << bad << ": " << e;
  }
  auto def = ParseConfig(Mapping(""), "tandem.yaml");
  ASSERT_TRUE(def) << def.error().message;
  EXPECT_EQ(def->sequence_headroom, 1000);
  for (auto [text, want] : {std::pair{"0", 0}, std::pair{"25", 25}}) {
    auto cfg = ParseConfig(Mapping(std::string("options: {sequence_headroom: ") + text + "}\n"),
                           "tandem.yaml");
    ASSERT_TRUE(cfg) << cfg.error().message;
    EXPECT_EQ(cfg->sequence_headroom, want);
  }
}

TEST(MappingValidation, OptionsMustBeAMap) {
  std::string e = LoadError(Mapping("options: 5\n"));
  EXPECT_NE(e.find("tandem.yaml:3: options: expected a map"), std::string::npos) << e;
}

TEST(MappingValidation, ASecondSourceIsRefusedWithBothLines) {
  std::string e = LoadError(Mapping("source: sqlite:other.db\n"));
  EXPECT_NE(e.find("tandem.yaml:3: source: key given twice (first at line 1)"), std::string::npos)
      << e;
}

TEST(MappingValidation, ASecondToInAColumnIsRefused) {
  std::string e = LoadError(Mapping("", "      id: {to: id, to: other}\n"));
  EXPECT_NE(e.find("tandem.yaml:6: tables[0].columns.id.to: key given twice"), std::string::npos)
      << e;
  e = LoadError(Mapping("", "      id:\n        to: id\n        type: bigint\n        to: x\n"));
  EXPECT_NE(e.find("tandem.yaml:9: tables[0].columns.id.to: key given twice (first at line 7)"),
            std::string::npos)
      << e;
}

TEST(MappingValidation, RepeatedHooksAndOptionsAreRefused) {
  std::string e = LoadError(Mapping("hooks:\n  freeze: a\n  freeze: b\n"));
  EXPECT_NE(e.find("tandem.yaml:5: hooks.freeze: key given twice"), std::string::npos) << e;
  e = LoadError(Mapping("options: {chunk_rows: 5, chunk_rows: 6}\n"));
  EXPECT_NE(e.find("options.chunk_rows: key given twice"), std::string::npos) << e;
}

TEST(MappingValidation, AHookThatIsNotACommandIsRefused) {
  std::string e = LoadError(Mapping("hooks: {freeze: {x: 1}}\n"));
  EXPECT_NE(e.find("tandem.yaml:3: hooks.freeze: expected a shell command (one string), got a map"),
            std::string::npos)
      << e;
  e = LoadError(Mapping("hooks:\n  writes: [a, b]\n"));
  EXPECT_NE(e.find("tandem.yaml:4: hooks.writes: expected a shell command (one string), got a list"),
            std::string::npos)
      << e;
  e = LoadError(Mapping("hooks: reload\n"));
  EXPECT_NE(e.find("tandem.yaml:3: hooks: expected a map"), std::string::npos) << e;
}

TEST(MappingValidation, MapsWhereValuesBelongAreRefused) {
  std::string e = LoadError(Mapping("", "      id: {to: {a: 1}}\n"));
  EXPECT_NE(e.find("tables.t.columns.id.to: expected a single value, got a map"), std::string::npos)
      << e;
  e = LoadError(Mapping("", "      id: {to: id, default: [1, 2]}\n"));
  EXPECT_NE(e.find("tables.t.columns.id.default: expected a single value, got a list"),
            std::string::npos)
      << e;
  e = LoadError(Mapping("") + "    add:\n      extra: {value: {a: 1}}\n");
  EXPECT_NE(e.find("tables.t.add.extra.value: expected a single value, got a map"), std::string::npos)
      << e;
}

TEST(MappingValidation, ScalarsWhereListsBelongAreRefused) {
  std::string e = LoadError("source: sqlite:a.db\ntarget: sqlite:b.db\ntables: customers\n");
  EXPECT_NE(e.find("tandem.yaml:3: tables: expected a list of tables"), std::string::npos) << e;
  e = LoadError(Mapping("", "      id: {to: id, transform: trim}\n"));
  EXPECT_NE(e.find("tandem.yaml:6: tables.t.columns.id.transform: expected a list"),
            std::string::npos)
      << e;
  e = LoadError(Mapping("", "      id: {to: id}\n") + "    key: {id: 1}\n");
  EXPECT_NE(e.find("tables.t.key: expected a column name or a list of column names, got a map"),
            std::string::npos)
      << e;
  e = LoadError("source: sqlite:a.db\ntarget: sqlite:b.db\ntables:\n  - t\n");
  EXPECT_NE(e.find("tandem.yaml:4: tables[]: expected a map"), std::string::npos) << e;
}

}  // namespace
}  // namespace tandem::mapping
