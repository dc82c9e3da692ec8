// The engine suite against SQLite, plus what only SQLite has: trigger capture seen from a second
// connection to the same file, loose typing, and its introspection details.
// Designated initializers leave the other members at their defaults, which is the point.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine_suite.h"
#include "engines/factories.h"
#include "engines/sqlite/database.h"

namespace tandem::testing {
namespace {

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    const auto& _r = (expr);                              \
    ASSERT_TRUE(_r.has_value()) << _r.error().ToString(); \
  } while (0)

// One directory per test process, removed when the tests end.
const std::filesystem::path& TestDir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("tandem_sqlite_tests_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

class RemoveTestDir : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(TestDir(), ec);
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new RemoveTestDir);

std::string FreshPath() {
  static std::atomic<int> n{0};
  return (TestDir() / ("db" + std::to_string(n++) + ".sqlite")).string();
}

INSTANTIATE_TEST_SUITE_P(Sqlite, EngineSuite,
                         ::testing::Values(EngineTarget{
                             .name = "sqlite",
                             .open_fresh = [] { return OpenSqlite(FreshPath()); }}),
                         [](const auto& info) { return info.param.name; });

PortableType T(std::string_view name) { return *ParsePortableType(name); }

// Two connections to one file: `app` plays the application, `tandem` the migration.
class SqliteCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = FreshPath();
    auto a = OpenSqlite(path_);
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    app_ = std::move(*a);
    auto t = OpenSqlite(path_);
    ASSERT_TRUE(t.has_value()) << t.error().ToString();
    tandem_ = std::move(*t);
    auto cs = OpenChangeSource(*tandem_);
    ASSERT_TRUE(cs.has_value()) << cs.error().ToString();
    capture_ = std::move(*cs);
    TableSchema items{.name = "order items",
                      .columns = {{.name = "select", .type = T("bigint"), .nullable = false},
                                  {.name = "v", .type = T("text")}}};
    items.primary_key = {"select"};
    ASSERT_OK(app_->CreateTable(items));
    TableSchema pairs{.name = "pairs",
                      .columns = {{.name = "a", .type = T("text"), .nullable = false},
                                  {.name = "b", .type = T("bigint"), .nullable = false},
                                  {.name = "v", .type = T("text")}}};
    pairs.primary_key = {"a", "b"};
    ASSERT_OK(app_->CreateTable(pairs));
  }

  Status Install() {
    return capture_->Install(
        {{.table = "order items", .key = {"select"}}, {.table = "pairs", .key = {"a", "b"}}});
  }

  Status AppWrite(int64_t id, std::string v, WriteMode mode = WriteMode::kUpsert) {
    return app_->Write("order items", {"select", "v"}, {"select"},
                       {{Value::Int(id), Value::Text(std::move(v))}}, mode);
  }

  // Runs SQL on a third connection, as an application would.
  void Sql(const std::string& sql) {
    auto db = sqlite::Database::Open(path_);
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    auto st = db->Exec(sql);
    ASSERT_TRUE(st.has_value()) << st.error().ToString();
  }
  std::vector<Row> Query(const std::string& sql) {
    auto db = sqlite::Database::Open(path_);
    EXPECT_TRUE(db.has_value());
    auto rows = db->Query(sql);
    EXPECT_TRUE(rows.has_value()) << rows.error().ToString();
    return rows.value_or(std::vector<Row>{});
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

  std::string path_;
  std::unique_ptr<Engine> app_, tandem_;
  std::unique_ptr<ChangeSource> capture_;  // on tandem_
};

TEST_F(SqliteCapture, RecordsInsertsUpdatesDeletesAndKeyChangesFromAnotherConnection) {
  ASSERT_OK(Install());
  ASSERT_OK(AppWrite(1, "a", WriteMode::kInsert));
  ASSERT_OK(AppWrite(1, "b"));  // upsert of an existing key is an UPDATE
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
  auto last = LastSeq();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 7);

  // Paging: after and limit.
  EXPECT_EQ(Describe(Changes(2, 2)), "3:order itemsD(1) 4:order itemsU(2) ");
  // Prune keeps the sequence: new changes continue after the pruned ones.
  ASSERT_OK(capture_->Prune(SeqPos(7)));
  EXPECT_TRUE(Changes().empty());
  last = LastSeq();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 7);
  ASSERT_OK(AppWrite(9, "z"));
  EXPECT_EQ(Describe(Changes()), "8:order itemsI(9) ");
}

TEST_F(SqliteCapture, KeysKeepTheirExactValue) {
  Sql("CREATE TABLE r (k REAL PRIMARY KEY); CREATE TABLE bl (k BLOB PRIMARY KEY)");
  ASSERT_OK(capture_->Install({{.table = "r", .key = {"k"}}, {.table = "bl", .key = {"k"}}}));
  double awkward = 0.1 + 0.2;  // 0.30000000000000004: 15 digits would make it 0.3
  ASSERT_OK(app_->Write("r", {"k"}, {"k"}, {{Value::Float(awkward)}}, WriteMode::kInsert));
  ASSERT_OK(app_->Write("bl", {"k"}, {"k"}, {{Value::Bytes(std::string("\0\xff", 2))}},
                        WriteMode::kInsert));
  auto got = Changes();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, Row{Value::Float(awkward)});
  EXPECT_EQ(got[1].key, Row{Value::Bytes(std::string("\0\xff", 2))});
  // The key read back finds its row.
  auto rows = tandem_->Fetch("r", {"k"}, {"k"}, {got[0].key});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->size(), 1u);
}

TEST_F(SqliteCapture, SuppressedWritesAreNotRecorded) {
  ASSERT_OK(Install());
  ASSERT_OK(capture_->SuppressOwnWrites(true));
  // Each kind of write tandem makes, in its own auto-transaction and in an explicit one.
  ASSERT_OK(tandem_->Write("order items", {"select", "v"}, {"select"},
                           {{Value::Int(1), Value::Text("t")}, {Value::Int(2), Value::Text("t")}},
                           WriteMode::kUpsert));
  ASSERT_OK(tandem_->Remove("order items", {"select"}, {{Value::Int(1)}}));
  ASSERT_OK(tandem_->Begin());
  ASSERT_OK(tandem_->Write("pairs", {"a", "b", "v"}, {"a", "b"},
                           {{Value::Text("x"), Value::Int(1), Value::Null()}}, WriteMode::kInsert));
  ASSERT_OK(tandem_->RemoveRange("order items", {"select"}, {}));
  ASSERT_OK(tandem_->Commit());
  ASSERT_OK(tandem_->Begin());
  ASSERT_OK(tandem_->Write("pairs", {"a", "b", "v"}, {"a", "b"},
                           {{Value::Text("y"), Value::Int(1), Value::Null()}}, WriteMode::kInsert));
  ASSERT_OK(tandem_->Rollback());
  EXPECT_TRUE(Changes().empty()) << Describe(Changes());
  // The marker never outlives tandem's transaction, so the application is still captured.
  EXPECT_TRUE(Query("SELECT * FROM _tandem_capture_off").empty());
  ASSERT_OK(AppWrite(5, "app"));
  EXPECT_EQ(Describe(Changes()), "1:order itemsI(5) ");

  // Turning suppression off inside a transaction applies to the rest of it.
  ASSERT_OK(tandem_->Begin());
  ASSERT_OK(tandem_->Write("pairs", {"a", "b", "v"}, {"a", "b"},
                           {{Value::Text("q"), Value::Int(1), Value::Null()}}, WriteMode::kInsert));
  ASSERT_OK(capture_->SuppressOwnWrites(false));
  ASSERT_OK(tandem_->Write("pairs", {"a", "b", "v"}, {"a", "b"},
                           {{Value::Text("r"), Value::Int(1), Value::Null()}}, WriteMode::kInsert));
  ASSERT_OK(tandem_->Commit());
  EXPECT_EQ(Describe(Changes(1)), "2:pairsI('r',1) ");
  ASSERT_OK(capture_->SuppressOwnWrites(true));
  ASSERT_OK(tandem_->Begin());
  ASSERT_OK(capture_->SuppressOwnWrites(false));
  ASSERT_OK(capture_->SuppressOwnWrites(true));
  ASSERT_OK(tandem_->Write("pairs", {"a", "b", "v"}, {"a", "b"},
                           {{Value::Text("s"), Value::Int(1), Value::Null()}}, WriteMode::kInsert));
  ASSERT_OK(tandem_->Commit());
  EXPECT_EQ(Describe(Changes(2)), "");
}

TEST_F(SqliteCapture, InstallIsIdempotentAndRemoveLeavesUserDataIntact) {
  ASSERT_OK(AppWrite(1, "before"));
  Sql("CREATE TABLE audit (n INTEGER); "
      "CREATE TRIGGER user_audit AFTER INSERT ON pairs BEGIN INSERT INTO audit VALUES (1); END");
  ASSERT_OK(Install());
  ASSERT_OK(Install());
  auto triggers = Query("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name");
  EXPECT_EQ(triggers.size(), 7u);  // 3 per captured table + the user's
  ASSERT_OK(AppWrite(2, "x"));
  EXPECT_EQ(Changes().size(), 1u);  // recorded once, not once per install

  // Introspection does not list tandem's tables.
  auto schemas = tandem_->Introspect();
  ASSERT_OK(schemas);
  for (const auto& s : *schemas) EXPECT_FALSE(s.name.starts_with("_tandem")) << s.name;

  ASSERT_OK(capture_->Remove());
  ASSERT_OK(capture_->Remove());  // nothing left to remove is fine
  EXPECT_EQ(Query("SELECT name FROM sqlite_master WHERE name LIKE '%tandem%'").size(), 0u);
  EXPECT_EQ(Query("SELECT name FROM sqlite_master WHERE type = 'trigger'").size(), 1u);
  EXPECT_EQ(Query("SELECT * FROM \"order items\" ORDER BY 1").size(), 2u);
  ASSERT_OK(AppWrite(3, "after"));  // the application's writes still work
  EXPECT_EQ(Query("SELECT * FROM \"order items\"").size(), 3u);
  auto last = LastSeq();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 0);
  EXPECT_FALSE(capture_->Read({}, 10).has_value());
}

TEST_F(SqliteCapture, CaptureOnAMissingTableFails) {
  auto st = capture_->Install({{.table = "nope", .key = {"id"}}});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kNotFound);
  EXPECT_NE(st.error().message.find("nope"), std::string::npos);
}

class SqliteEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = FreshPath();
    auto e = OpenSqlite(path_);
    ASSERT_TRUE(e.has_value()) << e.error().ToString();
    engine_ = std::move(*e);
  }
  void Sql(const std::string& sql) {
    auto db = sqlite::Database::Open(path_);
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    auto st = db->Exec(sql);
    ASSERT_TRUE(st.has_value()) << st.error().ToString();
  }
  const TableSchema* Find(const std::vector<TableSchema>& all, std::string_view name) {
    for (const auto& t : all) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
  std::string path_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(SqliteEngineTest, TextInAnIntegerColumnReadsBackAsText) {
  Sql("CREATE TABLE loose (id INTEGER PRIMARY KEY, n INTEGER, d DATE);"
      "INSERT INTO loose VALUES (1, 'abc', '2024-02-29'), (2, '42', 3.5), (3, 7, NULL)");
  ScanRequest req{.table = "loose", .columns = {"id", "n", "d"}, .key = {"id"}};
  auto reader = engine_->Scan(req);
  ASSERT_OK(reader);
  std::vector<Row> rows, batch;
  while ((*reader)->Next(batch)) rows.insert(rows.end(), batch.begin(), batch.end());
  ASSERT_OK((*reader)->status());
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][1], Value::Text("abc"));  // what was stored, not a conversion
  EXPECT_EQ(rows[1][1], Value::Int(42));      // INTEGER affinity converted '42' on insert
  EXPECT_EQ(rows[0][2], Value::Text("2024-02-29"));
  EXPECT_EQ(rows[1][2], Value::Float(3.5));
  EXPECT_TRUE(rows[2][2].is_null());
  auto cast = CastTo(rows[0][1], T("bigint"));
  ASSERT_FALSE(cast.has_value());
  EXPECT_NE(cast.error().message.find("not an integer"), std::string::npos);
}

TEST_F(SqliteEngineTest, CountsTheStorageClassesEachColumnHolds) {
  Sql("CREATE TABLE loose (id INTEGER PRIMARY KEY, a, d DATETIME, s STRING, e);"
      "INSERT INTO loose VALUES (1, 5, 1700000000, 'abc', NULL), (2, 2.5, '2024-01-01 10:00', '12', NULL),"
      " (3, 'x', 17, ' NaN ', NULL), (4, x'00', NULL, '1e5x', NULL);"
      "CREATE TABLE strict_one (id INTEGER PRIMARY KEY, t TEXT, v ANY) STRICT;"
      "INSERT INTO strict_one VALUES (1, 'a', 1), (2, 'b', 'two')");
  auto tables = engine_->Introspect();
  ASSERT_OK(tables);
  const TableSchema* loose = Find(*tables, "loose");
  ASSERT_NE(loose, nullptr);
  for (const auto& c : loose->columns) EXPECT_TRUE(c.loose_type) << c.name;
  auto n = engine_->StoredClasses(*loose);
  ASSERT_OK(n);
  ASSERT_EQ(n->size(), 5u);
  auto expect = [](const StoredClassCounts& c, int64_t i, int64_t r, int64_t t, int64_t b,
                   int64_t words) {
    EXPECT_EQ(c.integer, i);
    EXPECT_EQ(c.real, r);
    EXPECT_EQ(c.text, t);
    EXPECT_EQ(c.blob, b);
    EXPECT_EQ(c.text_not_number, words);
  };
  expect((*n)[0], 0, 0, 0, 0, 0);  // INTEGER holding integers only: nothing to count
  expect((*n)[1], 1, 1, 1, 1, 1);
  expect((*n)[2], 2, 0, 1, 0, 1);
  // STRING has NUMERIC affinity: '12' became 12; 'abc' and '1e5x' stay words, ' NaN ' reads
  // as a number.
  expect((*n)[3], 1, 0, 3, 0, 2);
  expect((*n)[4], 0, 0, 0, 0, 0);
  const TableSchema* strict = Find(*tables, "strict_one");
  ASSERT_NE(strict, nullptr);
  EXPECT_FALSE(strict->columns[1].loose_type);
  EXPECT_TRUE(strict->columns[2].loose_type);  // ANY
  auto m = engine_->StoredClasses(*strict);
  ASSERT_OK(m);
  ASSERT_EQ(m->size(), 3u);
  expect((*m)[1], 0, 0, 0, 0, 0);
  expect((*m)[2], 1, 0, 1, 0, 1);
}

TEST_F(SqliteEngineTest, ANullKeyStopsTheScanInsteadOfSkippingRows) {
  // Legal in a rowid table whose primary key is not INTEGER.
  Sql("CREATE TABLE legacy (k TEXT PRIMARY KEY, v); "
      "INSERT INTO legacy VALUES (NULL, 1), ('a', 2), ('b', 3)");
  ScanRequest req{.table = "legacy", .columns = {"k", "v"}, .key = {"k"}, .batch_rows = 1};
  auto reader = engine_->Scan(req);
  ASSERT_OK(reader);
  std::vector<Row> batch;
  EXPECT_FALSE((*reader)->Next(batch));
  auto st = (*reader)->status();
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kFailedPrecondition);
  EXPECT_NE(st.error().message.find("scan legacy"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("NULL"), std::string::npos);
}

TEST_F(SqliteEngineTest, IntrospectsKeysGeneratedColumnsAndDeclaredTypes) {
  Sql(R"(
    CREATE TABLE "order" (id INTEGER PRIMARY KEY, "group" NVARCHAR(120) NOT NULL DEFAULT 'g',
                          total NUMERIC(12,2) CHECK (total >= 0), made DATETIME, flag BOOLEAN,
                          doubled INT GENERATED ALWAYS AS (id * 2) STORED,
                          tripled AS (id * 3),
                          UNIQUE ("group", made));
    CREATE UNIQUE INDEX order_flag ON "order"(flag);
    CREATE UNIQUE INDEX order_expr ON "order"(lower("group"));
    CREATE TABLE lines ("order" INTEGER REFERENCES "order", line TEXT, qty SMALLINT,
                        PRIMARY KEY ("order", line)) WITHOUT ROWID;
    CREATE TABLE heap (a TEXT, b);
    CREATE VIEW v AS SELECT 1;
    CREATE VIRTUAL TABLE search USING fts5(body);
  )");
  auto all = engine_->Introspect();
  ASSERT_OK(all);
  std::vector<std::string> names;
  for (const auto& t : *all) names.push_back(t.name);
  // No views, virtual tables or their shadow tables.
  EXPECT_EQ(names, (std::vector<std::string>{"heap", "lines", "order"}));

  const TableSchema* order = Find(*all, "order");
  ASSERT_NE(order, nullptr);
  EXPECT_EQ(order->primary_key, std::vector<std::string>{"id"});
  EXPECT_FALSE(order->Find("id")->nullable);  // the rowid alias is never NULL
  const Column* group = order->Find("group");
  EXPECT_EQ(group->engine_type, "NVARCHAR(120)");
  EXPECT_EQ(group->type, (PortableType{.kind = Kind::kText, .length = 120}));
  EXPECT_FALSE(group->nullable);
  EXPECT_EQ(group->default_expr, "'g'");
  EXPECT_EQ(order->Find("total")->type.ToString(), "decimal(12,2)");
  EXPECT_EQ(order->Find("made")->type.kind, Kind::kTimestamp);
  EXPECT_EQ(order->Find("flag")->type.kind, Kind::kBool);
  EXPECT_TRUE(order->Find("doubled")->generated);
  EXPECT_TRUE(order->Find("tripled")->generated);
  EXPECT_FALSE(order->Find("total")->generated);
  EXPECT_EQ(order->unique_keys,
            (std::vector<std::vector<std::string>>{{"group", "made"}, {"flag"}}));
  EXPECT_EQ(order->checks, std::vector<std::string>{"total >= 0"});

  const TableSchema* lines = Find(*all, "lines");
  ASSERT_NE(lines, nullptr);
  EXPECT_EQ(lines->primary_key, (std::vector<std::string>{"order", "line"}));
  EXPECT_FALSE(lines->Find("line")->nullable);
  EXPECT_EQ(lines->Find("qty")->type.int_bytes, 2);
  ASSERT_EQ(lines->foreign_keys.size(), 1u);
  EXPECT_EQ(lines->foreign_keys[0].columns, std::vector<std::string>{"order"});
  EXPECT_EQ(lines->foreign_keys[0].ref_table, "order");
  EXPECT_EQ(lines->foreign_keys[0].ref_columns, std::vector<std::string>{"id"});

  const TableSchema* heap = Find(*all, "heap");
  ASSERT_NE(heap, nullptr);
  EXPECT_TRUE(heap->primary_key.empty());  // tandem refuses it by name later
  EXPECT_EQ(heap->Find("b")->type.kind, Kind::kBytes);
}

TEST_F(SqliteEngineTest, KeysUnderNocaseOrRtrimAreNotByteOrdered) {
  Sql(R"(
    CREATE TABLE plain (k TEXT PRIMARY KEY, v TEXT COLLATE NOCASE);
    CREATE TABLE nocase (k TEXT COLLATE NOCASE PRIMARY KEY, v TEXT);
    CREATE TABLE mixed (a TEXT, b TEXT COLLATE RTRIM, PRIMARY KEY (a, b)) WITHOUT ROWID;
    CREATE TABLE clause (k TEXT, PRIMARY KEY (k COLLATE NOCASE));
  )");
  auto all = engine_->Introspect();
  ASSERT_OK(all);
  auto ordered = [&](const char* table, const char* column) {
    const TableSchema* t = Find(*all, table);
    EXPECT_NE(t, nullptr) << table;
    return t ? t->Find(column)->byte_ordered : true;
  };
  EXPECT_TRUE(ordered("plain", "k"));
  EXPECT_TRUE(ordered("plain", "v"));  // not a key column: its order never matters
  EXPECT_FALSE(ordered("nocase", "k"));
  EXPECT_TRUE(ordered("mixed", "a"));
  EXPECT_FALSE(ordered("mixed", "b"));
  EXPECT_FALSE(ordered("clause", "k"));
}

TEST_F(SqliteEngineTest, ErrorsNameTheOperationTableAndKey) {
  Sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  ASSERT_OK(engine_->Write("t", {"id", "v"}, {"id"}, {{Value::Int(1), Value::Text("a")}},
                           WriteMode::kInsert));
  auto dup = engine_->Write("t", {"id", "v"}, {"id"}, {{Value::Int(1), Value::Text("a")}},
                            WriteMode::kInsert);
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code, Code::kInvalidArgument);
  EXPECT_EQ(dup.error().message, "sqlite: write t: UNIQUE constraint failed: t.id (key (1))");
  // Insert-if-absent ignores only the duplicate key, never a NOT NULL violation.
  auto null = engine_->Write("t", {"id", "v"}, {"id"}, {{Value::Int(2), Value::Null()}},
                             WriteMode::kInsertIfAbsent);
  ASSERT_FALSE(null.has_value());
  EXPECT_NE(null.error().message.find("NOT NULL"), std::string::npos) << null.error().message;

  auto missing = engine_->Count("nope", {"id"}, {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  EXPECT_EQ(missing.error().message, "sqlite: count nope: no such table: nope");
  auto scan = engine_->Scan({.table = "t", .columns = {"v"}, .key = {"id"}});
  ASSERT_FALSE(scan.has_value());
  EXPECT_EQ(scan.error().code, Code::kInvalidArgument);
}

TEST_F(SqliteEngineTest, ReadersAreNotBlockedByAnotherConnectionsWrite) {
  Sql("CREATE TABLE t (id INTEGER PRIMARY KEY)");
  auto other = sqlite::Database::Open(path_);
  ASSERT_OK(other);
  ASSERT_OK(other->Exec("BEGIN IMMEDIATE"));
  // A reader is never blocked by a writer in WAL mode.
  auto n = engine_->Count("t", {"id"}, {});
  ASSERT_OK(n);
  ASSERT_OK(other->Exec("COMMIT"));
  ASSERT_OK(engine_->Begin());
  ASSERT_OK(engine_->Commit());
}

// The in-database pass-through: the target attaches the source file read-only and copies a
// range with INSERT ... SELECT, values as stored.
TEST_F(SqliteEngineTest, AttachedCopyKeepsValuesAsStoredAndNeverBlocksTheSourcesWriters) {
  std::string source_path = FreshPath();
  auto source = OpenSqlite(source_path);
  ASSERT_OK(source);
  auto app = sqlite::Database::Open(source_path);  // the application, on the source
  ASSERT_OK(app);
  ASSERT_OK(app->Exec(
      "CREATE TABLE t (id BIGINT PRIMARY KEY, n INTEGER, d DATE, b BLOB, x REAL);"
      "INSERT INTO t VALUES (1, 10, '2024-02-29', x'00ff', 1.5), (2, 'twelve', NULL, NULL, -2.0),"
      " (3, 30, '2024-1-5', x'', NULL), (4, 40, NULL, NULL, 1e300), (5, 50, 'x', NULL, 0.1);"
      "CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT)"));
  Sql("CREATE TABLE t (id BIGINT PRIMARY KEY, n INT, d DATE, b BLOB, x DOUBLE)");
  std::vector<std::string> cols = {"id", "n", "d", "b", "x"};
  // Declared differently, stored alike: INT and BIGINT are both INTEGER affinity.
  auto from = (*source)->RawShapeOf("t", cols);
  auto to = engine_->RawShapeOf("t", cols);
  ASSERT_OK(from);
  ASSERT_OK(to);
  EXPECT_FALSE(from->stream);
  EXPECT_EQ(from->format, to->format);
  ASSERT_NE(from->format, "");
  auto widened = engine_->RawShapeOf("t", {"id", "missing"});
  ASSERT_OK(widened);
  EXPECT_EQ(widened->format, "");
  EXPECT_NE(widened->why.find("missing"), std::string::npos) << widened->why;

  auto attached = engine_->AttachSource(**source);
  ASSERT_OK(attached);
  ASSERT_TRUE(*attached);
  // Not the same file, not another engine's: a target cannot attach itself.
  auto self = engine_->AttachSource(*engine_);
  ASSERT_OK(self);
  EXPECT_FALSE(*self);

  ASSERT_OK(engine_->Begin());
  ScanRequest req{.table = "t", .columns = cols, .key = {"id"},
                  .range = {.lower = Row{Value::Int(1)}, .upper = Row{Value::Int(4)}}};
  auto copied = engine_->CopyFromAttached(req, "t", cols);
  ASSERT_OK(copied);
  EXPECT_EQ(*copied, 3);  // ids 2, 3 and 4: the range is (1, 4]
  // The target's transaction is open and holds the source attached: the application still
  // writes the source at once (no wait: a busy source would fail this).
  ASSERT_OK(app->Exec("PRAGMA busy_timeout = 0; INSERT INTO other VALUES (1, 'app');"
                      "UPDATE t SET n = 11 WHERE id = 1"));
  ASSERT_OK(engine_->Commit());
  ASSERT_OK(engine_->DetachSource());
  // Detached: the source's tables are gone from this connection.
  auto gone = engine_->Count("other", {"id"}, {});
  ASSERT_FALSE(gone.has_value());

  auto rows = engine_->Scan({.table = "t", .columns = cols, .key = {"id"}});
  ASSERT_OK(rows);
  std::vector<Row> got, batch;
  while ((*rows)->Next(batch)) got.insert(got.end(), batch.begin(), batch.end());
  ASSERT_OK((*rows)->status());
  // Each value as stored: text in the INTEGER column, a date as written, an empty blob.
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], (Row{Value::Int(2), Value::Text("twelve"), Value::Null(), Value::Null(),
                         Value::Float(-2.0)}));
  EXPECT_EQ(got[1], (Row{Value::Int(3), Value::Int(30), Value::Text("2024-1-5"), Value::Bytes(""),
                         Value::Null()}));
  EXPECT_EQ(got[2], (Row{Value::Int(4), Value::Int(40), Value::Null(), Value::Null(),
                         Value::Float(1e300)}));

  // A row the target refuses fails the whole statement and leaves nothing of it.
  Sql("CREATE UNIQUE INDEX t_n ON t (n)");
  ASSERT_OK(app->Exec("UPDATE t SET n = 30 WHERE id = 5"));
  ASSERT_OK(engine_->AttachSource(**source));
  auto refused = engine_->CopyFromAttached(
      {.table = "t", .columns = cols, .key = {"id"}, .range = {.lower = Row{Value::Int(4)}}}, "t",
      cols);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, Code::kInvalidArgument) << refused.error().ToString();
  ASSERT_OK(engine_->DetachSource());
  auto n = engine_->Count("t", {"id"}, {});
  ASSERT_OK(n);
  EXPECT_EQ(*n, 3);
}

// The bulk load: out of WAL only while this connection has the file to itself; tandem's other
// connections open the file as it is meanwhile; WAL again at the end, or at the next open
// after a load that was killed.
TEST_F(SqliteEngineTest, BulkLoadLeavesWalOnlyWhenAloneAndEndsInWalWhateverHappens) {
  Sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  auto journal = [](sqlite::Database& db) {
    auto r = db.Query("PRAGMA journal_mode");
    return r && !r->empty() ? (*r)[0][0].as_str() : std::string("?");
  };
  std::string marker = path_ + "-tandem-bulk";
  {
    // Another connection has the file open: nothing changes.
    auto other = sqlite::Database::Open(path_);
    ASSERT_OK(other);
    auto began = engine_->BeginBulkLoad();
    ASSERT_OK(began);
    EXPECT_FALSE(*began);
    EXPECT_EQ(journal(*other), "wal");
    EXPECT_FALSE(std::filesystem::exists(marker));
    ASSERT_OK(engine_->EndBulkLoad());  // a no-op
  }
  auto began = engine_->BeginBulkLoad();
  ASSERT_OK(began);
  ASSERT_TRUE(*began);
  EXPECT_TRUE(std::filesystem::exists(marker));
  ASSERT_OK(engine_->Begin());
  ASSERT_OK(engine_->Write("t", {"id", "v"}, {"id"}, {{Value::Int(1), Value::Text("a")}},
                           WriteMode::kInsert));
  ASSERT_OK(engine_->Commit());
  {
    // tandem status during the load: opens the file as it is, reads what was committed.
    auto reader = sqlite::Database::Open(path_);
    ASSERT_OK(reader);
    EXPECT_EQ(journal(*reader), "delete");
    auto n = reader->Query("SELECT count(*) FROM t");
    ASSERT_OK(n);
    EXPECT_EQ((*n)[0][0], Value::Int(1));
  }
  ASSERT_OK(engine_->EndBulkLoad());
  EXPECT_FALSE(std::filesystem::exists(marker));
  {
    auto after = sqlite::Database::Open(path_);
    ASSERT_OK(after);
    EXPECT_EQ(journal(*after), "wal");
  }

  // A load killed before its end: the file stays out of WAL and its marker names a process
  // that is gone. The next open removes the marker and switches the file to WAL.
  ASSERT_OK(engine_->BeginBulkLoad());
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  { std::ofstream(marker, std::ios::trunc) << child << "\n"; }
  engine_.reset();
  auto reopened = sqlite::Database::Open(path_);
  ASSERT_OK(reopened);
  EXPECT_EQ(journal(*reopened), "wal");
  EXPECT_FALSE(std::filesystem::exists(marker));
}

// A key without gaps splits from its ends and count; a key with a gap, or one that is not all
// integers, is walked. Both give chunks of equal counts.
TEST_F(SqliteEngineTest, SplitOfAKeyWithoutGapsIsExactAndOtherKeysAreWalked) {
  // 100,000 rows from -5: a walk keeps every 128th key here and would land up to 127 rows
  // early; the ends and the count give the row that makes the counts equal.
  Sql("CREATE TABLE dense (id BIGINT PRIMARY KEY, v TEXT);"
      "WITH RECURSIVE s(i) AS (SELECT -5 UNION ALL SELECT i + 1 FROM s WHERE i < 99994)"
      " INSERT INTO dense SELECT i, 'v' FROM s");
  auto b = engine_->Split("dense", {"id"}, 7);
  ASSERT_OK(b);
  std::vector<Row> want;
  for (int64_t i = 1; i < 7; ++i) want.push_back({Value::Int(-5 + i * 100000 / 7 - 1)});
  EXPECT_EQ(*b, want);
  Sql("CREATE TABLE gaps (id INTEGER PRIMARY KEY);"
      "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000)"
      " INSERT INTO gaps SELECT i * i FROM s");
  Sql("CREATE TABLE mixed (id PRIMARY KEY);"
      "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2999)"
      " INSERT INTO mixed SELECT i FROM s; INSERT INTO mixed VALUES ('zzz')");
  for (const auto& [table, rows] : {std::pair{"gaps", 3000}, std::pair{"mixed", 3000}}) {
    auto walked = engine_->Split(table, {"id"}, 4);
    ASSERT_OK(walked);
    ASSERT_EQ(walked->size(), 3u) << table;
    std::optional<Row> lower;
    for (size_t i = 0; i <= walked->size(); ++i) {
      KeyRange r{.lower = lower};
      if (i < walked->size()) r.upper = (*walked)[i];
      auto n = engine_->Count(table, {"id"}, r);
      ASSERT_OK(n);
      EXPECT_NEAR(*n, rows / 4, 3) << table << " chunk " << i;
      lower = r.upper;
    }
  }
}

TEST_F(SqliteEngineTest, NanAndInfinityRoundTrip) {
  Sql("CREATE TABLE f (id INTEGER PRIMARY KEY, x REAL)");
  double inf = std::numeric_limits<double>::infinity();
  ASSERT_OK(engine_->Write("f", {"id", "x"}, {"id"},
                           {{Value::Int(1), Value::Float(std::nan(""))},
                            {Value::Int(2), Value::Float(inf)},
                            {Value::Int(3), Value::Float(-inf)}},
                           WriteMode::kInsert));
  auto rows = engine_->Fetch("f", {"id", "x"}, {"id"},
                             {{Value::Int(1)}, {Value::Int(2)}, {Value::Int(3)}});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 3u);
  std::sort(rows->begin(), rows->end());
  auto as_float = [&](const Value& v) { return CastTo(v, T("double"))->as_float(); };
  EXPECT_TRUE(std::isnan(as_float((*rows)[0][1])));  // stored as the text 'NaN', not NULL
  EXPECT_EQ(as_float((*rows)[1][1]), inf);
  EXPECT_EQ(as_float((*rows)[2][1]), -inf);
  // A REAL column would keep -0.0 as 0: the write is refused (a reject), not changed.
  auto st = engine_->Write("f", {"id", "x"}, {"id"}, {{Value::Int(4), Value::Float(-0.0)}},
                           WriteMode::kInsert);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kInvalidArgument);
  EXPECT_NE(st.error().message.find("SQLite cannot store the float -0"), std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("(key (4))"), std::string::npos) << st.error().message;
}

TEST_F(SqliteEngineTest, OpenCreatesTheFileInWalMode) {
  std::string path = FreshPath();
  ASSERT_FALSE(std::filesystem::exists(path));
  auto e = OpenSqlite(path);
  ASSERT_OK(e);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ((*e)->kind(), "sqlite");
  EXPECT_EQ((*e)->Describe(), "sqlite:" + path);
  auto db = sqlite::Database::Open(path);
  ASSERT_OK(db);
  auto mode = db->Query("PRAGMA journal_mode");
  ASSERT_OK(mode);
  EXPECT_EQ((*mode)[0][0], Value::Text("wal"));
  auto bad = OpenSqlite((TestDir() / "no/such/dir/x.db").string());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Code::kFailedPrecondition);
}

TEST_F(SqliteEngineTest, DatabaseExecuteCountsChangesAndBindsParameters) {
  auto db = sqlite::Database::Open(path_);
  ASSERT_OK(db);
  ASSERT_OK(db->Exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v)"));
  auto n = db->Execute("INSERT INTO kv VALUES (?, ?), (?, ?)",
                       {Value::Text("a"), Value::Int(1), Value::Text("b"), Value::Bool(true)});
  ASSERT_OK(n);
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(db->LastInsertRowid(), 2);
  auto rows = db->Query("SELECT v FROM kv WHERE k = ?", {Value::Text("b")});
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, std::vector<Row>{{Value::Int(1)}});
  n = db->Execute("UPDATE kv SET v = ?1 WHERE k <> ?2", {Value::Null(), Value::Text("z")});
  ASSERT_OK(n);
  EXPECT_EQ(*n, 2);
  auto bad = db->Query("SELEKT 1");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("syntax error"), std::string::npos);
}

}  // namespace
}  // namespace tandem::testing
