// The engine suite: cases every engine must pass, written only against the Engine interface.
// Each engine runs them through INSTANTIATE_TEST_SUITE_P in its <engine>_instance_test.cc.
// Designated initializers leave the other members at their defaults, which is the point.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "engine_suite.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/canonical.h"
#include "tandem/change_source.h"
#include "tandem/engine.h"

namespace tandem::testing {
namespace {

// Asserts that a Status or Result succeeded, printing its error otherwise.
#define ASSERT_OK(expr)                                   \
  do {                                                    \
    const auto& _r = (expr);                              \
    ASSERT_TRUE(_r.has_value()) << _r.error().ToString(); \
  } while (0)

PortableType T(std::string_view name) {
  auto t = ParsePortableType(name);
  EXPECT_TRUE(t.has_value()) << name;
  return t.value_or(PortableType{});
}

Column Col(std::string name, std::string_view type, bool nullable = true) {
  return Column{.name = std::move(name), .type = T(type), .nullable = nullable};
}

// Reads every row of a scan, checking the batch contract on the way.
std::vector<Row> ScanAll(Engine& e, const ScanRequest& req, size_t* batches = nullptr) {
  auto reader = e.Scan(req);
  EXPECT_TRUE(reader.has_value()) << reader.error().ToString();
  if (!reader) return {};
  std::vector<Row> out, batch;
  size_t n = 0;
  bool short_seen = false;
  while ((*reader)->Next(batch)) {
    EXPECT_FALSE(batch.empty()) << "Next() returned true with an empty batch";
    EXPECT_LE(batch.size(), req.batch_rows);
    // Only the last batch may be short.
    EXPECT_FALSE(short_seen) << "a short batch was followed by another";
    short_seen = batch.size() < req.batch_rows;
    out.insert(out.end(), batch.begin(), batch.end());
    ++n;
  }
  auto st = (*reader)->status();
  EXPECT_TRUE(st.has_value()) << st.error().ToString();
  if (batches) *batches = n;
  return out;
}

// A table (id bigint primary key, v text) holding ids 1..n in shuffled write order.
void MakeNumbers(Engine& e, const std::string& table, int n) {
  TableSchema t{.name = table, .columns = {Col("id", "bigint", false), Col("v", "text")}};
  t.primary_key = {"id"};
  auto created = e.CreateTable(t);
  ASSERT_TRUE(created.has_value()) << created.error().ToString();
  std::vector<Row> rows;
  for (int i = 1; i <= n; ++i) {
    rows.push_back({Value::Int(i), Value::Text("v" + std::to_string(i))});
  }
  std::shuffle(rows.begin(), rows.end(), std::mt19937(42));
  auto st = e.Write(table, {"id", "v"}, {"id"}, rows, WriteMode::kInsert);
  ASSERT_TRUE(st.has_value()) << st.error().ToString();
}

std::vector<int64_t> Ids(Engine& e, const std::string& table, KeyRange range = {},
                         size_t batch = 100) {
  ScanRequest req{
      .table = table, .columns = {"id", "v"}, .key = {"id"}, .range = range, .batch_rows = batch};
  std::vector<int64_t> ids;
  for (const auto& r : ScanAll(e, req)) {
    auto v = CastTo(r[0], T("bigint"));
    EXPECT_TRUE(v.has_value());
    ids.push_back(v ? v->as_int() : -1);
  }
  return ids;
}

int64_t CountAll(Engine& e, const std::string& table, KeyRange range = {}) {
  auto n = e.Count(table, {"id"}, range);
  EXPECT_TRUE(n.has_value()) << n.error().ToString();
  return n.value_or(-1);
}

std::vector<int64_t> Seq(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t i = from; i <= to; ++i) out.push_back(i);
  return out;
}

KeyRange Range(std::optional<int64_t> lower, std::optional<int64_t> upper) {
  KeyRange r;
  if (lower) r.lower = Row{Value::Int(*lower)};
  if (upper) r.upper = Row{Value::Int(*upper)};
  return r;
}

TEST_P(EngineSuite, CreateTableWithEveryPortableTypeThenIntrospectFindsIt) {
  TableSchema t{.name = "every_type"};
  const std::vector<std::pair<std::string, std::string>> types = {
      {"id", "bigint"},      {"b", "bool"},          {"i2", "smallint"},    {"i4", "integer"},
      {"f", "double"},       {"d", "decimal(12,2)"}, {"vc", "varchar(64)"}, {"tx", "text"},
      {"by", "bytes"},       {"dt", "date"},         {"tm", "time"},        {"ts", "timestamp"},
      {"tz", "timestamptz"}, {"js", "json"},         {"uu", "uuid"},
  };
  for (const auto& [name, type] : types) t.columns.push_back(Col(name, type, name != "id"));
  t.columns.push_back(Col("required", "text", false));
  t.primary_key = {"id"};
  auto st = engine_->CreateTable(t);
  ASSERT_TRUE(st.has_value()) << st.error().ToString();

  auto schemas = engine_->Introspect();
  ASSERT_TRUE(schemas.has_value()) << schemas.error().ToString();
  auto it = std::find_if(schemas->begin(), schemas->end(),
                         [](const TableSchema& s) { return s.name == "every_type"; });
  ASSERT_NE(it, schemas->end());
  EXPECT_EQ(it->primary_key, std::vector<std::string>{"id"});
  ASSERT_EQ(it->columns.size(), t.columns.size());
  for (size_t i = 0; i < t.columns.size(); ++i) {
    const Column& want = t.columns[i];
    const Column* got = it->Find(want.name);
    ASSERT_NE(got, nullptr) << want.name;
    EXPECT_EQ(got->type.kind, want.type.kind)
        << want.name << ": declared " << want.type.ToString() << ", introspected as "
        << got->type.ToString() << " (" << got->engine_type << ")";
    if (want.type.kind == Kind::kDecimal) {
      EXPECT_EQ(got->type.precision, 12);
      EXPECT_EQ(got->type.scale, 2);
    }
    if (want.name == "vc") {
      EXPECT_EQ(got->type.length, 64);
    }
    EXPECT_FALSE(got->generated) << want.name;
  }
  EXPECT_FALSE(it->Find("required")->nullable);
  EXPECT_TRUE(it->Find("tx")->nullable);
  // Tandem's own tables never show up.
  for (const auto& s : *schemas) EXPECT_FALSE(s.name.starts_with("_tandem_")) << s.name;
}

TEST_P(EngineSuite, WriteInsertUpsertAndInsertIfAbsent) {
  MakeNumbers(*engine_, "kv", 0);
  auto write = [&](std::vector<Row> rows, WriteMode mode) {
    return engine_->Write("kv", {"id", "v"}, {"id"}, rows, mode);
  };
  ASSERT_OK(write({{Value::Int(1), Value::Text("a")}, {Value::Int(2), Value::Text("b")}},
                  WriteMode::kInsert));
  // A duplicate key fails, and nothing of that call lands.
  auto dup = write({{Value::Int(3), Value::Text("c")}, {Value::Int(1), Value::Text("x")}},
                   WriteMode::kInsert);
  ASSERT_FALSE(dup.has_value());
  EXPECT_NE(dup.error().message.find("kv"), std::string::npos) << dup.error().message;
  EXPECT_EQ(CountAll(*engine_, "kv"), 2);

  ASSERT_OK(write({{Value::Int(2), Value::Text("b2")}, {Value::Int(3), Value::Text("c")}},
                  WriteMode::kUpsert));
  ASSERT_OK(write({{Value::Int(3), Value::Text("ignored")}, {Value::Int(4), Value::Text("d")}},
                  WriteMode::kInsertIfAbsent));
  auto rows = engine_->Fetch("kv", {"id", "v"}, {"id"},
                             {{Value::Int(1)}, {Value::Int(2)}, {Value::Int(3)}, {Value::Int(4)}});
  ASSERT_TRUE(rows.has_value()) << rows.error().ToString();
  std::map<int64_t, std::string> got;
  for (const auto& r : *rows) got[CastTo(r[0], T("bigint"))->as_int()] = r[1].ToString();
  std::map<int64_t, std::string> want = {{1, "a"}, {2, "b2"}, {3, "c"}, {4, "d"}};
  EXPECT_EQ(got, want);
}

TEST_P(EngineSuite, ScanInBatchesOfSevenReturnsEveryRowOnceInKeyOrder) {
  MakeNumbers(*engine_, "numbers", 1000);
  size_t batches = 0;
  ScanRequest req{.table = "numbers", .columns = {"v", "id"}, .key = {"id"}, .batch_rows = 7};
  auto rows = ScanAll(*engine_, req, &batches);
  ASSERT_EQ(rows.size(), 1000u);
  EXPECT_EQ(batches, (1000 + 6) / 7);
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(CastTo(rows[i][1], T("bigint"))->as_int(), static_cast<int64_t>(i + 1));
    ASSERT_EQ(rows[i][0].ToString(), "v" + std::to_string(i + 1));
  }
}

// Scans that share ScanRequest::spare_rows (one job's scans of many ranges and tables) read
// the same rows as scans that do not, and build no row while the spare holds one: rows taken
// off a short batch or at a range's end are refilled by the next batch. Tables of two and
// three columns share the spare, so a refilled row changes its width too.
TEST_P(EngineSuite, ScansSharingSpareRowsReadTheSameRowsAndBuildNoneTheyCanRefill) {
  MakeNumbers(*engine_, "numbers", 500);
  TableSchema wide{.name = "wide", .columns = {Col("id", "bigint", false), Col("a", "text"), Col("b", "bigint")}};
  wide.primary_key = {"id"};
  ASSERT_OK(engine_->CreateTable(wide));
  std::vector<Row> wide_rows;
  for (int i = 1; i <= 150; ++i) {
    wide_rows.push_back({Value::Int(i), i % 7 ? Value::Text(std::string(i % 40, 'w')) : Value::Null(), Value::Int(i * 3)});
  }
  ASSERT_OK(engine_->Write("wide", {"id", "a", "b"}, {"id"}, wide_rows, WriteMode::kInsert));
  struct Part {
    std::string table;
    std::vector<std::string> columns;
    KeyRange range;
  };
  auto upto = [](int64_t lo, int64_t hi) {
    KeyRange r;
    if (lo > 0) r.lower = Row{Value::Int(lo)};
    if (hi > 0) r.upper = Row{Value::Int(hi)};
    return r;
  };
  // Ranges whose sizes are no multiple of the batch, so most end on a short batch.
  std::vector<Part> parts = {{"numbers", {"id", "v"}, upto(0, 130)},
                             {"numbers", {"id", "v"}, upto(130, 131)},
                             {"wide", {"id", "a", "b"}, upto(0, 95)},
                             {"numbers", {"id", "v"}, upto(131, 400)},
                             {"wide", {"id", "a", "b"}, upto(95, 0)},
                             {"numbers", {"id", "v"}, upto(400, 0)}};
  constexpr size_t kBatch = 32;
  for (bool exclusive : {false, true}) {
    std::vector<Row> spare, batch;
    size_t most = 0;  // rows in the batch and the spare together, at most
    for (const auto& part : parts) {
      ScanRequest plain{.table = part.table, .columns = part.columns, .key = {"id"},
                        .range = part.range, .batch_rows = kBatch, .exclusive = exclusive};
      auto want = ScanAll(*engine_, plain);
      ScanRequest shared = plain;
      shared.spare_rows = &spare;
      auto reader = engine_->Scan(shared);
      ASSERT_TRUE(reader.has_value()) << reader.error().ToString();
      std::vector<Row> got;
      while ((*reader)->Next(batch)) {
        got.insert(got.end(), batch.begin(), batch.end());
        // A row is built only when the spare has none: batch + spare never grows past the
        // largest batch.
        EXPECT_LE(batch.size() + spare.size(), kBatch) << part.table << " exclusive " << exclusive;
        most = std::max(most, batch.size() + spare.size());
      }
      ASSERT_OK((*reader)->status());
      EXPECT_TRUE(batch.empty()) << "Next() returned false with rows in the batch";
      EXPECT_EQ(spare.size(), most) << "rows at a range's end were freed, not kept";
      ASSERT_EQ(got, want) << part.table << " exclusive " << exclusive;
    }
    EXPECT_EQ(most, kBatch);
  }
}

// Batches are capped in bytes as well as rows (ScanRequest::batch_bytes): a batch passes the cap
// only by its last row, and a row larger than the cap travels alone. Both the paged reader and
// the streaming one (exclusive) are checked.
TEST_P(EngineSuite, ScanBatchesStopAtTheByteCapAndAHugeRowTravelsAlone) {
  TableSchema t{.name = "blobs", .columns = {Col("id", "bigint", false), Col("b", "bytes")}};
  t.primary_key = {"id"};
  ASSERT_OK(engine_->CreateTable(t));
  constexpr size_t kCap = 1 << 20;
  auto size_of = [](int64_t id) -> size_t { return id == 20 ? 3 * kCap : (id > 30 ? kCap + 7 : 100000); };
  for (int64_t id = 1; id <= 36; ++id) {
    ASSERT_OK(engine_->Write("blobs", {"id", "b"}, {"id"},
                             {{Value::Int(id), Value::Bytes(std::string(size_of(id), char('a' + id % 26)))}},
                             WriteMode::kInsert));
  }
  for (bool exclusive : {false, true}) {
    ScanRequest req{.table = "blobs", .columns = {"id", "b"}, .key = {"id"}, .batch_rows = 1000,
                    .exclusive = exclusive, .batch_bytes = kCap};
    auto reader = engine_->Scan(req);
    ASSERT_TRUE(reader.has_value()) << reader.error().ToString();
    std::vector<Row> batch;
    std::vector<std::vector<int64_t>> batches;
    while ((*reader)->Next(batch)) {
      ASSERT_FALSE(batch.empty());
      size_t before_last = 0;
      std::vector<int64_t> ids;
      for (size_t i = 0; i < batch.size(); ++i) {
        if (i + 1 < batch.size()) before_last += RowBytes(batch[i]);
        ids.push_back(CastTo(batch[i][0], T("bigint"))->as_int());
        ASSERT_EQ(batch[i][1].as_str().size(), size_of(ids.back())) << "row " << ids.back();
      }
      EXPECT_LT(before_last, kCap) << "a batch went past the cap before its last row (exclusive "
                                   << exclusive << ", rows " << ids.front() << ".." << ids.back() << ")";
      batches.push_back(ids);
    }
    ASSERT_OK((*reader)->status());
    std::vector<int64_t> all;
    for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
    EXPECT_EQ(all, Seq(1, 36)) << "exclusive " << exclusive;
    // 100 KB rows: about ten to a batch; the 3 MB row ends its batch; each row over the cap
    // (31..36) is a batch of its own.
    for (const auto& b : batches) {
      if (b.back() == 20) continue;
      if (b.front() > 30) {
        EXPECT_EQ(b.size(), 1u) << "row " << b.front() << " over the cap shared a batch";
      }
    }
    for (const auto& b : batches) {
      if (std::find(b.begin(), b.end(), 20) != b.end()) {
        EXPECT_EQ(b.back(), 20);
      }
      if (b.back() < 20) {
        EXPECT_GE(b.size(), 5u) << "batches of small rows are not cut short";
      }
    }
  }
}

TEST_P(EngineSuite, ScanRangesAreLowerExclusiveUpperInclusive) {
  MakeNumbers(*engine_, "numbers", 1000);
  EXPECT_EQ(Ids(*engine_, "numbers", Range(100, 200), 7), Seq(101, 200));
  EXPECT_EQ(Ids(*engine_, "numbers", Range(990, std::nullopt), 7), Seq(991, 1000));
  EXPECT_EQ(Ids(*engine_, "numbers", Range(std::nullopt, 10), 7), Seq(1, 10));
  EXPECT_EQ(Ids(*engine_, "numbers", Range(std::nullopt, 14), 7), Seq(1, 14));  // exact multiple
  EXPECT_TRUE(Ids(*engine_, "numbers", Range(500, 500), 7).empty());
  EXPECT_TRUE(Ids(*engine_, "numbers", Range(1000, std::nullopt), 7).empty());
  EXPECT_TRUE(Ids(*engine_, "numbers", Range(std::nullopt, 0), 7).empty());
  EXPECT_EQ(CountAll(*engine_, "numbers", Range(100, 200)), 100);
  EXPECT_EQ(CountAll(*engine_, "numbers", Range(std::nullopt, 10)), 10);
  EXPECT_EQ(CountAll(*engine_, "numbers"), 1000);
}

TEST_P(EngineSuite, CompositeTextKeyScansInKeyOrder) {
  TableSchema t{.name = "regions",
                .columns = {Col("region", "varchar(20)", false), Col("code", "varchar(20)", false),
                            Col("n", "bigint")}};
  t.primary_key = {"region", "code"};
  ASSERT_OK(engine_->CreateTable(t));
  // Lower-case ASCII letters and digits sort the same under every collation engines use.
  std::vector<std::string> regions = {"east", "north", "south", "west", "a"};
  std::vector<std::string> codes = {"a", "ab", "b", "b1", "c", "z9"};
  std::vector<Row> rows;
  int64_t n = 0;
  for (const auto& r : regions) {
    for (const auto& c : codes) rows.push_back({Value::Text(r), Value::Text(c), Value::Int(n++)});
  }
  std::shuffle(rows.begin(), rows.end(), std::mt19937(7));
  ASSERT_OK(engine_->Write("regions", {"region", "code", "n"}, {"region", "code"}, rows,
                           WriteMode::kInsert));
  std::vector<std::pair<std::string, std::string>> want;
  for (const auto& r : rows) want.emplace_back(r[0].as_str(), r[1].as_str());
  std::sort(want.begin(), want.end());

  auto keys_of = [&](KeyRange range) {
    ScanRequest req{.table = "regions",
                    .columns = {"region", "code", "n"},
                    .key = {"region", "code"},
                    .range = range,
                    .batch_rows = 4};
    std::vector<std::pair<std::string, std::string>> got;
    for (const auto& r : ScanAll(*engine_, req)) got.emplace_back(r[0].ToString(), r[1].ToString());
    return got;
  };
  EXPECT_EQ(keys_of({}), want);

  // (north, b) exclusive .. (south, b1) inclusive.
  KeyRange range{.lower = Row{Value::Text("north"), Value::Text("b")},
                 .upper = Row{Value::Text("south"), Value::Text("b1")}};
  std::vector<std::pair<std::string, std::string>> inside;
  for (const auto& k : want) {
    if (k > std::pair<std::string, std::string>("north", "b") &&
        k <= std::pair<std::string, std::string>("south", "b1")) {
      inside.push_back(k);
    }
  }
  EXPECT_EQ(keys_of(range), inside);
  auto c = engine_->Count("regions", {"region", "code"}, range);
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(*c, static_cast<int64_t>(inside.size()));

  auto fetched = engine_->Fetch("regions", {"n", "region", "code"}, {"region", "code"},
                                {{Value::Text("west"), Value::Text("z9")},
                                 {Value::Text("west"), Value::Text("nope")},
                                 {Value::Text("a"), Value::Text("a")}});
  ASSERT_TRUE(fetched.has_value()) << fetched.error().ToString();
  EXPECT_EQ(fetched->size(), 2u);
}

TEST_P(EngineSuite, ReservedAndOddNamesAreQuotedEverywhere) {
  const std::string table = "order details";
  TableSchema t{.name = table,
                .columns = {Col("select", "bigint", false), Col("group", "text"),
                            Col("unit price", "decimal(10,2)"), Col("qu\"ote", "text")}};
  t.primary_key = {"select"};
  auto st = engine_->CreateTable(t);
  ASSERT_TRUE(st.has_value()) << st.error().ToString();
  std::vector<std::string> cols = {"select", "group", "unit price", "qu\"ote"};
  std::vector<Row> rows;
  for (int i = 1; i <= 20; ++i) {
    rows.push_back({Value::Int(i), Value::Text("g"), Value::Decimal("1.50"), Value::Text("o'k")});
  }
  ASSERT_OK(engine_->Write(table, cols, {"select"}, rows, WriteMode::kInsert));
  ASSERT_OK(engine_->Write(table, cols, {"select"}, {rows[0]}, WriteMode::kUpsert));
  ASSERT_OK(engine_->Write(table, cols, {"select"}, {rows[0]}, WriteMode::kInsertIfAbsent));
  ScanRequest req{.table = table,
                  .columns = cols,
                  .key = {"select"},
                  .range = {.lower = Row{Value::Int(5)}},
                  .batch_rows = 4};
  auto got = ScanAll(*engine_, req);
  ASSERT_EQ(got.size(), 15u);
  EXPECT_EQ(CastTo(got[0][2], T("decimal(10,2)"))->as_str(), "1.50");
  EXPECT_EQ(got[0][3].ToString(), "o'k");
  auto split = engine_->Split(table, {"select"}, 4);
  ASSERT_TRUE(split.has_value()) << split.error().ToString();
  EXPECT_EQ(split->size(), 3u);
  ASSERT_OK(engine_->Remove(table, {"select"}, {{Value::Int(1)}}));
  ASSERT_OK(engine_->RemoveRange(table, {"select"}, {.upper = Row{Value::Int(5)}}));
  auto n = engine_->Count(table, {"select"}, {});
  ASSERT_TRUE(n.has_value()) << n.error().ToString();
  EXPECT_EQ(*n, 15);
  auto fetched = engine_->Fetch(table, cols, {"select"}, {{Value::Int(6)}});
  ASSERT_TRUE(fetched.has_value()) << fetched.error().ToString();
  EXPECT_EQ(fetched->size(), 1u);
  auto schemas = engine_->Introspect();
  ASSERT_TRUE(schemas.has_value()) << schemas.error().ToString();
  bool found = false;
  for (const auto& s : *schemas) {
    if (s.name != table) continue;
    found = true;
    EXPECT_EQ(s.primary_key, std::vector<std::string>{"select"});
    EXPECT_NE(s.Find("qu\"ote"), nullptr);
  }
  EXPECT_TRUE(found);
}

TEST_P(EngineSuite, SplitReturnsAscendingBoundariesThatPartitionTheRows) {
  MakeNumbers(*engine_, "numbers", 1000);
  for (int n : {2, 4, 7, 16}) {
    auto b = engine_->Split("numbers", {"id"}, n);
    ASSERT_TRUE(b.has_value()) << b.error().ToString();
    ASSERT_LE(b->size(), static_cast<size_t>(n - 1));
    ASSERT_GE(b->size(), static_cast<size_t>(n - 1) / 2) << "too few boundaries for n=" << n;
    std::vector<int64_t> bounds;
    for (const auto& k : *b) {
      ASSERT_EQ(k.size(), 1u);
      bounds.push_back(CastTo(k[0], T("bigint"))->as_int());
    }
    EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));
    EXPECT_EQ(std::adjacent_find(bounds.begin(), bounds.end()), bounds.end());
    int64_t total = 0;
    std::optional<int64_t> lower;
    for (size_t i = 0; i <= bounds.size(); ++i) {
      std::optional<int64_t> upper;
      if (i < bounds.size()) upper = bounds[i];
      int64_t c = CountAll(*engine_, "numbers", Range(lower, upper));
      EXPECT_GT(c, 1000 / n / 2) << "chunk " << i << " of " << n << " is small";
      EXPECT_LT(c, 1000 / n * 2) << "chunk " << i << " of " << n << " is large";
      total += c;
      lower = upper;
    }
    EXPECT_EQ(total, 1000);
  }
  auto one = engine_->Split("numbers", {"id"}, 1);
  ASSERT_TRUE(one.has_value());
  EXPECT_TRUE(one->empty());
}

// More rows than a split keeps keys for (SQLite and MariaDB keep every step-th key of a pass
// that does not count first): the chunks still hold about equal counts (within the sampling
// step: MariaDB keeps 4 keys a chunk, SQLite 64), and every row falls in one.
TEST_P(EngineSuite, SplitOfALargerTableGivesChunksOfAboutEqualCounts) {
  const int rows = 40000;
  MakeNumbers(*engine_, "many", rows);
  for (int n : {3, 7}) {
    auto b = engine_->Split("many", {"id"}, n);
    ASSERT_TRUE(b.has_value()) << b.error().ToString();
    ASSERT_EQ(b->size(), static_cast<size_t>(n - 1));
    int64_t total = 0;
    std::optional<int64_t> lower;
    for (size_t i = 0; i <= b->size(); ++i) {
      std::optional<int64_t> upper;
      if (i < b->size()) upper = CastTo((*b)[i][0], T("bigint"))->as_int();
      if (lower && upper) {
        ASSERT_LT(*lower, *upper);
      }
      int64_t c = CountAll(*engine_, "many", Range(lower, upper));
      EXPECT_NEAR(static_cast<double>(c), static_cast<double>(rows) / n, 0.3 * rows / n)
          << "chunk " << i << " of " << n;
      total += c;
      lower = upper;
    }
    EXPECT_EQ(total, rows);
  }
}

TEST_P(EngineSuite, SplitOfSmallAndEmptyTables) {
  MakeNumbers(*engine_, "empty", 0);
  auto b = engine_->Split("empty", {"id"}, 8);
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_TRUE(b->empty());
  MakeNumbers(*engine_, "three", 3);
  b = engine_->Split("three", {"id"}, 8);
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_LE(b->size(), 2u);
  for (size_t i = 1; i < b->size(); ++i) EXPECT_LT((*b)[i - 1], (*b)[i]);
}

TEST_P(EngineSuite, FetchPresentAndAbsentKeys) {
  MakeNumbers(*engine_, "numbers", 1200);
  auto rows =
      engine_->Fetch("numbers", {"v", "id"}, {"id"},
                     {{Value::Int(5)}, {Value::Int(99999)}, {Value::Int(7)}, {Value::Int(5)}});
  ASSERT_TRUE(rows.has_value()) << rows.error().ToString();
  std::vector<std::string> got;
  for (const auto& r : *rows) got.push_back(r[0].ToString());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"v5", "v7"}));
  // More keys than one statement takes.
  std::vector<Row> many;
  for (int i = 1; i <= 1500; ++i) many.push_back({Value::Int(i)});
  rows = engine_->Fetch("numbers", {"id"}, {"id"}, many);
  ASSERT_TRUE(rows.has_value()) << rows.error().ToString();
  EXPECT_EQ(rows->size(), 1200u);
  rows = engine_->Fetch("numbers", {"id"}, {"id"}, {});
  ASSERT_TRUE(rows.has_value());
  EXPECT_TRUE(rows->empty());
}

TEST_P(EngineSuite, RemoveAndRemoveRange) {
  MakeNumbers(*engine_, "numbers", 100);
  ASSERT_OK(
      engine_->Remove("numbers", {"id"}, {{Value::Int(1)}, {Value::Int(2)}, {Value::Int(555)}}));
  EXPECT_EQ(CountAll(*engine_, "numbers"), 98);
  ASSERT_OK(engine_->RemoveRange("numbers", {"id"}, Range(10, 20)));
  EXPECT_EQ(CountAll(*engine_, "numbers"), 88);
  EXPECT_EQ(CountAll(*engine_, "numbers", Range(9, 21)), 2);  // 10 and 21 are left of 10..21
  ASSERT_OK(engine_->RemoveRange("numbers", {"id"}, Range(std::nullopt, 5)));
  ASSERT_OK(engine_->RemoveRange("numbers", {"id"}, Range(95, std::nullopt)));
  auto ids = Ids(*engine_, "numbers");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 6);
  EXPECT_EQ(ids.back(), 95);
  EXPECT_EQ(ids.size(), 5u + 75u);  // 6..10 and 21..95
  ASSERT_OK(engine_->RemoveRange("numbers", {"id"}, {}));
  EXPECT_EQ(CountAll(*engine_, "numbers"), 0);
}

TEST_P(EngineSuite, RollbackLeavesNothingAndCommitKeepsEverything) {
  MakeNumbers(*engine_, "numbers", 0);
  std::vector<Row> rows = {{Value::Int(1), Value::Text("a")}, {Value::Int(2), Value::Text("b")}};
  ASSERT_OK(engine_->Begin());
  EXPECT_FALSE(engine_->Begin().has_value()) << "nested Begin() must fail";
  ASSERT_OK(engine_->Write("numbers", {"id", "v"}, {"id"}, rows, WriteMode::kInsert));
  ASSERT_OK(engine_->Remove("numbers", {"id"}, {{Value::Int(1)}}));
  ASSERT_OK(engine_->Rollback());
  EXPECT_EQ(CountAll(*engine_, "numbers"), 0);

  ASSERT_OK(engine_->Begin());
  ASSERT_OK(engine_->Write("numbers", {"id", "v"}, {"id"}, rows, WriteMode::kInsert));
  // A failed call inside a transaction does not poison what came before it.
  EXPECT_FALSE(engine_->Write("numbers", {"id", "v"}, {"id"}, rows, WriteMode::kInsert));
  ASSERT_OK(engine_->Commit());
  EXPECT_EQ(CountAll(*engine_, "numbers"), 2);
  EXPECT_FALSE(engine_->Commit().has_value()) << "Commit() without Begin() must fail";
}

// The trigger ChangeSource on this engine, through its interface only: install, read after a
// position, last, pending (rows that exist), covers, prune, suppression of tandem's own
// writes (also inside a transaction), remove.
TEST_P(EngineSuite, ChangeSourceInstallReadLastPendingPruneSuppressRemove) {
  MakeNumbers(*engine_, "numbers", 0);
  auto opened = OpenChangeSource(*engine_);
  ASSERT_OK(opened);
  ChangeSource& cs = **opened;
  EXPECT_EQ(cs.method(), "triggers");
  // Before install: nothing recorded, nothing pending, and a read says capture is missing.
  auto last = cs.Last();
  ASSERT_OK(last);
  EXPECT_EQ(*last, Position{});
  auto pending = cs.Pending({});
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 0);
  auto missing = cs.Read({}, 10);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kFailedPrecondition) << missing.error().message;

  ASSERT_OK(cs.Install({{.table = "numbers", .key = {"id"}}}));
  ASSERT_OK(cs.Install({{.table = "numbers", .key = {"id"}}}));  // idempotent
  std::vector<Row> rows = {{Value::Int(1), Value::Text("a")},
                           {Value::Int(2), Value::Text("b")},
                           {Value::Int(3), Value::Text("c")}};
  ASSERT_OK(engine_->Write("numbers", {"id", "v"}, {"id"}, rows, WriteMode::kInsert));
  ASSERT_OK(engine_->Remove("numbers", {"id"}, {{Value::Int(3)}}));

  auto all = cs.Read({}, 100);
  ASSERT_OK(all);
  ASSERT_EQ(all->changes.size(), 4u) << Describe(all->changes);
  EXPECT_EQ(DescribeKeys(all->changes), "numbersI(1) numbersI(2) numbersI(3) numbersD(3) ");
  const std::vector<Change>& c = all->changes;
  EXPECT_EQ(all->upto, c.back().position);
  last = cs.Last();
  ASSERT_OK(last);
  EXPECT_EQ(*last, c.back().position);
  for (size_t i = 1; i < c.size(); ++i) {
    EXPECT_EQ(cs.Covers(c[i].position, c[i - 1].position).value_or(false), true) << i;
    EXPECT_EQ(cs.Covers(c[i - 1].position, c[i].position).value_or(true), false) << i;
  }
  EXPECT_EQ(cs.Covers(c[0].position, Position{}).value_or(false), true);
  EXPECT_EQ(cs.Covers(Position{"not a position"}, Position{}).error().code,
            Code::kInvalidArgument);

  // Read after a position, with a limit: upto stops at the last change returned.
  auto one = cs.Read(c[1].position, 1);
  ASSERT_OK(one);
  EXPECT_EQ(DescribeKeys(one->changes), "numbersI(3) ");
  EXPECT_EQ(one->upto, c[2].position);
  auto tail = cs.Read(c[3].position, 10);
  ASSERT_OK(tail);
  EXPECT_TRUE(tail->changes.empty());
  EXPECT_EQ(tail->upto, c[3].position);

  pending = cs.Pending({});
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 4);
  pending = cs.Pending(c[1].position);
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 2);

  // Prune forgets what was applied; Last still knows how far the history went.
  ASSERT_OK(cs.Prune(c[1].position));
  pending = cs.Pending({});
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 2);
  auto rest = cs.Read(c[1].position, 100);
  ASSERT_OK(rest);
  EXPECT_EQ(DescribeKeys(rest->changes), "numbersI(3) numbersD(3) ");
  ASSERT_OK(cs.Prune(c[3].position));
  last = cs.Last();
  ASSERT_OK(last);
  EXPECT_EQ(*last, c[3].position);
  pending = cs.Pending(c[3].position);
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 0);

  // tandem's own writes are not recorded, inside a transaction or not, even one rolled back.
  ASSERT_OK(cs.SuppressOwnWrites(true));
  ASSERT_OK(engine_->Write("numbers", {"id", "v"}, {"id"}, {{Value::Int(4), Value::Text("d")}},
                           WriteMode::kInsert));
  ASSERT_OK(engine_->Begin());
  ASSERT_OK(engine_->Write("numbers", {"id", "v"}, {"id"}, {{Value::Int(5), Value::Text("e")}},
                           WriteMode::kUpsert));
  ASSERT_OK(engine_->Commit());
  ASSERT_OK(engine_->Begin());
  ASSERT_OK(engine_->Remove("numbers", {"id"}, {{Value::Int(5)}}));
  ASSERT_OK(engine_->Rollback());
  ASSERT_OK(engine_->Remove("numbers", {"id"}, {{Value::Int(4)}}));
  pending = cs.Pending(c[3].position);
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 0);
  auto none = cs.Read(c[3].position, 100);
  ASSERT_OK(none);
  EXPECT_EQ(Describe(none->changes), "");
  ASSERT_OK(cs.SuppressOwnWrites(false));
  ASSERT_OK(engine_->Write("numbers", {"id", "v"}, {"id"}, {{Value::Int(6), Value::Text("f")}},
                           WriteMode::kInsert));
  auto after = cs.Read(c[3].position, 100);
  ASSERT_OK(after);
  EXPECT_EQ(DescribeKeys(after->changes), "numbersI(6) ");
  pending = cs.Pending(c[3].position);
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 1);

  // Remove takes every capture object away, twice is fine, and the rows stay.
  ASSERT_OK(cs.Remove());
  ASSERT_OK(cs.Remove());
  last = cs.Last();
  ASSERT_OK(last);
  EXPECT_EQ(*last, Position{});
  pending = cs.Pending({});
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 0);
  EXPECT_FALSE(cs.Read({}, 10).has_value());
  EXPECT_EQ(CountAll(*engine_, "numbers"), 4);  // 1, 2, 5 (its removal rolled back), 6
  auto tables = engine_->Introspect();
  ASSERT_OK(tables);
  for (const auto& t : *tables) EXPECT_FALSE(t.name.starts_with("_tandem")) << t.name;
}

// Writes each portable type's edge values and reads them back: what the engine stores may be
// another kind (SQLite reports storage classes), but cast to the column's type it is the value
// written.
TEST_P(EngineSuite, ValuesRoundTripThroughEveryPortableType) {
  struct Case {
    std::string column, type;
    std::vector<Value> values;
  };
  auto date = [](std::string_view s) { return Value::Date(*ParseDate(s)); };
  auto ts = [](std::string_view s) { return Value::Timestamp(*ParseTimestamp(s)); };
  auto tstz = [](std::string_view s) { return Value::TimestampTz(*ParseTimestamp(s)); };
  const std::vector<Case> cases = {
      {"b", "bool", {Value::Bool(true), Value::Bool(false)}},
      {"i2", "smallint", {Value::Int(-32768), Value::Int(32767)}},
      {"i8",
       "bigint",
       {Value::Int(std::numeric_limits<int64_t>::min()),
        Value::Int(std::numeric_limits<int64_t>::max()), Value::Int(0)}},
      {"f",
       "double",
       {Value::Float(1.5), Value::Float(-2.25e-300), Value::Float(1.0 / 3),
        Value::Float(std::numeric_limits<double>::max())}},
      {"d",
       "decimal(12,2)",
       {Value::Decimal("1234567890.12"), Value::Decimal("-0.50"), Value::Decimal("0.00")}},
      {"vc", "varchar(10)", {Value::Text("abc"), Value::Text("héllo 'x'")}},
      {"tx",
       "text",
       {Value::Text(""), Value::Text("multi\nline \"quoted\" ; DROP TABLE x; --"),
        Value::Text("日本語 🎉")}},
      {"by", "bytes", {Value::Bytes(std::string("\0\xff\x01 a", 5)), Value::Bytes("")}},
      {"dt", "date", {date("2024-02-29"), date("1900-01-01"), date("9999-12-31")}},
      {"tm", "time", {Value::Time(0), Value::Time(86399999999LL)}},
      {"ts",
       "timestamp",
       {ts("2024-02-29 12:34:56.123456"), ts("1970-01-01 00:00:00"), ts("1969-12-31 23:59:59.5")}},
      {"tz", "timestamptz", {tstz("2024-02-29 12:34:56.123456Z"), tstz("2000-01-01 00:00:00Z")}},
      {"js", "json", {Value::Json(R"({"a": [1, 2, {"b": null}], "c": "d"})"), Value::Json("[]")}},
      {"uu",
       "uuid",
       {Value::Uuid(*ParseUuid("123e4567-e89b-12d3-a456-426614174000")),
        Value::Uuid(std::string(16, '\xff'))}},
  };
  TableSchema t{.name = "round_trip", .columns = {Col("id", "bigint", false)}};
  t.primary_key = {"id"};
  size_t nrows = 0;
  for (const auto& c : cases) {
    t.columns.push_back(Col(c.column, c.type));
    nrows = std::max(nrows, c.values.size());
  }
  ASSERT_OK(engine_->CreateTable(t));
  std::vector<std::string> cols;
  for (const auto& c : t.columns) cols.push_back(c.name);
  // Row i holds each column's i-th value; columns with fewer values (and the last row) get NULL.
  std::vector<Row> rows;
  for (size_t i = 0; i <= nrows; ++i) {
    Row r = {Value::Int(static_cast<int64_t>(i))};
    for (const auto& c : cases) r.push_back(i < c.values.size() ? c.values[i] : Value::Null());
    rows.push_back(std::move(r));
  }
  auto st = engine_->Write("round_trip", cols, {"id"}, rows, WriteMode::kInsert);
  ASSERT_TRUE(st.has_value()) << st.error().ToString();
  ScanRequest req{.table = "round_trip", .columns = cols, .key = {"id"}, .batch_rows = 2};
  auto got = ScanAll(*engine_, req);
  ASSERT_EQ(got.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t k = 0; k < cases.size(); ++k) {
      const Value& want = rows[i][k + 1];
      const Value& read = got[i][k + 1];
      SCOPED_TRACE(cases[k].column + " row " + std::to_string(i) + ": wrote " + want.ToDisplay() +
                   ", read " + std::string(KindName(read.kind())) + " " + read.ToDisplay());
      auto cast = CastTo(read, T(cases[k].type));
      ASSERT_TRUE(cast.has_value()) << cast.error().ToString();
      if (want.kind() == Kind::kJson) {
        EXPECT_EQ(nlohmann::json::parse(cast->as_str()), nlohmann::json::parse(want.as_str()));
      } else {
        EXPECT_EQ(*cast, want);
      }
    }
  }
}

// Scan with `exclusive` lets an engine stream a whole range as one statement (PostgreSQL
// COPY, MariaDB one SELECT read with mysql_use_result), and bulk writes stream their rows
// (PostgreSQL binary COPY in pieces, MariaDB LOAD DATA): both must give back exactly what
// paged reads and plain inserts give, at the edges of every kind, and honour the range.
TEST_P(EngineSuite, ExclusiveScansAndBulkWritesKeepEdgeValuesAndRanges) {
  MakeNumbers(*engine_, "numbers", 1000);
  auto ids = [&](KeyRange range) {
    ScanRequest req{.table = "numbers", .columns = {"id", "v"}, .key = {"id"}, .range = range,
                    .batch_rows = 7, .exclusive = true};
    std::vector<int64_t> out;
    for (const auto& r : ScanAll(*engine_, req)) out.push_back(CastTo(r[0], T("bigint"))->as_int());
    return out;
  };
  EXPECT_EQ(ids(Range(100, 200)), Seq(101, 200));
  EXPECT_EQ(ids(Range(990, std::nullopt)), Seq(991, 1000));
  EXPECT_EQ(ids(Range(std::nullopt, 14)), Seq(1, 14));
  EXPECT_TRUE(ids(Range(500, 500)).empty());
  EXPECT_EQ(ids({}), Seq(1, 1000));

  auto ts = [](std::string_view s) { return Value::Timestamp(*ParseTimestamp(s)); };
  std::string long_text;
  while (long_text.size() < 300000) long_text += "long text é 日本 𝄞 ";
  TableSchema t{.name = "edges",
                .columns = {Col("id", "bigint", false), Col("tx", "text"), Col("vc", "varchar(40)"),
                            Col("by", "bytes"), Col("d", "decimal(20,6)"), Col("dt", "date"),
                            Col("ts", "timestamp"), Col("n", "int")}};
  t.primary_key = {"id"};
  ASSERT_OK(engine_->CreateTable(t));
  std::vector<std::string> cols = {"id", "tx", "vc", "by", "d", "dt", "ts", "n"};
  const std::vector<Row> edge = {
      {Value::Null(), Value::Null(), Value::Null(), Value::Null(), Value::Null(), Value::Null(),
       Value::Null()},
      {Value::Text(""), Value::Text(""), Value::Bytes(""), Value::Decimal("0.000000"),
       Value::Date(*ParseDate("1970-01-01")), ts("1970-01-01 00:00:00"), Value::Int(0)},
      {Value::Text("tab\there\nnewline \\ back'slash\"quote\r\\N"),
       Value::Text("𝄞🎉 four-byte ✓"), Value::Bytes(std::string("\0\xff\x80\x00\t\n\\N", 8)),
       Value::Decimal("-99999999999999.999999"), Value::Date(*ParseDate("0001-01-01")),
       ts("1999-12-31 23:59:59.999999"), Value::Int(-2147483648LL)},
      {Value::Text(long_text), Value::Text("\\N"), Value::Bytes(std::string(1000, '\xfe')),
       Value::Decimal("0.000001"), Value::Date(*ParseDate("9999-12-31")),
       ts("2024-02-29 12:34:56.5"), Value::Int(2147483647)},
  };
  // 600 rows of ~1 KB besides the edges: more than one piece of a streamed COPY, and enough
  // rows for MariaDB's LOAD DATA path.
  std::vector<Row> rows;
  for (int i = 0; i < 600; ++i) {
    Row r = {Value::Int(i)};
    if (i < static_cast<int>(edge.size())) {
      r.insert(r.end(), edge[i].begin(), edge[i].end());
    } else {
      r.insert(r.end(), {Value::Text(std::string(1000, 'a' + i % 26) + std::to_string(i)),
                         Value::Text("ü" + std::to_string(i)), Value::Bytes(std::to_string(i)),
                         Value::Decimal(std::to_string(i) + ".250000"),
                         Value::Date(i), ts("2001-02-03 04:05:06.000007"), Value::Int(i)});
    }
    rows.push_back(std::move(r));
  }
  ASSERT_OK(engine_->Write("edges", cols, {"id"}, rows, WriteMode::kInsert));
  for (bool exclusive : {true, false}) {
    SCOPED_TRACE(exclusive ? "exclusive scan" : "paged scan");
    ScanRequest req{.table = "edges", .columns = cols, .key = {"id"}, .batch_rows = 64,
                    .exclusive = exclusive};
    auto got = ScanAll(*engine_, req);
    ASSERT_EQ(got.size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      for (size_t c = 0; c < cols.size(); ++c) {
        auto cast = CastTo(got[i][c], t.columns[c].type);
        ASSERT_TRUE(cast.has_value()) << "row " << i << " " << cols[c] << ": " << cast.error().ToString();
        ASSERT_EQ(*cast, rows[i][c]) << "row " << i << " column " << cols[c] << ": read "
                                     << got[i][c].ToDisplay().substr(0, 200);
      }
    }
  }
}

}  // namespace

// Each engine instantiates EngineSuite in its own <engine>_instance_test.cc.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(EngineSuite);

}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// A one-row-per-value table (id bigint key, v `type`) holding `values` at ids 1, 2, ...
// The write's status: a value the engine refuses (MariaDB: -0, NaN) fails it.
Status MakeValues(Engine& e, const std::string& table, std::string_view type,
                  const std::vector<Value>& values) {
  TableSchema t{.name = table, .columns = {Col("id", "bigint", false), Col("v", type)}};
  t.primary_key = {"id"};
  TANDEM_RETURN_IF_ERROR(e.CreateTable(t));
  std::vector<Row> rows;
  for (size_t i = 0; i < values.size(); ++i) {
    rows.push_back({Value::Int(static_cast<int64_t>(i + 1)), values[i]});
  }
  return e.Write(table, {"id", "v"}, {"id"}, rows, WriteMode::kInsert);
}

// Range digests (Engine::DigestRange) against the record-by-record comparison verify makes:
// for each pair of values prone to collide in a row's text form, two one-row tables; whenever
// the values read back differ canonically (verify would report the row), their digests must
// differ, and a value digests like itself. SQLite offers no digests.
TEST_P(EngineSuite, RangeDigestsTellApartEveryPairTheRecordComparisonTellsApart) {
  auto form = engine_->DigestForm("nothing_here", {"id"});
  if (GetParam().name == "sqlite") {
    ASSERT_OK(form);
    EXPECT_EQ(*form, "");
    return;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Pair {
    std::string type;
    Value a, b;
  };
  std::vector<Pair> pairs = {
      {"text", Value::Null(), Value::Text("")},
      {"text", Value::Null(), Value::Text("NULL")},
      {"text", Value::Text(""), Value::Text("''")},
      {"text", Value::Text("a"), Value::Text("a ")},
      {"text", Value::Text("a"), Value::Text(" a")},
      {"text", Value::Text("a,b"), Value::Text("a\",\"b")},
      {"text", Value::Text("\"\""), Value::Text("")},
      {"text", Value::Text("x\\y"), Value::Text("x\\\\y")},
      {"text", Value::Text("a"), Value::Text("A")},
      {"text", Value::Text("é"), Value::Text("e\xcc\x81")},  // composed, decomposed
      {"varchar(10)", Value::Text("ab"), Value::Text("ab ")},
      {"bytes", Value::Bytes(std::string("\0", 1)), Value::Bytes("")},
      {"bytes", Value::Bytes("NULL"), Value::Null()},
      {"double", Value::Float(0.0), Value::Float(-0.0)},
      {"double", Value::Float(0.1), Value::Float(std::nextafter(0.1, 1.0))},
      {"double", Value::Float(1e300), Value::Float(inf)},
      {"double", Value::Float(nan), Value::Float(inf)},
      {"double", Value::Float(0.0), Value::Null()},
      {"bigint", Value::Int(1), Value::Int(4294967296)},  // equal 32-bit folds
      {"bigint", Value::Int(-1), Value::Int(0)},
      {"decimal(12,2)", Value::Decimal("1.50"), Value::Decimal("1.51")},
      {"decimal(12,2)", Value::Decimal("-0.01"), Value::Decimal("0.01")},
      {"timestamp", Value::Timestamp(1'000'000), Value::Timestamp(1'000'001)},
      {"timestamp(6)", Value::Timestamp(0), Value::Null()},
      {"timestamptz", Value::TimestampTz(1'000'000), Value::TimestampTz(1'000'001)},
      {"date", Value::Date(0), Value::Date(1)},
      {"time", Value::Time(1), Value::Time(0)},
      {"bool", Value::Bool(true), Value::Bool(false)},
      {"bool", Value::Bool(false), Value::Null()},
      {"json", Value::Json("{\"a\": 1}"), Value::Json("{\"a\": 2}")},
  };
  int n = 0, told_apart = 0;
  for (const auto& p : pairs) {
    SCOPED_TRACE(fmt::format("{}: {} vs {}", p.type, p.a.ToDisplay(), p.b.ToDisplay()));
    std::string ta = fmt::format("dg_a{}", n), tb = fmt::format("dg_b{}", n), tc = fmt::format("dg_c{}", n);
    ++n;
    // A value the engine refuses to store (MariaDB: -0, NaN, infinities) is no pair to check.
    if (engine_->ValueRefusal(p.a, T(p.type)) || engine_->ValueRefusal(p.b, T(p.type))) continue;
    auto wa = MakeValues(*engine_, ta, p.type, {p.a});
    auto wb = MakeValues(*engine_, tb, p.type, {p.b});
    if ((!wa && wa.error().code == Code::kInvalidArgument) ||
        (!wb && wb.error().code == Code::kInvalidArgument)) {
      continue;
    }
    ASSERT_OK(wa);
    ASSERT_OK(wb);
    ASSERT_OK(MakeValues(*engine_, tc, p.type, {p.a}));
    auto fa = engine_->DigestForm(ta, {"id", "v"});
    auto fb = engine_->DigestForm(tb, {"id", "v"});
    ASSERT_OK(fa);
    ASSERT_OK(fb);
    ASSERT_NE(*fa, "") << "no digest offered for " << p.type;
    ASSERT_EQ(*fa, *fb);
    auto da = engine_->DigestRange(ta, {"id", "v"}, {"id"}, KeyRange{});
    auto db = engine_->DigestRange(tb, {"id", "v"}, {"id"}, KeyRange{});
    auto dc = engine_->DigestRange(tc, {"id", "v"}, {"id"}, KeyRange{});
    ASSERT_OK(da);
    ASSERT_OK(db);
    ASSERT_OK(dc);
    EXPECT_EQ(da->rows, 1);
    EXPECT_EQ(*da, *dc) << "the same value digests differently";
    // What verify's record path sees: the values read back, compared canonically.
    auto ra = engine_->Fetch(ta, {"id", "v"}, {"id"}, {{Value::Int(1)}});
    auto rb = engine_->Fetch(tb, {"id", "v"}, {"id"}, {{Value::Int(1)}});
    ASSERT_OK(ra);
    ASSERT_OK(rb);
    ASSERT_EQ(ra->size(), 1u);
    ASSERT_EQ(rb->size(), 1u);
    bool record_differs = !CanonicalEqual((*ra)[0][1], (*rb)[0][1], T(p.type));
    if (record_differs) {
      EXPECT_NE(*da, *db) << "the digest misses a difference the record comparison reports";
      ++told_apart;
    }
  }
  EXPECT_GE(told_apart, 20) << "too few pairs survived the engine's storage to test anything";

  // Rows swapping values, and a range bound: the same rows digest alike, swapped ones not.
  ASSERT_OK(MakeValues(*engine_, "dg_swap1", "text", {Value::Text("x"), Value::Text("y"), Value::Text("z")}));
  ASSERT_OK(MakeValues(*engine_, "dg_swap2", "text", {Value::Text("y"), Value::Text("x"), Value::Text("z")}));
  auto s1 = engine_->DigestRange("dg_swap1", {"id", "v"}, {"id"}, KeyRange{});
  auto s2 = engine_->DigestRange("dg_swap2", {"id", "v"}, {"id"}, KeyRange{});
  ASSERT_OK(s1);
  ASSERT_OK(s2);
  EXPECT_EQ(s1->rows, 3);
  EXPECT_NE(*s1, *s2);
  auto r1 = engine_->DigestRange("dg_swap1", {"id", "v"}, {"id"}, Range(2, std::nullopt));
  auto r2 = engine_->DigestRange("dg_swap2", {"id", "v"}, {"id"}, Range(2, std::nullopt));
  ASSERT_OK(r1);
  ASSERT_OK(r2);
  EXPECT_EQ(r1->rows, 1);
  EXPECT_EQ(*r1, *r2) << "(2, ∞) holds id 3 = 'z' on both";
  auto e1 = engine_->DigestRange("dg_swap1", {"id", "v"}, {"id"}, Range(5, 9));
  ASSERT_OK(e1);
  EXPECT_EQ(e1->rows, 0);
}

}  // namespace
}  // namespace tandem::testing
