// The engine suite against PostgreSQL, plus what only PostgreSQL has: exact numeric and float
// edge values, time zones, capture seen from other connections with transactions committing
// out of seq order, suppression with session_replication_role, and connection errors.
//
// Needs the server from tests/servers/pg-up.sh (TANDEM_TEST_PG in $TANDEM_TEST_SERVERS/env).
// Every test gets a database of its own, dropped when the tests end. A missing or unreachable
// server fails the tests; it never skips them.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "engine_suite.h"
#include "engines/factories.h"
#include "engines/postgres/pg_connection.h"

namespace tandem::testing {
namespace {

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    auto _r = (expr);                                     \
    ASSERT_TRUE(_r.has_value()) << _r.error().ToString(); \
  } while (0)

using pg::PgConnection;

// The URI of `db` on the server that `admin` points at.
std::string WithDatabase(const std::string& admin, const std::string& db) {
  size_t host = admin.find("://");
  size_t slash = admin.find('/', host == std::string::npos ? 0 : host + 3);
  size_t query = admin.find('?');
  std::string base = admin.substr(0, std::min(slash, query));
  std::string params = query == std::string::npos ? "" : admin.substr(query);
  return base + "/" + db + params;
}

std::mutex created_mu;
std::vector<std::string>& Created() {
  static std::vector<std::string> dbs;
  return dbs;
}

// Drops every database this process created.
class DropTestDatabases : public ::testing::Environment {
 public:
  void TearDown() override {
    std::string admin = TestServerVar("TANDEM_TEST_PG");
    if (admin.empty()) return;
    auto conn = PgConnection::Open(admin, "");
    if (!conn) return;
    std::lock_guard lock(created_mu);
    for (const auto& db : Created()) {
      (void)conn->Exec("drop test database",
                       fmt::format("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db));
    }
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new DropTestDatabases);

// Creates an empty database and returns its URI.
Result<std::string> FreshDatabase() {
  std::string admin = TestServerVar("TANDEM_TEST_PG");
  if (admin.empty()) {
    return Fail(Code::kFailedPrecondition,
                "TANDEM_TEST_PG is not set: run `bash tests/servers/pg-up.sh DIR/pg > DIR/env` "
                "and set TANDEM_TEST_SERVERS=DIR");
  }
  static std::atomic<int> n{0};
  static const uint32_t salt = std::random_device{}();
  std::string db = fmt::format("t_{}_{:08x}_{}", ::getpid(), salt, n++);
  TANDEM_ASSIGN_OR_RETURN(PgConnection conn, PgConnection::Open(admin, ""));
  TANDEM_RETURN_IF_ERROR(conn.Exec("create test database", "CREATE DATABASE \"" + db + "\""));
  {
    std::lock_guard lock(created_mu);
    Created().push_back(db);
  }
  return WithDatabase(admin, db);
}

Result<std::unique_ptr<Engine>> OpenFresh() {
  TANDEM_ASSIGN_OR_RETURN(std::string uri, FreshDatabase());
  return OpenEngine(uri, "");
}

INSTANTIATE_TEST_SUITE_P(Postgres, EngineSuite,
                         ::testing::Values(EngineTarget{.name = "postgres",
                                                        .open_fresh = OpenFresh}),
                         [](const auto& info) { return info.param.name; });

PortableType T(std::string_view name) { return *ParsePortableType(name); }

// A fresh database with three connections: `tandem_` (the migration), `app_` (an engine the
// application could be) and raw SQL sessions for what an application does by hand.
class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = FreshDatabase();
    ASSERT_TRUE(uri.has_value()) << uri.error().ToString();
    uri_ = *uri;
    auto t = OpenEngine(uri_, "");
    ASSERT_TRUE(t.has_value()) << t.error().ToString();
    tandem_ = std::move(*t);
    auto cs = OpenChangeSource(*tandem_);
    ASSERT_TRUE(cs.has_value()) << cs.error().ToString();
    capture_ = std::move(*cs);
    auto a = OpenEngine(uri_, "");
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    app_ = std::move(*a);
    sql_ = Session();
  }

  PgConnection Session() {
    auto c = PgConnection::Open(uri_, "");
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    return c ? std::move(*c) : PgConnection();
  }

  void Sql(const std::string& sql) { Sql(sql_, sql); }
  static void Sql(PgConnection& c, const std::string& sql) {
    auto r = c.Exec("test sql", sql);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }

  std::vector<Change> Changes(int64_t after = 0, size_t limit = 1000) {
    auto c = capture_->Read(SeqPos(after), limit);
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    return c ? c->changes : std::vector<Change>{};
  }
  // The newest seq recorded, through the change source.
  Result<int64_t> LastSeq() {
    TANDEM_ASSIGN_OR_RETURN(Position p, capture_->Last());
    return SeqNum(p);
  }

  std::vector<Row> ScanAll(const std::string& table, const std::vector<std::string>& cols,
                           const std::vector<std::string>& key, bool exclusive = false) {
    auto reader = tandem_->Scan(
        {.table = table, .columns = cols, .key = key, .batch_rows = 3, .exclusive = exclusive});
    EXPECT_TRUE(reader.has_value()) << reader.error().ToString();
    if (!reader) return {};
    std::vector<Row> out, batch;
    while ((*reader)->Next(batch)) out.insert(out.end(), batch.begin(), batch.end());
    auto st = (*reader)->status();
    EXPECT_TRUE(st.has_value()) << st.error().ToString();
    return out;
  }

  void MakeItems() {
    Sql("CREATE TABLE \"order items\" (\"select\" bigint PRIMARY KEY, v text)");
    Sql("CREATE TABLE pairs (a text, b bigint, v text, PRIMARY KEY (a, b))");
  }
  Status Install() {
    return capture_->Install(
        {{.table = "order items", .key = {"select"}}, {.table = "pairs", .key = {"a", "b"}}});
  }

  std::string uri_;
  std::unique_ptr<Engine> tandem_, app_;
  std::unique_ptr<ChangeSource> capture_;  // on tandem_
  PgConnection sql_;
};

TEST_F(PostgresTest, EdgeValuesRoundTripExactly) {
  Sql("CREATE TABLE edge (id int PRIMARY KEY, f8 float8, f4 real, n numeric(65,30), "
      "b bytea, tz timestamptz, ts timestamp, d date, t text, j json, jb jsonb)");
  const double inf = std::numeric_limits<double>::infinity();
  const std::string big = "12345678901234567890123456789012345.123456789012345678901234567890";
  std::vector<std::string> cols = {"id", "f8", "f4", "n", "b", "tz", "ts", "d", "t", "j", "jb"};
  auto tz = [](std::string_view s) { return Value::TimestampTz(*ParseTimestamp(s)); };
  auto ts = [](std::string_view s) { return Value::Timestamp(*ParseTimestamp(s)); };
  auto date = [](std::string_view s) { return Value::Date(*ParseDate(s)); };
  std::vector<Row> rows = {
      {Value::Int(1), Value::Float(std::nan("")), Value::Float(1.5), Value::Decimal(big),
       Value::Bytes(std::string("\0\0a\0", 4)), tz("2024-03-10 02:30:00.000001Z"),
       ts("1999-12-31 23:59:59.999999"), date("2024-02-29"), Value::Text("🎉 👍🏽 \t\\ \n\r"),
       Value::Json("15.0"), Value::Json("{\"b\": 1, \"a\": 15.0}")},
      {Value::Int(2), Value::Float(inf), Value::Float(-inf),
       Value::Decimal("-0.000000000000000000000000000001"), Value::Bytes(""),
       tz("1900-01-01 00:00:00Z"), ts("-0043-03-15 12:00:00"), date("-0043-03-15"), Value::Text(""),
       Value::Json("{\"b\":1,  \"a\":2}"), Value::Json("[]")},
      {Value::Int(3), Value::Float(-inf), Value::Float(-0.0),
       Value::Decimal("0.000000000000000000000000000000"), Value::Bytes(std::string(1, '\0')),
       tz("2262-04-11 23:47:16.854775Z"), ts("0001-01-01 00:00:00"), date("0000-12-31"),
       Value::Text("\\N"), Value::Json("\"\\u00e9\""), Value::Json("null")},
      {Value::Int(4), Value::Float(-0.0), Value::Null(), Value::Null(), Value::Null(),
       Value::Null(), Value::Null(), Value::Null(), Value::Null(), Value::Null(), Value::Null()},
  };
  ASSERT_OK(tandem_->Write("edge", cols, {"id"}, rows, WriteMode::kInsert));
  auto got = ScanAll("edge", cols, {"id"});
  ASSERT_EQ(got.size(), rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < cols.size(); ++c) {
      SCOPED_TRACE(fmt::format("row {} column {}: wrote {} read {} {}", r, cols[c],
                               rows[r][c].ToDisplay(), KindName(got[r][c].kind()),
                               got[r][c].ToDisplay()));
      const Value& want = rows[r][c];
      const Value& read = got[r][c];
      if (cols[c] == "jb") {
        // jsonb keeps numbers as written but normalises spacing and key order.
        ASSERT_EQ(read.kind(), want.is_null() ? Kind::kNull : Kind::kJson);
        continue;
      }
      ASSERT_EQ(read.kind(), want.kind());
      if (want.kind() == Kind::kFloat) {
        double w = want.as_float(), g = read.as_float();
        if (std::isnan(w)) {
          EXPECT_TRUE(std::isnan(g));
        } else {
          EXPECT_EQ(w, g);
          EXPECT_EQ(std::signbit(w), std::signbit(g));
        }
      } else {
        EXPECT_EQ(read, want);
      }
    }
  }
  // The streamed read (one COPY TO, in binary format as every column type has a binary
  // reader) gives the very same values as the pages.
  auto shown = [](const std::vector<Row>& rows, std::optional<size_t> skip = std::nullopt) {
    std::vector<std::string> out;
    for (const auto& r : rows) {
      std::string line;
      for (size_t c = 0; c < r.size(); ++c) {
        if (c != skip) line += std::string(KindName(r[c].kind())) + ":" + r[c].ToDisplay() + "|";
      }
      out.push_back(line);
    }
    return out;
  };
  EXPECT_EQ(shown(ScanAll("edge", cols, {"id"}, /*exclusive=*/true)), shown(got));
  // Without the real column every value has a binary form, so this Write goes through COPY
  // binary; the rows read back are the same as those written as text.
  Sql("CREATE TABLE edge_bin (id int PRIMARY KEY, f8 float8, n numeric(65,30), "
      "b bytea, tz timestamptz, ts timestamp, d date, t text, j json, jb jsonb)");
  std::vector<std::string> bin_cols = cols;
  bin_cols.erase(bin_cols.begin() + 2);
  std::vector<Row> bin_rows = rows;
  for (auto& r : bin_rows) r.erase(r.begin() + 2);
  ASSERT_OK(tandem_->Write("edge_bin", bin_cols, {"id"}, bin_rows, WriteMode::kInsert));
  EXPECT_EQ(shown(ScanAll("edge_bin", bin_cols, {"id"})), shown(got, 2));
  EXPECT_EQ(shown(ScanAll("edge_bin", bin_cols, {"id"}, true)), shown(got, 2));
  // json keeps the document exactly as written, 15.0 included; jsonb keeps the number.
  EXPECT_EQ(got[0][9].as_str(), "15.0");
  EXPECT_EQ(got[1][9].as_str(), "{\"b\":1,  \"a\":2}");
  EXPECT_EQ(got[0][10].as_str(), "{\"a\": 15.0, \"b\": 1}");
  // Key lookups through the same values.
  auto f = tandem_->Fetch("edge", {"id", "n"}, {"n"}, {{Value::Decimal(big)}});
  ASSERT_OK(f);
  ASSERT_EQ(f->size(), 1u);
  EXPECT_EQ((*f)[0][0], Value::Int(1));
}

TEST_F(PostgresTest, BinaryStreamedReadsEqualTextReadsAtTheEdges) {
  Sql("CREATE TABLE rim (id int PRIMARY KEY, ts timestamp, tz timestamptz, d date, t time, "
      "n numeric, f4 real, c char(3), nm name, u uuid, i2 smallint)");
  Sql("INSERT INTO rim VALUES "
      "(1, 'infinity', '-infinity', 'infinity', '24:00:00', 'NaN', 1.1, 'a', 'x', "
      "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', -32768), "
      "(2, '10000-01-01 00:00:00', '0044-03-15 12:00:00+00 BC', '0044-03-15 BC', '00:00:00', "
      "'Infinity', 3.4e38, 'abc', '', NULL, 32767), "
      "(3, '1999-12-31 23:59:59.999999', '2000-01-01 00:00:00.000001+00', '-infinity', "
      "'23:59:59.999999', '-Infinity', '-0', NULL, NULL, NULL, 0), "
      "(4, '0001-01-01 00:00:00', '9999-12-31 23:59:59.999999+00', '0001-01-01', NULL, "
      "'0.000100', 'NaN', NULL, NULL, NULL, NULL), "
      "(5, NULL, NULL, '9999-12-31', NULL, '-12345678.90', '-Infinity', NULL, NULL, NULL, NULL), "
      "(6, NULL, NULL, NULL, NULL, '100000000', 1e-45, NULL, NULL, NULL, NULL), "
      "(7, NULL, NULL, NULL, NULL, '-0.5', NULL, NULL, NULL, NULL, NULL), "
      "(8, NULL, NULL, NULL, NULL, '0.00', NULL, NULL, NULL, NULL, NULL)");
  std::vector<std::string> cols = {"id", "ts", "tz", "d", "t", "n", "f4", "c", "nm", "u", "i2"};
  auto shown = [](const std::vector<Row>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) {
      std::string line;
      for (const auto& v : r) line += std::string(KindName(v.kind())) + ":" + v.ToDisplay() + "|";
      out.push_back(line);
    }
    return out;
  };
  auto text = ScanAll("rim", cols, {"id"});
  ASSERT_EQ(text.size(), 8u);
  EXPECT_EQ(shown(ScanAll("rim", cols, {"id"}, /*exclusive=*/true)), shown(text));
  EXPECT_EQ(text[1][5].kind(), Kind::kFloat);      // numeric Infinity
  EXPECT_EQ(text[3][5], Value::Decimal("0.000100"));  // the scale as stored
  EXPECT_EQ(text[0][1], Value::Text("infinity"));
}

TEST_F(PostgresTest, BinaryWritesFollowAColumnTypeChangedBetweenBatches) {
  Sql("CREATE TABLE grow (id int PRIMARY KEY, v int)");
  ASSERT_OK(tandem_->Write("grow", {"id", "v"}, {"id"}, {{Value::Int(1), Value::Int(5)}},
                           WriteMode::kInsert));
  Sql("ALTER TABLE grow ALTER COLUMN v TYPE bigint");
  // Encoded for int4 (4 bytes), this batch would be refused by the now int8 column.
  ASSERT_OK(tandem_->Write("grow", {"id", "v"}, {"id"},
                           {{Value::Int(2), Value::Int(6)}, {Value::Int(3), Value::Int(7)}},
                           WriteMode::kInsert));
  auto rows = ScanAll("grow", {"id", "v"}, {"id"}, /*exclusive=*/true);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2][1], Value::Int(7));
}

// A binary COPY is sent while it is encoded; a value far into the batch without a binary
// form for its column (text bound for an integer column) abandons it, and the whole batch
// goes again as text: every row lands once, inside or outside a transaction.
TEST_F(PostgresTest, AValueWithoutABinaryFormLateInABatchSendsTheBatchAsText) {
  Sql("CREATE TABLE late (id int PRIMARY KEY, v int, pad text)");
  std::vector<Row> rows;
  for (int i = 1; i <= 5000; ++i) {
    rows.push_back({Value::Int(i), i == 4900 ? Value::Text("42") : Value::Int(i),
                    Value::Text(std::string(100, 'p'))});
  }
  ASSERT_OK(tandem_->Write("late", {"id", "v", "pad"}, {"id"}, rows, WriteMode::kInsert));
  ASSERT_OK(tandem_->Begin());
  for (auto& r : rows) r[0] = Value::Int(r[0].as_int() + 10000);
  ASSERT_OK(tandem_->Write("late", {"id", "v", "pad"}, {"id"}, rows, WriteMode::kInsert));
  ASSERT_OK(tandem_->Commit());
  auto got = ScanAll("late", {"id", "v"}, {"id"}, /*exclusive=*/true);
  ASSERT_EQ(got.size(), 10000u);
  EXPECT_EQ(got[4899][1], Value::Int(42));
  EXPECT_EQ(got[9899][1], Value::Int(42));
  EXPECT_EQ(got[9999][1], Value::Int(5000));
}

// The batches of a chunk go into one COPY that stays open between them; a batch holding a
// value without a binary form ends that COPY before the row, sends the rest of the batch as
// text, and the next batch opens a new COPY. Every row lands once.
TEST_F(PostgresTest, AChunkInsertKeepsOneCopyOpenAndSendsUnencodableRowsAsText) {
  Sql("CREATE TABLE chunk (id int PRIMARY KEY, v int, pad text)");
  auto batch = [](int from, int n, int text_at) {
    std::vector<Row> rows;
    for (int i = from; i < from + n; ++i) {
      rows.push_back({Value::Int(i), i == text_at ? Value::Text("42") : Value::Int(i),
                      Value::Text(std::string(50, 'p'))});
    }
    return rows;
  };
  // The server's view of tandem's connection: inside a COPY between two batches.
  auto copies_open = [&]() -> std::string {
    auto r = sql_.Exec("test sql",
                       "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE 'COPY %'");
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? std::string(r->value(0, 0)) : "";
  };
  ASSERT_OK(tandem_->Begin());
  auto insert = tandem_->OpenInsert("chunk", {"id", "v", "pad"}, {"id"});
  ASSERT_TRUE(insert.has_value()) << insert.error().ToString();
  ASSERT_OK((*insert)->Add(batch(1, 3000, -1)));
  EXPECT_EQ(copies_open(), "1");
  ASSERT_OK((*insert)->Add(batch(3001, 3000, 4500)));  // ends the COPY at 4500
  ASSERT_OK((*insert)->Add(batch(6001, 3000, 6001)));  // the first row goes as text
  ASSERT_OK((*insert)->Add(batch(9001, 3000, -1)));    // a new COPY
  EXPECT_EQ(copies_open(), "1");
  ASSERT_OK((*insert)->Finish());
  EXPECT_EQ(copies_open(), "0");
  ASSERT_OK(tandem_->Commit());
  auto got = ScanAll("chunk", {"id", "v"}, {"id"}, /*exclusive=*/true);
  ASSERT_EQ(got.size(), 12000u);
  for (int i = 1; i <= 12000; ++i) {
    int want = i == 4500 || i == 6001 ? 42 : i;
    ASSERT_EQ(got[i - 1], (Row{Value::Int(i), Value::Int(want)})) << i;
  }
}

// A batch that fails a chunk's insert (a NUL in text, a key already there) fails the chunk:
// the error names the table and column or gives the server's words, the abandoned COPY ends
// with the insert, the rollback leaves nothing of the chunk, and the connection is usable.
TEST_F(PostgresTest, AFailedChunkInsertLeavesNothingAndTheConnectionUsable) {
  Sql("CREATE TABLE chunk (id int PRIMARY KEY, body text)");
  auto rows = [](int from, int n) {
    std::vector<Row> out;
    for (int i = from; i < from + n; ++i) out.push_back({Value::Int(i), Value::Text("b")});
    return out;
  };
  {
    ASSERT_OK(tandem_->Begin());
    auto insert = tandem_->OpenInsert("chunk", {"id", "body"}, {"id"});
    ASSERT_TRUE(insert.has_value()) << insert.error().ToString();
    ASSERT_OK((*insert)->Add(rows(1, 100)));
    auto bad = rows(101, 100);
    bad[50][1] = Value::Text(std::string("a\0b", 3));
    auto st = (*insert)->Add(bad);
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().code, Code::kInvalidArgument);
    EXPECT_NE(st.error().message.find("chunk"), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("body"), std::string::npos) << st.error().message;
    insert->reset();
    ASSERT_OK(tandem_->Rollback());
  }
  {
    ASSERT_OK(tandem_->Begin());
    auto insert = tandem_->OpenInsert("chunk", {"id", "body"}, {"id"});
    ASSERT_TRUE(insert.has_value()) << insert.error().ToString();
    ASSERT_OK((*insert)->Add(rows(1, 100)));
    ASSERT_OK((*insert)->Add(rows(50, 100)));  // 50..99 are in the first batch
    auto st = (*insert)->Finish();
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().code, Code::kInvalidArgument) << st.error().ToString();
    EXPECT_NE(st.error().message.find("duplicate key"), std::string::npos) << st.error().message;
    insert->reset();
    ASSERT_OK(tandem_->Rollback());
  }
  auto n = tandem_->Count("chunk", {"id"}, {});
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0);
  ASSERT_OK(tandem_->Write("chunk", {"id", "body"}, {"id"}, rows(1, 10), WriteMode::kInsert));
  n = tandem_->Count("chunk", {"id"}, {});
  ASSERT_OK(n);
  EXPECT_EQ(*n, 10);
}

// A plain table's size for planning comes from its statistics, not a count (a full scan):
// pg_partition_tree() lists nothing for a plain table, and the estimate must not be lost.
TEST_F(PostgresTest, APlainTableIsEstimatedFromItsStatistics) {
  Sql("CREATE TABLE est (id bigint PRIMARY KEY) WITH (autovacuum_enabled = false)");
  Sql("INSERT INTO est SELECT generate_series(1, 250000)");
  Sql("ANALYZE est");
  Sql("DELETE FROM est WHERE id <= 50000");  // not analysed again: a count would say 200000
  auto estimate = tandem_->EstimateRows("est", {"id"});
  ASSERT_OK(estimate);
  EXPECT_GT(*estimate, 240000);
  auto count = tandem_->Count("est", {"id"}, KeyRange{});
  ASSERT_OK(count);
  EXPECT_EQ(*count, 200000);
}

TEST_F(PostgresTest, AbandonedStreamedScanLeavesTheConnectionUsable) {
  Sql("CREATE TABLE many (id bigint PRIMARY KEY, v text)");
  Sql("INSERT INTO many SELECT i, repeat('x', 100) FROM generate_series(1, 50000) i");
  {
    auto reader = tandem_->Scan(
        {.table = "many", .columns = {"id", "v"}, .key = {"id"}, .batch_rows = 100, .exclusive = true});
    ASSERT_TRUE(reader.has_value()) << reader.error().ToString();
    std::vector<Row> batch;
    ASSERT_TRUE((*reader)->Next(batch));
    EXPECT_EQ(batch.size(), 100u);
    EXPECT_EQ(batch[99][0], Value::Int(100));
  }  // destroyed mid-COPY
  auto n = tandem_->Count("many", {"id"}, KeyRange{});
  ASSERT_OK(n);
  EXPECT_EQ(*n, 50000);
  auto rows = ScanAll("many", {"id"}, {"id"}, /*exclusive=*/true);
  EXPECT_EQ(rows.size(), 50000u);
}

TEST_F(PostgresTest, LargeTablesSplitAtSampledQuantiles) {
  Sql("CREATE TABLE big (id bigint PRIMARY KEY, pad int)");
  // Sparse, uneven keys: quantiles must follow the rows, not the key values.
  Sql("INSERT INTO big SELECT CASE WHEN i <= 200000 THEN i ELSE i * 1000 END, 0 "
      "FROM generate_series(1, 300000) i");
  Sql("ANALYZE big");
  auto estimate = tandem_->EstimateRows("big", {"id"});
  ASSERT_OK(estimate);
  EXPECT_GT(*estimate, 200000);
  EXPECT_LT(*estimate, 400000);
  auto bounds = tandem_->Split("big", {"id"}, 10);
  ASSERT_OK(bounds);
  ASSERT_GE(bounds->size(), 8u);
  ASSERT_LE(bounds->size(), 9u);
  int64_t total = 0;
  std::optional<Row> lower;
  for (size_t i = 0; i <= bounds->size(); ++i) {
    KeyRange r;
    r.lower = lower;
    if (i < bounds->size()) r.upper = (*bounds)[i];
    auto c = tandem_->Count("big", {"id"}, r);
    ASSERT_OK(c);
    EXPECT_GT(*c, 30000 * 0.6) << "chunk " << i;
    EXPECT_LT(*c, 30000 * 1.4) << "chunk " << i;
    total += *c;
    lower = r.upper;
  }
  EXPECT_EQ(total, 300000);
}

TEST_F(PostgresTest, TimestampTzIsReadInUtcWhateverTheWriterTimeZone) {
  Sql("CREATE TABLE ev (id int PRIMARY KEY, at timestamptz, local timestamp)");
  Sql("SET TimeZone = 'America/Edmonton'; "
      "INSERT INTO ev VALUES (1, '2024-01-01 12:00:00', '2024-01-01 12:00:00')");
  auto got = ScanAll("ev", {"id", "at", "local"}, {"id"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0][1], Value::TimestampTz(*ParseTimestamp("2024-01-01 19:00:00")));
  EXPECT_EQ(got[0][2], Value::Timestamp(*ParseTimestamp("2024-01-01 12:00:00")));
}

TEST_F(PostgresTest, TypesWithoutAPortableCounterpartReadAsText) {
  Sql("CREATE TYPE mood AS ENUM ('sad', 'happy'); CREATE DOMAIN price AS numeric(10,2); "
      "CREATE TABLE odd (id int PRIMARY KEY, m mood, arr int[], iv interval, p price, "
      "ts timestamp, c char(3), vc varchar(5))");
  Sql("INSERT INTO odd VALUES (1, 'happy', '{1,2,3}', '1 day 02:00', 9.5, 'infinity', 'ab', 'x')");
  auto got = ScanAll("odd", {"id", "m", "arr", "iv", "p", "ts", "c", "vc"}, {"id"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0][1], Value::Text("happy"));
  EXPECT_EQ(got[0][2], Value::Text("{1,2,3}"));
  EXPECT_EQ(got[0][3], Value::Text("1 day 02:00:00"));
  EXPECT_EQ(got[0][4], Value::Decimal("9.50"));
  // 'infinity' has no tandem timestamp: it reads as the server's text, for a cast to reject.
  EXPECT_EQ(got[0][5], Value::Text("infinity"));
  EXPECT_EQ(got[0][6], Value::Text("ab "));
  // Enums, arrays and intervals have no binary reader: the streamed read falls back to COPY's
  // text format and gives the same values.
  EXPECT_EQ(ScanAll("odd", {"id", "m", "arr", "iv", "p", "ts", "c", "vc"}, {"id"}, true), got);

  auto schemas = tandem_->Introspect();
  ASSERT_OK(schemas);
  ASSERT_EQ(schemas->size(), 1u);
  const TableSchema& s = (*schemas)[0];
  EXPECT_EQ(s.Find("m")->type, T("text"));
  EXPECT_EQ(s.Find("m")->engine_type, "mood");
  EXPECT_EQ(s.Find("arr")->type, T("text"));
  EXPECT_EQ(s.Find("arr")->engine_type, "integer[]");
  EXPECT_EQ(s.Find("p")->type, T("decimal(10,2)"));
  EXPECT_EQ(s.Find("c")->type.length, 3);
  EXPECT_EQ(s.Find("vc")->type, T("varchar(5)"));
}

TEST_F(PostgresTest, IntrospectReadsKeysConstraintsDefaultsAndGeneratedColumns) {
  Sql("CREATE TABLE parent (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
      "code text UNIQUE, a int, b int)");
  Sql("CREATE UNIQUE INDEX parent_ab ON parent (b, a)");
  Sql("CREATE UNIQUE INDEX parent_partial ON parent (a) WHERE a > 0");
  Sql("CREATE TABLE \"child \"\"x\"\"\" (id int, n int NOT NULL DEFAULT 7, pid bigint "
      "REFERENCES parent (id), total numeric(12,2) CHECK (total >= 0), "
      "twice int GENERATED ALWAYS AS (n * 2) STORED, PRIMARY KEY (n, id))");
  auto schemas = tandem_->Introspect();
  ASSERT_OK(schemas);
  ASSERT_EQ(schemas->size(), 2u);
  const TableSchema& child = (*schemas)[0];
  const TableSchema& parent = (*schemas)[1];
  EXPECT_EQ(child.name, "child \"x\"");
  EXPECT_EQ(child.primary_key, (std::vector<std::string>{"n", "id"}));
  ASSERT_EQ(child.foreign_keys.size(), 1u);
  EXPECT_EQ(child.foreign_keys[0].columns, std::vector<std::string>{"pid"});
  EXPECT_EQ(child.foreign_keys[0].ref_table, "parent");
  EXPECT_EQ(child.foreign_keys[0].ref_columns, std::vector<std::string>{"id"});
  ASSERT_EQ(child.checks.size(), 1u);
  EXPECT_EQ(child.checks[0], "(total >= (0)::numeric)");
  EXPECT_EQ(child.Find("n")->default_expr, "7");
  EXPECT_FALSE(child.Find("n")->nullable);
  EXPECT_TRUE(child.Find("twice")->generated);
  EXPECT_FALSE(child.Find("n")->generated);
  EXPECT_EQ(parent.primary_key, std::vector<std::string>{"id"});
  EXPECT_EQ(parent.unique_keys, (std::vector<std::vector<std::string>>{{"b", "a"}, {"code"}}));
  EXPECT_EQ(parent.Find("id")->type, T("bigint"));
  EXPECT_FALSE(parent.Find("id")->nullable);
}

TEST_F(PostgresTest, TextWithNulIsRefusedNamingTableAndColumn) {
  Sql("CREATE TABLE notes (id int PRIMARY KEY, body text)");
  auto st = tandem_->Write(
      "notes", {"id", "body"}, {"id"},
      {{Value::Int(1), Value::Text("ok")}, {Value::Int(2), Value::Text(std::string("a\0b", 3))}},
      WriteMode::kUpsert);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kInvalidArgument);
  EXPECT_NE(st.error().message.find("notes"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("body"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("NUL"), std::string::npos) << st.error().message;
  auto n = tandem_->Count("notes", {"id"}, {});
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0);
}

TEST_F(PostgresTest, UpsertsInOneTransactionAndDuplicateKeysInABatch) {
  Sql("CREATE TABLE kv (k int PRIMARY KEY, v text NOT NULL, extra text DEFAULT 'd')");
  ASSERT_OK(tandem_->Begin());
  ASSERT_OK(tandem_->Write("kv", {"k", "v"}, {"k"},
                           {{Value::Int(1), Value::Text("a")}, {Value::Int(1), Value::Text("b")}},
                           WriteMode::kUpsert));
  ASSERT_OK(tandem_->Write("kv", {"k", "v"}, {"k"},
                           {{Value::Int(2), Value::Text("x")}, {Value::Int(2), Value::Text("y")}},
                           WriteMode::kInsertIfAbsent));
  // A failing upsert (NULL into NOT NULL) leaves the transaction usable.
  auto bad =
      tandem_->Write("kv", {"k", "v"}, {"k"}, {{Value::Int(3), Value::Null()}}, WriteMode::kUpsert);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("23502"), std::string::npos) << bad.error().message;
  ASSERT_OK(tandem_->Write("kv", {"k", "v"}, {"k"}, {{Value::Int(1), Value::Text("c")}},
                           WriteMode::kUpsert));
  ASSERT_OK(tandem_->Commit());
  auto got = ScanAll("kv", {"k", "v", "extra"}, {"k"});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (Row{Value::Int(1), Value::Text("c"), Value::Text("d")}));
  EXPECT_EQ(got[1], (Row{Value::Int(2), Value::Text("x"), Value::Text("d")}));
}

TEST_F(PostgresTest, CaptureRecordsChangesFromOtherConnections) {
  MakeItems();
  ASSERT_OK(Install());
  ASSERT_OK(Install());  // idempotent
  ASSERT_OK(app_->Write("order items", {"select", "v"}, {"select"},
                        {{Value::Int(1), Value::Text("a")}}, WriteMode::kInsert));
  ASSERT_OK(app_->Write("order items", {"select", "v"}, {"select"},
                        {{Value::Int(1), Value::Text("b")}}, WriteMode::kUpsert));
  Sql("UPDATE \"order items\" SET \"select\" = 2 WHERE \"select\" = 1");
  Sql("UPDATE \"order items\" SET v = 'c' WHERE \"select\" = 2");
  ASSERT_OK(app_->Remove("order items", {"select"}, {{Value::Int(2)}}));
  Sql("INSERT INTO pairs VALUES ('it''s \"x\"', 7, 'p')");
  auto got = Changes();
  EXPECT_EQ(Describe(got),
            "1:order itemsI(1) 2:order itemsU(1) 3:order itemsD(1) 4:order itemsU(2) "
            "5:order itemsU(2) 6:order itemsD(2) 7:pairsI('it's \"x\"',7) ");
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got[6].key, (Row{Value::Text("it's \"x\""), Value::Int(7)}));
  // Each change carries when it was recorded.
  int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  EXPECT_LT(std::abs(now - got[0].at_micros), int64_t{600} * 1000000) << got[0].at_micros;
  auto last = LastSeq();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 7);
  EXPECT_EQ(Describe(Changes(2, 2)), "3:order itemsD(1) 4:order itemsU(2) ");
  ASSERT_OK(capture_->Prune(SeqPos(7)));
  EXPECT_TRUE(Changes().empty());
  last = LastSeq();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 7);

  ASSERT_OK(capture_->Remove());
  ASSERT_OK(capture_->Remove());
  last = LastSeq();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 0);
  EXPECT_FALSE(capture_->Read({}, 10).has_value());
  auto left = sql_.Exec("list", "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal");
  ASSERT_TRUE(left.has_value()) << left.error().ToString();
  EXPECT_EQ(left->value(0, 0), "0");
}

TEST_F(PostgresTest, CapturedKeysKeepTheirTypeAndExactValue) {
  Sql("CREATE TABLE typed (ts timestamp, n numeric(40,20), b bytea, f float8, u uuid, "
      "tz timestamptz, PRIMARY KEY (ts, n, b, f, u, tz))");
  ASSERT_OK(capture_->Install({{.table = "typed", .key = {"ts", "n", "b", "f", "u", "tz"}}}));
  Row key = {Value::Timestamp(*ParseTimestamp("2024-02-29 12:34:56.000123")),
             Value::Decimal("12345678901234567890.12345678901234567890"),
             Value::Bytes(std::string("\0\xff", 2)),
             Value::Float(0.1 + 0.2),
             Value::Uuid(*ParseUuid("123e4567-e89b-12d3-a456-426614174000")),
             Value::TimestampTz(*ParseTimestamp("2024-01-01 19:00:00Z"))};
  // Written from a session whose time zone and output styles differ from tandem's.
  Sql("SET TimeZone = 'Asia/Kolkata'; SET bytea_output = 'escape'; SET extra_float_digits = 0");
  ASSERT_OK(app_->Write("typed", {"ts", "n", "b", "f", "u", "tz"}, {}, {key}, WriteMode::kInsert));
  Sql("UPDATE typed SET tz = tz");
  auto got = Changes();
  ASSERT_EQ(got.size(), 2u) << Describe(got);
  EXPECT_EQ(got[0].key, key);
  EXPECT_EQ(got[1].key, key);
  auto rows = tandem_->Fetch("typed", {"n"}, {"ts", "n", "b", "f", "u", "tz"}, {got[0].key});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->size(), 1u);
}

// Transactions commit out of seq order: A takes seq 1 but commits after B's seq 2. The reader
// must not hand out 2 (and move a checkpoint past 1) until A is done.
TEST_F(PostgresTest, ReadWaitsForAnEarlierSeqThatCommitsLater) {
  MakeItems();
  ASSERT_OK(Install());
  PgConnection a = Session(), b = Session();
  Sql(a, "BEGIN; INSERT INTO \"order items\" VALUES (1, 'a')");
  Sql(b, "BEGIN; INSERT INTO \"order items\" VALUES (2, 'b'); COMMIT");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Describe(Changes()), "") << "round " << i;
  }
  Sql(a, "COMMIT");
  EXPECT_EQ(Describe(Changes()), "1:order itemsI(1) 2:order itemsI(2) ");

  // Rolled-back seqs are gaps that never fill: they are passed once provably dead.
  Sql(a, "BEGIN; INSERT INTO \"order items\" VALUES (3, 'a')");
  Sql(b, "INSERT INTO \"order items\" VALUES (4, 'b')");
  EXPECT_EQ(Describe(Changes(2)), "");
  Sql(a, "ROLLBACK");
  std::string seen;
  for (int i = 0; i < 50 && seen.empty(); ++i) {
    seen = Describe(Changes(2));
    if (seen.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(seen, "4:order itemsI(4) ");
  // A change after the dead gap flows at once.
  Sql(b, "INSERT INTO \"order items\" VALUES (5, 'b')");
  EXPECT_EQ(Describe(Changes(4)), "5:order itemsI(5) ");
}

// Issue 11 item 7: right after capture is installed, two concurrent transactions each update
// three rows and then fail (one with an error, one with ROLLBACK), and nothing else commits.
// Their six seqs are a gap no live transaction can fill: the reader must pass it at once, not
// wait for some later commit, and the lag (changes that exist) is 0, not 6.
TEST_F(PostgresTest, GapsOfFailedTransactionsAreDeadAtOnceAndNothingIsPending) {
  MakeItems();
  Sql("INSERT INTO \"order items\" SELECT g, 'v' FROM generate_series(1, 6) AS g");
  ASSERT_OK(Install());
  PgConnection a = Session(), b = Session();
  Sql(a, "BEGIN");
  Sql(b, "BEGIN");
  for (int i = 1; i <= 3; ++i) {
    Sql(a, fmt::format("UPDATE \"order items\" SET v = 'a' WHERE \"select\" = {}", i));
    Sql(b, fmt::format("UPDATE \"order items\" SET v = 'b' WHERE \"select\" = {}", i + 3));
  }
  EXPECT_FALSE(a.Exec("fail", "SELECT 1 / 0").has_value());  // a fails with an error
  Sql(a, "ROLLBACK");
  Sql(b, "ROLLBACK");

  auto last = capture_->Last();
  ASSERT_OK(last);
  EXPECT_EQ(SeqNum(*last), 6);  // six seqs were handed out
  auto pending = capture_->Pending({});
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 0);

  auto start = std::chrono::steady_clock::now();
  Position pos;
  bool caught_up = false;
  while (!caught_up && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    auto got = capture_->Read(pos, 1000);
    ASSERT_OK(got);
    EXPECT_TRUE(got->changes.empty()) << Describe(got->changes);
    pos = got->upto;
    auto covers = capture_->Covers(pos, *last);
    ASSERT_OK(covers);
    caught_up = *covers;
  }
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(caught_up) << "still at seq " << SeqNum(pos) << " of " << SeqNum(*last);
  EXPECT_LT(took, std::chrono::milliseconds(500));
  pending = capture_->Pending(pos);
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 0);

  // A change after the dead gap flows at once, and is the only one pending.
  Sql("UPDATE \"order items\" SET v = 'c' WHERE \"select\" = 1");
  pending = capture_->Pending(pos);
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 1);
  auto next = capture_->Read(pos, 1000);
  ASSERT_OK(next);
  EXPECT_EQ(Describe(next->changes), "7:order itemsU(1) ");
}

// While a transaction that holds a seq is still open, its gap is not dead: the reader waits.
TEST_F(PostgresTest, AGapOfAnOpenTransactionIsNotPassed) {
  MakeItems();
  ASSERT_OK(Install());
  PgConnection a = Session();
  Sql(a, "BEGIN; INSERT INTO \"order items\" VALUES (1, 'a')");  // seq 1, still open
  for (int i = 0; i < 3; ++i) {
    auto got = capture_->Read({}, 100);
    ASSERT_OK(got);
    EXPECT_TRUE(got->changes.empty());
    EXPECT_EQ(got->upto, Position{});
  }
  Sql(a, "COMMIT");
  EXPECT_EQ(Describe(Changes()), "1:order itemsI(1) ");
}

// Writers commit and roll back at random while a reader follows with a checkpoint, as the
// change stream does: every committed change arrives exactly once, none after its checkpoint
// has passed it.
TEST_F(PostgresTest, ConcurrentWritersNeverLoseAChange) {
  MakeItems();
  ASSERT_OK(Install());
  constexpr int kWriters = 4, kPerWriter = 150;
  std::mutex mu;
  std::set<int64_t> committed;
  std::atomic<int> running{kWriters};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      PgConnection c = Session();
      std::mt19937 rng(w);
      for (int i = 0; i < kPerWriter; ++i) {
        int64_t id = int64_t{w} * 1000000 + i;
        bool commit = rng() % 5 != 0;
        auto r =
            c.Exec("w", fmt::format("BEGIN; INSERT INTO \"order items\" VALUES ({}, 'x')", id));
        if (!r) break;
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
        if (!c.Exec("w", commit ? "COMMIT" : "ROLLBACK")) break;
        if (commit) {
          std::lock_guard lock(mu);
          committed.insert(id);
        }
      }
      --running;
    });
  }
  std::multiset<int64_t> seen;
  Position checkpoint;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    bool done = running == 0;
    auto got = capture_->Read(checkpoint, 37);
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    for (const auto& c : got->changes) {
      ASSERT_GT(SeqNum(c), SeqNum(checkpoint));
      seen.insert(c.key[0].as_int());
    }
    // The checkpoint follows upto, as the change stream's does, past gaps proven dead too.
    ASSERT_GE(SeqNum(got->upto), SeqNum(checkpoint));
    checkpoint = got->upto;
    if (done && got->changes.empty() && seen.size() >= committed.size()) break;
    if (got->changes.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(seen.size(), committed.size());
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()), committed);
}

TEST_F(PostgresTest, SuppressedWritesAreNotCapturedAndSkipForeignKeyChecks) {
  MakeItems();
  Sql("CREATE TABLE parent (id int PRIMARY KEY); "
      "CREATE TABLE child (id int PRIMARY KEY, pid int REFERENCES parent (id))");
  ASSERT_OK(Install());
  ASSERT_OK(capture_->SuppressOwnWrites(true));
  ASSERT_OK(tandem_->Write("order items", {"select", "v"}, {"select"},
                           {{Value::Int(1), Value::Text("t")}, {Value::Int(2), Value::Text("t")}},
                           WriteMode::kUpsert));
  ASSERT_OK(tandem_->Remove("order items", {"select"}, {{Value::Int(1)}}));
  ASSERT_OK(tandem_->Begin());
  ASSERT_OK(tandem_->Write("pairs", {"a", "b", "v"}, {"a", "b"},
                           {{Value::Text("x"), Value::Int(1), Value::Null()}}, WriteMode::kInsert));
  ASSERT_OK(tandem_->RemoveRange("order items", {"select"}, {}));
  ASSERT_OK(tandem_->Commit());
  // A child before its parent, as parallel chunks deliver them (the role is superuser).
  ASSERT_OK(tandem_->Write("child", {"id", "pid"}, {"id"}, {{Value::Int(1), Value::Int(42)}},
                           WriteMode::kInsert));
  // Suppression set inside a rolled-back transaction still holds for the session.
  ASSERT_OK(tandem_->Begin());
  ASSERT_OK(capture_->SuppressOwnWrites(false));
  ASSERT_OK(capture_->SuppressOwnWrites(true));
  ASSERT_OK(tandem_->Rollback());
  ASSERT_OK(tandem_->Write("pairs", {"a", "b", "v"}, {"a", "b"},
                           {{Value::Text("y"), Value::Int(1), Value::Null()}}, WriteMode::kInsert));
  EXPECT_EQ(Describe(Changes()), "");

  ASSERT_OK(app_->Write("order items", {"select", "v"}, {"select"},
                        {{Value::Int(5), Value::Text("app")}}, WriteMode::kUpsert));
  auto got = Changes();
  ASSERT_EQ(got.size(), 1u) << Describe(got);
  EXPECT_EQ(got[0].key, Row{Value::Int(5)});

  ASSERT_OK(capture_->SuppressOwnWrites(false));
  ASSERT_OK(tandem_->Write("pairs", {"a", "b", "v"}, {"a", "b"},
                           {{Value::Text("r"), Value::Int(1), Value::Null()}}, WriteMode::kInsert));
  EXPECT_EQ(Describe(Changes(SeqNum(got[0]))), fmt::format("{}:pairsI('r',1) ", SeqNum(got[0]) + 1));
  // Foreign keys are checked again.
  auto orphan = tandem_->Write("child", {"id", "pid"}, {"id"}, {{Value::Int(2), Value::Int(43)}},
                               WriteMode::kInsert);
  ASSERT_FALSE(orphan.has_value());
  EXPECT_EQ(orphan.error().code, Code::kInvalidArgument);
  EXPECT_NE(orphan.error().message.find("23503"), std::string::npos) << orphan.error().message;
}

TEST_F(PostgresTest, CaptureOnAMissingTableFails) {
  auto st = capture_->Install({{.table = "nope", .key = {"id"}}});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kNotFound);
  EXPECT_NE(st.error().message.find("nope"), std::string::npos) << st.error().message;
}

TEST_F(PostgresTest, ErrorsNameTheTableAndTheServerWords) {
  auto st = tandem_->Write("missing", {"id"}, {"id"}, {{Value::Int(1)}}, WriteMode::kInsert);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kNotFound);
  EXPECT_NE(st.error().message.find("missing"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("42P01"), std::string::npos) << st.error().message;
  auto c = tandem_->Count("missing", {"id"}, {});
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, Code::kNotFound);
}

TEST_F(PostgresTest, ABadPasswordIsReportedWithoutThePassword) {
  const std::string secret = "wr0ng-Pa55word";
  std::string admin = TestServerVar("TANDEM_TEST_PG");
  size_t at = admin.find('@');
  size_t colon = admin.rfind(':', at);
  ASSERT_NE(at, std::string::npos);
  std::string bad = admin.substr(0, colon + 1) + secret + admin.substr(at);
  auto e = OpenEngine(bad, "");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, Code::kFailedPrecondition) << e.error().ToString();
  EXPECT_EQ(e.error().message.find(secret), std::string::npos) << e.error().message;
  EXPECT_NE(e.error().message.find("password authentication failed"), std::string::npos)
      << e.error().message;

  // The same through the password variable, with a URI that has none.
  std::string no_password = admin.substr(0, colon) + admin.substr(at);
  setenv("TANDEM_TEST_BAD_PASSWORD", secret.c_str(), 1);
  e = OpenEngine(no_password, "", "TANDEM_TEST_BAD_PASSWORD");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().message.find(secret), std::string::npos) << e.error().message;
  // And the right password through the variable connects.
  setenv("TANDEM_TEST_BAD_PASSWORD", "tandem-secret", 1);
  e = OpenEngine(no_password, "", "TANDEM_TEST_BAD_PASSWORD");
  ASSERT_TRUE(e.has_value()) << e.error().ToString();
  EXPECT_EQ((*e)->Describe().find("tandem-secret"), std::string::npos);
}

TEST_F(PostgresTest, AnUnreachableServerIsUnavailable) {
  auto e = OpenEngine("postgres://tandem:x@127.0.0.1:1/postgres?connect_timeout=2", "");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, Code::kUnavailable) << e.error().ToString();
}

// ---- pass-through (RawShapeOf, ScanRaw, WriteRaw) ------------------------------------------

// The same schema in the test's database (the source) and in a second one (the target), for
// raw copies between two databases, as a migration has them.
class PostgresPassThroughTest : public PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    auto uri = FreshDatabase();
    ASSERT_TRUE(uri.has_value()) << uri.error().ToString();
    target_uri_ = *uri;
    auto t = OpenEngine(target_uri_, "");
    ASSERT_TRUE(t.has_value()) << t.error().ToString();
    target_ = std::move(*t);
    auto c = PgConnection::Open(target_uri_, "");
    ASSERT_TRUE(c.has_value()) << c.error().ToString();
    target_sql_ = std::move(*c);
  }
  void Both(const std::string& sql) {
    Sql(sql);
    Sql(target_sql_, sql);
  }
  // The server's own text of every row in key order, hashed: independent of tandem's codecs.
  static std::string Digest(PgConnection& c, const std::string& table) {
    auto r = c.Exec("digest", fmt::format("SELECT count(*) || ':' || COALESCE(md5(string_agg("
                                          "t::text, E'\\n' ORDER BY id)), '') FROM {} t",
                                          table));
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? std::string(r->value(0, 0)) : "";
  }
  RawShape Shape(Engine& e, const std::string& table, const std::vector<std::string>& cols) {
    auto s = e.RawShapeOf(table, cols);
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return s ? *s : RawShape{};
  }
  // Copies `range` of `table` raw from the source into the target, in one transaction.
  Result<int64_t> CopyRaw(const std::string& table, const std::vector<std::string>& cols,
                          const KeyRange& range = {}, size_t batch_bytes = kDefaultBatchBytes) {
    TANDEM_ASSIGN_OR_RETURN(auto reader,
                            tandem_->ScanRaw({.table = table, .columns = cols, .key = {"id"},
                                              .range = range, .exclusive = true,
                                              .batch_bytes = batch_bytes}));
    TANDEM_RETURN_IF_ERROR(target_->Begin());
    auto n = target_->WriteRaw(table, cols, *reader);
    if (!n) {
      (void)target_->Rollback();
      return n;
    }
    EXPECT_EQ(*n, reader->rows());
    TANDEM_RETURN_IF_ERROR(target_->Commit());
    return n;
  }

  std::string target_uri_;
  std::unique_ptr<Engine> target_;
  PgConnection target_sql_;
};

const char* const kEveryTypeDdl =
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
    "CREATE DOMAIN price AS numeric(10,2) CHECK (VALUE >= 0);"
    "CREATE TABLE every (id bigint PRIMARY KEY, b boolean, i2 smallint, i4 integer, "
    "n numeric, n2 numeric(12,3), f4 real, f8 double precision, t text, "
    "vc varchar(20) COLLATE \"C\", ch char(3), by bytea, d date, ts timestamp, "
    "tz timestamptz, tm time, iv interval, j json, jb jsonb, u uuid, ia integer[], "
    "ta text[], m mood, p price, ip inet, r int4range)";
const std::vector<std::string> kEveryColumns = {
    "id", "b", "i2", "i4", "n", "n2", "f4", "f8", "t", "vc", "ch", "by", "d", "ts", "tz",
    "tm", "iv", "j", "jb", "u", "ia", "ta", "m", "p", "ip", "r"};

TEST_F(PostgresPassThroughTest, IdenticalTablesHaveOneRawShapeAndEveryValueArrivesExactly) {
  Both(kEveryTypeDdl);
  Sql("INSERT INTO every VALUES "
      "(1, true, -32768, 2147483647, 12345678901234567890.123456789, -0.001, 1.5, 'NaN', "
      "'ü 😀 \t\\ \"q\"', 'v1', 'ab', '\\x00ff', '0044-03-15 BC', 'infinity', "
      "'2016-07-04 10:00:00.123456+02', '24:00:00', '1 day 02:03:04.5', '{\"a\": 15.0, \"a\": 1}',"
      " '{\"b\": 1, \"a\": [1.50, null]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
      "'{1,NULL,3}', '{\"x y\",NULL,\"\"}', 'happy', 3.50, '10.0.0.1/8', '[1,10)'),"
      "(2, false, 0, 0, 'NaN', 0, '-0', '-Infinity', '', '', '', '\\x', '9999-12-31', "
      "'-infinity', '-infinity', '00:00', '-1 mons', '[]', '{}', NULL, '{}', '{}', 'sad', 0, "
      "'::1', 'empty'),"
      "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
      "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  Sql("INSERT INTO every (id, t, n, by, m) SELECT i, repeat('é', i % 50) || i, i * 1.25, "
      "decode(md5(i::text), 'hex'), (ARRAY['sad','ok','happy']::mood[])[i % 3 + 1] "
      "FROM generate_series(4, 2000) i");
  RawShape from = Shape(*tandem_, "every", kEveryColumns);
  RawShape to = Shape(*target_, "every", kEveryColumns);
  ASSERT_FALSE(from.format.empty()) << from.why;
  EXPECT_EQ(from.format, to.format);
  EXPECT_NE(from.format.find("\"vc\" character varying(20) COLLATE pg_catalog.\"C\""),
            std::string::npos) << from.format;
  EXPECT_NE(from.format.find("\"m\" mood ('sad','ok','happy')"), std::string::npos) << from.format;
  EXPECT_NE(from.format.find("\"p\" price over numeric(10,2)"), std::string::npos) << from.format;

  // Three ranges, pieces of about 1 KiB (many per range): every row, every value as the
  // server itself prints it.
  KeyRange low{std::nullopt, Row{Value::Int(2)}};
  KeyRange mid{Row{Value::Int(2)}, Row{Value::Int(1500)}};
  KeyRange high{Row{Value::Int(1500)}, std::nullopt};
  int64_t rows = 0;
  for (const KeyRange& r : {low, mid, high}) {
    auto n = CopyRaw("every", kEveryColumns, r, 1024);
    ASSERT_OK(n);
    rows += *n;
  }
  EXPECT_EQ(rows, 2000);
  EXPECT_EQ(Digest(target_sql_, "every"), Digest(sql_, "every"));
  EXPECT_EQ(Digest(sql_, "every").substr(0, 5), "2000:");

  // An empty range sends nothing and writes nothing.
  KeyRange none{Row{Value::Int(5000)}, std::nullopt};
  auto n = CopyRaw("every", kEveryColumns, none);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0);
}

TEST_F(PostgresPassThroughTest, RawShapesDifferWhereATypeDiffersAndSomeTypesCannotTravel) {
  Sql("CREATE TYPE mood AS ENUM ('sad', 'ok')");
  Sql(target_sql_, "CREATE TYPE mood AS ENUM ('ok', 'sad')");  // the same labels, in another order
  Sql("CREATE TABLE a (id int PRIMARY KEY, v varchar(20), m mood, t text)");
  Sql(target_sql_, "CREATE TABLE a (id int PRIMARY KEY, v varchar(30), m mood, "
                   "t text COLLATE \"C\")");
  auto col = [&](const std::string& c) {
    return std::make_pair(Shape(*tandem_, "a", {"id", c}).format,
                          Shape(*target_, "a", {"id", c}).format);
  };
  for (const char* c : {"v", "m", "t"}) {
    auto [from, to] = col(c);
    EXPECT_FALSE(from.empty());
    EXPECT_NE(from, to) << c;
  }
  EXPECT_EQ(col("id").first, col("id").second);

  // Types whose binary form names OIDs of this database, and a column that does not exist.
  // A stored generated column is read like any other (a target never lists one: the mapping
  // refuses to write it).
  Sql("CREATE TYPE pair AS (x int, y text)");
  Sql("CREATE TABLE odd (id int PRIMARY KEY, moods mood[], p pair, g int GENERATED ALWAYS AS "
      "(id * 2) STORED)");
  struct Case {
    std::string column, why;
  };
  for (const Case& c : {Case{"moods", "mood[] is not built in"}, Case{"p", "pair is composite"},
                        Case{"nope", "column nope does not exist in odd"}}) {
    RawShape s = Shape(*tandem_, "odd", {"id", c.column});
    EXPECT_TRUE(s.format.empty()) << c.column;
    EXPECT_NE(s.why.find(c.why), std::string::npos) << s.why;
  }
  EXPECT_FALSE(Shape(*tandem_, "odd", {"id", "g"}).format.empty());
}

TEST_F(PostgresPassThroughTest, ARefusedRawWriteLeavesNothingAndTheTransactionUsable) {
  Both("CREATE TABLE u (id int PRIMARY KEY, email text, amount int)");
  Sql(target_sql_, "CREATE UNIQUE INDEX u_email ON u (email)");
  Sql("INSERT INTO u SELECT i, 'e' || (i % 900), i FROM generate_series(1, 1000) i");
  auto reader = tandem_->ScanRaw({.table = "u", .columns = {"id", "email", "amount"},
                                  .key = {"id"}, .exclusive = true});
  ASSERT_TRUE(reader.has_value()) << reader.error().ToString();
  ASSERT_OK(target_->Begin());
  ASSERT_OK(target_->Write("u", {"id", "email", "amount"}, {"id"},
                           {{Value::Int(0), Value::Text("first"), Value::Int(0)}},
                           WriteMode::kInsert));
  auto n = target_->WriteRaw("u", {"id", "email", "amount"}, **reader);
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().code, Code::kInvalidArgument) << n.error().ToString();
  EXPECT_NE(n.error().message.find("23505"), std::string::npos) << n.error().message;
  EXPECT_NE(n.error().message.find("u_email"), std::string::npos) << n.error().message;
  // What the transaction did before the raw write is still there and commits.
  ASSERT_OK(target_->Commit());
  auto count = target_->Count("u", {"id"}, KeyRange{});
  ASSERT_OK(count);
  EXPECT_EQ(*count, 1);
  // The source connection is usable again once the reader is gone.
  reader->reset();
  auto again = tandem_->Count("u", {"id"}, KeyRange{});
  ASSERT_OK(again);
  EXPECT_EQ(*again, 1000);
}

}  // namespace
}  // namespace tandem::testing
