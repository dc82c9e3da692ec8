// The engine suite against MariaDB, plus what only MariaDB has: its own types (unsigned
// bigint, wide decimals, ENUM/SET, BIT, YEAR, zero dates...), trigger capture seen from a
// second connection, sequence gaps from transactions that commit out of order or roll back,
// strict-mode errors, and messages that never carry the password.
//
// Needs the server from tests/servers/mariadb-up.sh (TANDEM_TEST_MYSQL in
// $TANDEM_TEST_SERVERS/env). Without it every test here fails: it never skips.
// Designated initializers leave the other members at their defaults, which is the point.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <unistd.h>

#include <chrono>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

#include "engine_suite.h"
#include "engines/factories.h"
#include "engines/mysql/mysql_connection.h"
#include "engines/mysql/mysql_capture.h"
#include "engines/mysql/mysql_engine.h"

namespace tandem::testing {
namespace {

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    const auto& _r = (expr);                              \
    ASSERT_TRUE(_r.has_value()) << _r.error().ToString(); \
  } while (0)

using mysql::MysqlConnection;
using mysql::MysqlUri;

// The server URI, or a failure explaining how to start the server.
Result<MysqlUri> ServerUri() {
  std::string uri = TestServerVar("TANDEM_TEST_MYSQL");
  if (uri.empty()) {
    return Fail(Code::kUnavailable,
                "TANDEM_TEST_MYSQL is not set: run tests/servers/mariadb-up.sh DIR >> DIR/env "
                "and set TANDEM_TEST_SERVERS=DIR");
  }
  return mysql::ParseMysqlUri(uri, "");
}

// The databases made by this process, dropped when the tests end.
std::mutex created_mu;
std::vector<std::string> created;  // guarded by created_mu

class DropTestDatabases : public ::testing::Environment {
 public:
  void TearDown() override {
    auto uri = ServerUri();
    if (!uri) return;
    auto conn = MysqlConnection::Connect(*uri);
    if (!conn) return;
    std::lock_guard lock(created_mu);
    for (const auto& db : created) (void)conn->Exec("DROP DATABASE IF EXISTS `" + db + "`", "drop");
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new DropTestDatabases);

// Creates an empty database t_<random> and returns the URI that connects to it.
Result<MysqlUri> FreshDatabase() {
  TANDEM_ASSIGN_OR_RETURN(MysqlUri uri, ServerUri());
  TANDEM_ASSIGN_OR_RETURN(MysqlConnection admin, MysqlConnection::Connect(uri));
  static std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(::getpid()));
  std::string name = fmt::format("t_{:016x}", rng());
  TANDEM_RETURN_IF_ERROR(admin.Exec("CREATE DATABASE `" + name + "`", "create database"));
  {
    std::lock_guard lock(created_mu);
    created.push_back(name);
  }
  uri.database = name;
  return uri;
}

std::string UriString(const MysqlUri& u, std::string_view password) {
  return fmt::format("mysql://{}:{}@{}:{}/{}", u.user, password, u.host, u.port, u.database);
}

Result<std::unique_ptr<Engine>> OpenFresh() {
  TANDEM_ASSIGN_OR_RETURN(MysqlUri uri, FreshDatabase());
  return OpenMysql(UriString(uri, uri.password), "");
}

INSTANTIATE_TEST_SUITE_P(Mysql, EngineSuite,
                         ::testing::Values(EngineTarget{.name = "mysql", .open_fresh = OpenFresh}),
                         [](const auto& info) { return info.param.name; });

// One fresh database seen through raw SQL (`Sql`, the application's own session), an
// application engine and tandem's engine.
class MysqlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto uri = FreshDatabase();
    ASSERT_TRUE(uri.has_value()) << uri.error().ToString();
    uri_ = *uri;
    auto conn = MysqlConnection::Connect(uri_);
    ASSERT_TRUE(conn.has_value()) << conn.error().ToString();
    raw_ = std::move(*conn);
    // The application's session: MariaDB's default mode, so zero dates can be stored.
    ASSERT_TRUE(raw_.Exec("SET SESSION sql_mode = '', time_zone = '+00:00'", "mode"));
    auto e = OpenMysql(UriString(uri_, uri_.password), "");
    ASSERT_TRUE(e.has_value()) << e.error().ToString();
    tandem_ = std::move(*e);
    auto cs = OpenChangeSource(*tandem_);
    ASSERT_TRUE(cs.has_value()) << cs.error().ToString();
    capture_ = std::move(*cs);
  }

  void Sql(const std::string& sql) {
    auto r = raw_.Exec(sql, "test sql");
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
  MysqlConnection Connect() {
    auto c = MysqlConnection::Connect(uri_);
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    return c ? std::move(*c) : MysqlConnection();
  }
  mysql::MysqlEngine& Mysql() { return static_cast<mysql::MysqlEngine&>(*tandem_); }

  std::vector<Row> ScanAll(const std::string& table, const std::vector<std::string>& cols,
                           const std::vector<std::string>& key, size_t batch = 3) {
    ScanRequest req{.table = table, .columns = cols, .key = key, .batch_rows = batch};
    auto reader = tandem_->Scan(req);
    EXPECT_TRUE(reader.has_value()) << reader.error().ToString();
    if (!reader) return {};
    std::vector<Row> out, rows;
    while ((*reader)->Next(rows)) out.insert(out.end(), rows.begin(), rows.end());
    auto st = (*reader)->status();
    EXPECT_TRUE(st.has_value()) << st.error().ToString();
    return out;
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
  const TableSchema* Find(const std::vector<TableSchema>& all, std::string_view name) {
    for (const auto& t : all) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }

  MysqlUri uri_;
  MysqlConnection raw_;
  std::unique_ptr<Engine> tandem_;
  std::unique_ptr<ChangeSource> capture_;  // on tandem_
};

TEST_F(MysqlTest, MariadbTypesIntrospectAndReadBack) {
  Sql("CREATE TABLE odd ("
      " id int unsigned NOT NULL PRIMARY KEY,"
      " big bigint unsigned, wide decimal(65,30), e enum('red','green'), s set('a','b','c'),"
      " b10 bit(10), b64 bit(64), y year, d date, t time, dt datetime(6), ts timestamp(6) NULL,"
      " flag tinyint(1), tiny tinyint, med mediumint, txt text, em varchar(10), bl blob,"
      " js json, u uuid, g bigint AS (id * 2) VIRTUAL,"
      " CONSTRAINT positive CHECK (big >= 0))");
  Sql("INSERT INTO odd (id, big, wide, e, s, b10, b64, y, d, t, dt, ts, flag, tiny, med, txt, em,"
      " bl, js, u) VALUES"
      " (1, 18446744073709551615, "
      "'12345678901234567890123456789012345.123456789012345678901234567890',"
      "  'green', 'a,c', b'1010101010', 18446744073709551615, 2024, '0000-00-00', '838:59:59',"
      "  '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.654321', 1, -128, -8388608,"
      "  'multi\\nline', '😀🎉 ok', X'00FF0001', '{\"a\": [1, 2]}',"
      "  '123e4567-e89b-12d3-a456-426614174000'),"
      " (2, 0, 0, 'red', '', 0, 0, 1901, '2024-00-10', '-01:00:00', '0000-00-00 00:00:00', NULL,"
      "  7, 127, 8388607, '', '', X'', '[]', NULL)");

  auto all = tandem_->Introspect();
  ASSERT_OK(all);
  const TableSchema* t = Find(*all, "odd");
  ASSERT_NE(t, nullptr);
  auto type_of = [&](std::string_view c) {
    const Column* col = t->Find(c);
    return col ? col->type.ToString() : "missing";
  };
  EXPECT_EQ(type_of("id"), "bigint");
  EXPECT_EQ(type_of("big"), "decimal(20,0)");
  EXPECT_EQ(type_of("wide"), "decimal(65,30)");
  EXPECT_EQ(type_of("e"), "text");
  EXPECT_EQ(t->Find("e")->engine_type, "enum('red','green')");
  EXPECT_EQ(type_of("s"), "text");
  EXPECT_EQ(type_of("b10"), "smallint");
  EXPECT_EQ(type_of("b64"), "decimal(20,0)");
  EXPECT_EQ(type_of("y"), "smallint");
  EXPECT_EQ(type_of("d"), "date");
  EXPECT_EQ(type_of("t"), "time(0)");  // MariaDB `time` holds no fraction
  EXPECT_EQ(type_of("dt"), "timestamp");
  EXPECT_EQ(type_of("ts"), "timestamptz");
  EXPECT_EQ(type_of("flag"), "bool");
  EXPECT_EQ(type_of("tiny"), "smallint");
  EXPECT_EQ(type_of("med"), "integer");
  EXPECT_EQ(type_of("txt"), "text");
  EXPECT_EQ(type_of("em"), "varchar(10)");
  EXPECT_EQ(type_of("bl"), "bytes");
  EXPECT_EQ(type_of("js"), "json");
  EXPECT_EQ(type_of("u"), "uuid");
  EXPECT_TRUE(t->Find("g")->generated);
  EXPECT_FALSE(t->Find("big")->generated);
  EXPECT_EQ(t->primary_key, std::vector<std::string>{"id"});
  ASSERT_EQ(t->checks.size(), 1u);  // the user's, not the one behind the JSON column
  EXPECT_NE(t->checks[0].find("big"), std::string::npos);

  std::vector<std::string> cols = {"id",  "big", "wide", "e",  "s",  "b10",  "b64",
                                   "y",   "d",   "t",    "dt", "ts", "flag", "tiny",
                                   "med", "txt", "em",   "bl", "js", "u",    "g"};
  auto rows = ScanAll("odd", cols, {"id"}, 1);
  ASSERT_EQ(rows.size(), 2u);
  const Row& r = rows[0];
  EXPECT_EQ(r[0], Value::Int(1));
  EXPECT_EQ(r[1], Value::Decimal("18446744073709551615"));
  EXPECT_EQ(r[2],
            Value::Decimal("12345678901234567890123456789012345.123456789012345678901234567890"));
  EXPECT_EQ(r[3], Value::Text("green"));
  EXPECT_EQ(r[4], Value::Text("a,c"));
  EXPECT_EQ(r[5], Value::Int(0b1010101010));
  EXPECT_EQ(r[6], Value::Decimal("18446744073709551615"));
  EXPECT_EQ(r[7], Value::Int(2024));
  // A zero date is no date: it comes back as its text, for the mapping to reject or map.
  EXPECT_EQ(r[8], Value::Text("0000-00-00"));
  EXPECT_EQ(r[9], Value::Text("838:59:59"));  // beyond a day: not a time of day
  EXPECT_EQ(r[10], Value::Timestamp(*ParseTimestamp("2024-02-29 12:34:56.123456")));
  EXPECT_EQ(r[11], Value::TimestampTz(*ParseTimestamp("2024-02-29 12:34:56.654321")));
  EXPECT_EQ(r[12], Value::Bool(true));
  EXPECT_EQ(r[13], Value::Int(-128));
  EXPECT_EQ(r[14], Value::Int(-8388608));
  EXPECT_EQ(r[15], Value::Text("multi\nline"));  // the application's mode reads \n as a newline
  EXPECT_EQ(r[16], Value::Text("😀🎉 ok"));
  EXPECT_EQ(r[17], Value::Bytes(std::string("\0\xff\0\x01", 4)));
  EXPECT_EQ(r[18], Value::Json("{\"a\": [1, 2]}"));
  EXPECT_EQ(r[19], Value::Uuid(*ParseUuid("123e4567-e89b-12d3-a456-426614174000")));
  EXPECT_EQ(r[20], Value::Int(2));
  const Row& z = rows[1];
  EXPECT_EQ(z[8], Value::Text("2024-00-10"));
  EXPECT_EQ(z[9], Value::Text("-01:00:00"));
  EXPECT_EQ(z[10], Value::Text("0000-00-00 00:00:00.000000"));
  EXPECT_TRUE(z[11].is_null());
  EXPECT_EQ(z[12], Value::Int(7));  // tinyint(1) holding 7 is not a bool: nothing is lost
  EXPECT_EQ(z[17], Value::Bytes(""));
  EXPECT_TRUE(z[19].is_null());
}

TEST_F(MysqlTest, ValuesWrittenByTandemReadBackExactly) {
  Sql("CREATE TABLE w (id bigint unsigned PRIMARY KEY, wide decimal(65,30), b64 bit(64),"
      " em varchar(5), bl longblob, dt datetime(6), f double, txt text, y year)");
  std::vector<std::string> cols = {"id", "wide", "b64", "em", "bl", "dt", "f", "txt", "y"};
  Row row = {Value::Decimal("18446744073709551615"),
             Value::Decimal("-99999999999999999999999999999999999.999999999999999999999999999999"),
             Value::Decimal("18446744073709551615"),
             Value::Text("🎉😀ab"),
             Value::Bytes(std::string("\0\0'\\\x80", 5)),
             Value::Timestamp(*ParseTimestamp("0001-01-01 00:00:00.000001")),
             Value::Float(0.1 + 0.2),
             Value::Text("back\\slash 'quote' \"dq\" \n\t\r \x1a end"),
             Value::Int(2155)};
  ASSERT_OK(tandem_->Write("w", cols, {"id"}, {row}, WriteMode::kInsert));
  auto rows = ScanAll("w", cols, {"id"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], row);
  // Fetch by the unsigned key at its maximum.
  auto fetched = tandem_->Fetch("w", {"id"}, {"id"}, {{Value::Decimal("18446744073709551615")}});
  ASSERT_OK(fetched);
  EXPECT_EQ(fetched->size(), 1u);
}

TEST_F(MysqlTest, TooLongValueIsAnErrorNamingTheTableNotATruncation) {
  Sql("CREATE TABLE short_names (id int PRIMARY KEY, name varchar(5))");
  std::vector<Row> rows = {{Value::Int(1), Value::Text("ok")},
                           {Value::Int(2), Value::Text("much too long")}};
  auto st = tandem_->Write("short_names", {"id", "name"}, {"id"}, rows, WriteMode::kInsert);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kInvalidArgument);
  EXPECT_NE(st.error().message.find("short_names"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("1406"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("row key (2)"), std::string::npos) << st.error().message;
  auto n = tandem_->Count("short_names", {"id"}, {});
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0);  // nothing of the failed call landed

  // Out of range is an error too, and so is a 4-byte character too many.
  Sql("CREATE TABLE small (id int PRIMARY KEY, n tinyint)");
  st = tandem_->Write("small", {"id", "n"}, {"id"}, {{Value::Int(1), Value::Int(300)}},
                      WriteMode::kUpsert);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kInvalidArgument) << st.error().message;
  st = tandem_->Write("short_names", {"id", "name"}, {"id"},
                      {{Value::Int(3), Value::Text("😀😀😀😀😀😀")}}, WriteMode::kInsert);
  ASSERT_FALSE(st.has_value());
}

// Big inserts take LOAD DATA LOCAL; small ones and upserts take INSERT. Both must store the
// same bytes and fail the same way.
TEST_F(MysqlTest, BulkLoadAndInsertStoreTheSameValuesAndFailAlike) {
  Sql("CREATE TABLE bulk (id int PRIMARY KEY, txt text, bl blob, tb blob, d decimal(65,30),"
      " f double, ts datetime(6), tz timestamp(6) NULL, u uuid, n int, em varchar(5))");
  std::vector<std::string> cols = {"id", "txt", "bl", "tb", "d", "f", "ts", "tz", "u", "n", "em"};
  std::vector<Row> rows;
  for (int i = 1; i <= 200; ++i) {
    rows.push_back(
        {Value::Int(i),
         Value::Text(fmt::format("tab\there\nnl \\N back\\slash \r '{}' \"q\" 😀", i)),
         Value::Bytes(std::string("\0\t\n\\\xff", 5) + std::to_string(i)),
         Value::Text("text into a blob"),
         Value::Decimal("-12345678901234567890123456789012345.123456789012345678901234567890"),
         Value::Float(i / 3.0), Value::Timestamp(*ParseTimestamp("1969-12-31 23:59:59.5")),
         Value::TimestampTz(*ParseTimestamp("2024-02-29 12:34:56.123456")),
         Value::Uuid(*ParseUuid("123e4567-e89b-12d3-a456-426614174000")),
         i % 2 ? Value::Null() : Value::Int(-i), Value::Text("")});
  }
  std::vector<Row> small(rows.begin(), rows.begin() + 3);
  for (Row& r : small) r[0] = Value::Int(r[0].as_int() + 1000);
  auto loads = [&] {
    auto r = raw_.Query("SHOW GLOBAL STATUS LIKE 'Com_load'", "status");
    EXPECT_TRUE(r.has_value());
    MYSQL_ROW row = r ? r->Next() : nullptr;
    return row ? std::stoll(row[1]) : -1;
  };
  int64_t loads_before = loads();
  ASSERT_OK(tandem_->Write("bulk", cols, {"id"}, rows, WriteMode::kInsert));  // LOAD DATA
  EXPECT_GT(loads(), loads_before);
  ASSERT_OK(tandem_->Write("bulk", cols, {"id"}, small, WriteMode::kInsert));  // INSERT
  auto got = ScanAll("bulk", cols, {"id"}, 1000);
  ASSERT_EQ(got.size(), 203u);
  for (size_t i = 0; i < rows.size(); ++i) {
    Row want = rows[i];
    want[3] = Value::Bytes("text into a blob");
    ASSERT_EQ(got[i], want) << "row " << i;
  }
  for (size_t i = 0; i < 3; ++i) {
    Row want = small[i];
    want[3] = Value::Bytes("text into a blob");
    ASSERT_EQ(got[200 + i], want);
  }

  // A duplicate and a too-long value in a big batch: errors, not warnings, and inside a
  // caller's transaction nothing of the failed call stays.
  std::vector<Row> more;
  for (int i = 301; i <= 400; ++i) {
    more.push_back({Value::Int(i), Value::Null(), Value::Null(), Value::Null(), Value::Null(),
                    Value::Null(), Value::Null(), Value::Null(), Value::Null(), Value::Null(),
                    Value::Text("ok")});
  }
  std::vector<Row> dup = more;
  dup[50][0] = Value::Int(7);
  std::vector<Row> too_long = more;
  too_long[60][10] = Value::Text("too long");
  ASSERT_OK(tandem_->Begin());
  ASSERT_OK(tandem_->Write("bulk", cols, {"id"}, {more[99]}, WriteMode::kInsert));
  auto st = tandem_->Write("bulk", cols, {"id"}, dup, WriteMode::kInsert);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kInvalidArgument);
  EXPECT_NE(st.error().message.find("1062"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("bulk"), std::string::npos) << st.error().message;
  st = tandem_->Write("bulk", cols, {"id"}, too_long, WriteMode::kInsert);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kInvalidArgument);
  EXPECT_NE(st.error().message.find("row key (361)"), std::string::npos) << st.error().message;
  ASSERT_OK(tandem_->Commit());
  auto n = tandem_->Count("bulk", {"id"}, {});
  ASSERT_OK(n);
  EXPECT_EQ(*n, 204);  // 203 + the one row written before the failures
}

TEST_F(MysqlTest, UpsertThatClashesOnAnotherUniqueKeyFailsInsteadOfOverwriting) {
  Sql("CREATE TABLE people (id int PRIMARY KEY, email varchar(50) UNIQUE, name text)");
  Sql("INSERT INTO people VALUES (1, 'a@x', 'Ann')");
  for (WriteMode mode : {WriteMode::kUpsert, WriteMode::kInsertIfAbsent}) {
    auto st = tandem_->Write("people", {"id", "email", "name"}, {"id"},
                             {{Value::Int(2), Value::Text("a@x"), Value::Text("Bob")}}, mode);
    ASSERT_FALSE(st.has_value());
    EXPECT_EQ(st.error().code, Code::kInvalidArgument);
    EXPECT_NE(st.error().message.find("another unique key"), std::string::npos)
        << st.error().message;
  }
  auto rows = ScanAll("people", {"id", "email", "name"}, {"id"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][2], Value::Text("Ann"));
  // The same key is an ordinary upsert.
  ASSERT_OK(tandem_->Write("people", {"id", "email", "name"}, {"id"},
                           {{Value::Int(1), Value::Text("a@x"), Value::Text("Anna")}},
                           WriteMode::kUpsert));
  EXPECT_EQ(ScanAll("people", {"id", "email", "name"}, {"id"})[0][2], Value::Text("Anna"));
}

// A large table with a dense integer key is split by equal widths of [MIN, MAX] (no pass
// over the table); a sparse one by the streamed pass. Either way the chunks partition the
// rows, and none holds more than about twice its share.
TEST_F(MysqlTest, LargeTablesSplitByWidthWhenDenseAndByAPassWhenSparse) {
  for (int step : {1, 1000}) {
    SCOPED_TRACE("key step " + std::to_string(step));
    std::string table = "big" + std::to_string(step);
    Sql("CREATE TABLE " + table + " (id BIGINT PRIMARY KEY, pad INT)");
    // Dense: 1..200000 with a hole; sparse: multiples of 1000.
    Sql("INSERT INTO " + table + " SELECT seq * " + std::to_string(step) +
        ", 0 FROM seq_1_to_220000 WHERE seq <= 100000 OR seq > 120000");
    Sql("ANALYZE TABLE " + table);
    auto bounds = tandem_->Split(table, {"id"}, 10);
    ASSERT_TRUE(bounds.has_value()) << bounds.error().ToString();
    ASSERT_GE(bounds->size(), 8u);
    int64_t total = 0;
    std::optional<Row> lower;
    for (size_t i = 0; i <= bounds->size(); ++i) {
      KeyRange r;
      r.lower = lower;
      if (i < bounds->size()) r.upper = (*bounds)[i];
      auto c = tandem_->Count(table, {"id"}, r);
      ASSERT_TRUE(c.has_value()) << c.error().ToString();
      EXPECT_LT(*c, 2 * 20000 + 1) << "chunk " << i;
      total += *c;
      lower = r.upper;
    }
    EXPECT_EQ(total, 200000);
  }
}

TEST_F(MysqlTest, CopiedZeroIdStaysZero) {
  Sql("CREATE TABLE ai (id int AUTO_INCREMENT PRIMARY KEY, v text)");
  ASSERT_OK(tandem_->Write("ai", {"id", "v"}, {"id"}, {{Value::Int(0), Value::Text("zero")}},
                           WriteMode::kInsert));
  auto rows = ScanAll("ai", {"id", "v"}, {"id"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], Value::Int(0));
}

TEST_F(MysqlTest, BadPasswordErrorDoesNotContainThePassword) {
  const std::string secret = "Sup3r-Secret-Pa55";
  auto e = OpenMysql(UriString(uri_, secret), "");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, Code::kFailedPrecondition) << e.error().message;
  EXPECT_EQ(e.error().message.find(secret), std::string::npos) << e.error().message;
  EXPECT_NE(e.error().message.find("1045"), std::string::npos) << e.error().message;
  // Nor when it comes from the environment rather than the URI.
  e = OpenMysql(fmt::format("mysql://{}@{}:{}/{}", uri_.user, uri_.host, uri_.port, uri_.database),
                secret);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().message.find(secret), std::string::npos) << e.error().message;
  // A server that is not there is kUnavailable.
  e = OpenMysql(fmt::format("mysql://u:{}@127.0.0.1:1/db", secret), "");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, Code::kUnavailable) << e.error().message;
  EXPECT_EQ(e.error().message.find(secret), std::string::npos) << e.error().message;
  EXPECT_EQ(tandem_->Describe().find(uri_.password), std::string::npos);
}

TEST_F(MysqlTest, MissingTableIsNotFound) {
  auto n = tandem_->Count("nope", {"id"}, {});
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().code, Code::kNotFound);
  auto st = capture_->Install({{.table = "nope", .key = {"id"}}});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kNotFound);
  EXPECT_NE(st.error().message.find("nope"), std::string::npos);
}

class MysqlCapture : public MysqlTest {
 protected:
  void SetUp() override {
    MysqlTest::SetUp();
    if (HasFatalFailure()) return;
    Sql("CREATE TABLE `order items` (`select` bigint PRIMARY KEY, v text)");
    Sql("CREATE TABLE pairs (a varchar(20), b int, v text, PRIMARY KEY (a, b))");
    ASSERT_OK(capture_->Install(
        {{.table = "order items", .key = {"select"}}, {.table = "pairs", .key = {"a", "b"}}}));
    // Gaps are proven dead quickly in tests.
    static_cast<mysql::MysqlTriggerCapture&>(*capture_).set_gap_settle(
        std::chrono::milliseconds(200));
  }
};

TEST_F(MysqlCapture, RecordsInsertsUpdatesDeletesAndKeyChangesFromAnotherConnection) {
  Sql("INSERT INTO `order items` VALUES (1, 'a')");
  Sql("UPDATE `order items` SET v = 'b' WHERE `select` = 1");
  Sql("UPDATE `order items` SET `select` = 2 WHERE `select` = 1");
  Sql("DELETE FROM `order items` WHERE `select` = 2");
  Sql("INSERT INTO pairs VALUES ('it''s \"x\"', 7, 'p')");
  Sql("UPDATE pairs SET a = 'IT''S \"X\"' WHERE b = 7");  // a key change by case alone
  auto got = Changes();
  EXPECT_EQ(Describe(got),
            "1:order itemsI(1) 2:order itemsU(1) 3:order itemsD(1) 4:order itemsU(2) "
            "5:order itemsD(2) 6:pairsI('it's \"x\"',7) 7:pairsD('it's \"x\"',7) "
            "8:pairsU('IT'S \"X\"',7) ");
  auto last = LastSeq();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 8);
  EXPECT_EQ(Describe(Changes(2, 2)), "3:order itemsD(1) 4:order itemsU(2) ");
  ASSERT_OK(capture_->Prune(SeqPos(8)));
  EXPECT_TRUE(Changes().empty());
  last = LastSeq();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 8);
  Sql("INSERT INTO `order items` VALUES (9, 'z')");
  EXPECT_EQ(Describe(Changes(8)), "9:order itemsI(9) ");
}

TEST_F(MysqlCapture, KeysOfEveryKindKeepTheirExactValue) {
  Sql("CREATE TABLE k (f double, bl varbinary(8), ts timestamp(6), bt bit(12), u bigint unsigned,"
      " d decimal(10,3), dt date, PRIMARY KEY (f, bl, ts, bt, u, d, dt))");
  ASSERT_OK(
      capture_->Install({{.table = "k", .key = {"f", "bl", "ts", "bt", "u", "d", "dt"}}}));
  // Written from a session in another time zone: TIMESTAMP keys are recorded as UTC anyway.
  Sql("SET time_zone = '+05:00'");
  Sql("INSERT INTO k VALUES (0.1e0 + 0.2e0, X'00FF27', '2024-01-01 05:00:00.5', b'101', "
      "18446744073709551615, -1.250, '2024-02-29')");
  Sql("SET time_zone = '+00:00'");
  auto got = Changes();
  ASSERT_EQ(got.size(), 1u);
  Row want = {Value::Float(0.1 + 0.2),
              Value::Bytes(std::string("\0\xff'", 3)),
              Value::TimestampTz(*ParseTimestamp("2024-01-01 00:00:00.5")),
              Value::Int(5),
              Value::Decimal("18446744073709551615"),
              Value::Decimal("-1.250"),
              Value::Date(*ParseDate("2024-02-29"))};
  EXPECT_EQ(got[0].key, want) << Describe(got);
  auto rows = tandem_->Fetch("k", {"f"}, {"f", "bl", "ts", "bt", "u", "d", "dt"}, {got[0].key});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->size(), 1u);  // the key read back finds its row
}

TEST_F(MysqlCapture, SuppressedWritesAreNotRecorded) {
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
  EXPECT_TRUE(Changes().empty()) << Describe(Changes());
  // Another session (the application) is still captured.
  Sql("INSERT INTO `order items` VALUES (5, 'app')");
  EXPECT_EQ(Describe(Changes()), "1:order itemsI(5) ");
  ASSERT_OK(capture_->SuppressOwnWrites(false));
  ASSERT_OK(tandem_->Write("pairs", {"a", "b", "v"}, {"a", "b"},
                           {{Value::Text("r"), Value::Int(1), Value::Null()}}, WriteMode::kInsert));
  EXPECT_EQ(Describe(Changes(1)), "2:pairsI('r',1) ");
}

TEST_F(MysqlCapture, InstallIsIdempotentAndRemoveLeavesUserDataIntact) {
  Sql("CREATE TABLE audit (n int)");
  Sql("CREATE TRIGGER user_audit AFTER INSERT ON pairs FOR EACH ROW INSERT INTO audit VALUES (1)");
  ASSERT_OK(capture_->Install({{.table = "pairs", .key = {"a", "b"}}}));
  Sql("INSERT INTO pairs VALUES ('a', 1, 'x')");
  EXPECT_EQ(Changes().size(), 1u);  // recorded once, not once per install
  auto schemas = tandem_->Introspect();
  ASSERT_OK(schemas);
  for (const auto& s : *schemas) EXPECT_FALSE(s.name.starts_with("_tandem")) << s.name;

  ASSERT_OK(capture_->Remove());
  ASSERT_OK(capture_->Remove());
  auto res = raw_.Query(
      "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE "
      "TRIGGER_SCHEMA = DATABASE()",
      "triggers");
  ASSERT_OK(res);
  EXPECT_STREQ(res->Next()[0], "1");  // the user's trigger stays
  Sql("INSERT INTO pairs VALUES ('b', 2, 'y')");
  auto last = LastSeq();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 0);
  auto changes = capture_->Read({}, 10);
  ASSERT_FALSE(changes.has_value());
  EXPECT_EQ(changes.error().code, Code::kFailedPrecondition);
}

// A transaction that took seq 1 and has not committed hides nothing it should not: the
// reader stops before the gap until the transaction commits.
TEST_F(MysqlCapture, ReaderWaitsForAnOpenTransactionBelowAVisibleChange) {
  MysqlConnection slow = Connect();
  ASSERT_TRUE(slow.Exec("START TRANSACTION", "begin"));
  ASSERT_TRUE(slow.Exec("INSERT INTO `order items` VALUES (1, 'slow')", "insert"));  // seq 1
  Sql("INSERT INTO `order items` VALUES (2, 'fast')");                               // seq 2
  EXPECT_TRUE(Changes().empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_TRUE(Changes().empty());  // still open: still waiting, however long it takes
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_TRUE(Changes().empty());
  ASSERT_TRUE(slow.Exec("COMMIT", "commit"));
  EXPECT_EQ(Describe(Changes()), "1:order itemsI(1) 2:order itemsI(2) ");
}

// A rolled-back transaction leaves a gap that never fills: once every transaction that could
// hold it has ended, the reader moves past it.
TEST_F(MysqlCapture, ReaderMovesPastAGapLeftByARollback) {
  MysqlConnection slow = Connect();
  ASSERT_TRUE(slow.Exec("START TRANSACTION", "begin"));
  ASSERT_TRUE(slow.Exec("INSERT INTO `order items` VALUES (1, 'gone')", "insert"));  // seq 1
  Sql("INSERT INTO `order items` VALUES (2, 'kept')");                               // seq 2
  EXPECT_TRUE(Changes().empty());
  ASSERT_TRUE(slow.Exec("ROLLBACK", "rollback"));
  // Write transactions of the tests beside this one on the shared server count too
  // (ATailGapOfRolledBackTransactionsIsPassed): the wait is long.
  std::vector<Change> got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (got.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    got = Changes();
  }
  EXPECT_EQ(Describe(got), "2:order itemsI(2) ");
}

// A user with every privilege on its database but not PROCESS, dropped at the end.
class MysqlWithoutProcess : public MysqlCapture {
 protected:
  void SetUp() override {
    MysqlCapture::SetUp();
    if (HasFatalFailure()) return;
    user_ = "np_" + uri_.database.substr(2, 12);
    for (const char* host : {"127.0.0.1", "localhost"}) {
      Sql(fmt::format("CREATE USER '{}'@'{}' IDENTIFIED BY 'np-secret'", user_, host));
      Sql(fmt::format("GRANT ALL ON `{}`.* TO '{}'@'{}'", uri_.database, user_, host));
    }
    MysqlUri u = uri_;
    u.user = user_;
    auto e = OpenMysql(UriString(u, "np-secret"), "");
    ASSERT_TRUE(e.has_value()) << e.error().ToString();
    plain_ = std::move(*e);
    auto cs = OpenChangeSource(*plain_);
    ASSERT_TRUE(cs.has_value()) << cs.error().ToString();
    plain_capture_ = std::move(*cs);
    static_cast<mysql::MysqlTriggerCapture&>(*plain_capture_)
        .set_gap_settle(std::chrono::milliseconds(200));
  }
  void TearDown() override {
    plain_capture_.reset();
    plain_.reset();
    for (const char* host : {"127.0.0.1", "localhost"}) {
      (void)raw_.Exec(fmt::format("DROP USER IF EXISTS '{}'@'{}'", user_, host), "drop user");
    }
  }
  std::string user_;
  std::unique_ptr<Engine> plain_;
  std::unique_ptr<ChangeSource> plain_capture_;
};

// Without PROCESS no gap can be proven dead, so capture is refused up front, naming the grant.
TEST_F(MysqlWithoutProcess, InstallIsRefusedNamingTheGrant) {
  auto st = plain_capture_->Install({{.table = "pairs", .key = {"a", "b"}}});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Code::kFailedPrecondition) << st.error().message;
  EXPECT_NE(st.error().message.find("GRANT PROCESS ON *.* TO '" + user_ + "'"), std::string::npos)
      << st.error().message;
}

// A reader without PROCESS never passes a gap it cannot prove dead, however long the gap
// lasts: it says why instead. (Before, it declared the gap dead after a timeout and skipped
// the change of a transaction that was merely slow.)
TEST_F(MysqlWithoutProcess, AReadNeverSkipsAGapItCannotProve) {
  MysqlConnection slow = Connect();
  ASSERT_TRUE(slow.Exec("START TRANSACTION", "begin"));
  ASSERT_TRUE(slow.Exec("INSERT INTO `order items` VALUES (1, 'slow')", "insert"));  // seq 1
  Sql("INSERT INTO `order items` VALUES (2, 'fast')");                               // seq 2
  bool told = false;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  while (std::chrono::steady_clock::now() < until) {
    auto got = plain_capture_->Read({}, 100);
    if (got) {
      EXPECT_TRUE(got->changes.empty()) << Describe(got->changes);
      EXPECT_EQ(got->upto, Position{});
    } else {
      EXPECT_EQ(got.error().code, Code::kFailedPrecondition) << got.error().message;
      EXPECT_NE(got.error().message.find("GRANT PROCESS"), std::string::npos)
          << got.error().message;
      told = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(told);
  ASSERT_TRUE(slow.Exec("COMMIT", "commit"));
  // The gap filled: nothing to prove, and both changes come in order.
  auto got = plain_capture_->Read({}, 100);
  ASSERT_OK(got);
  EXPECT_EQ(Describe(got->changes), "1:order itemsI(1) 2:order itemsI(2) ");
}

// The tail case of issue 11 item 7 on MariaDB: seqs handed out to transactions that rolled
// back, with no change after them, are proven dead (with PROCESS) and passed.
TEST_F(MysqlCapture, ATailGapOfRolledBackTransactionsIsPassed) {
  Sql("INSERT INTO `order items` VALUES (1, 'a'), (2, 'b')");  // seqs 1, 2
  auto first = capture_->Read({}, 100);
  ASSERT_OK(first);
  ASSERT_EQ(first->changes.size(), 2u);
  ASSERT_OK(capture_->Prune(first->upto));
  MysqlConnection a = Connect(), b = Connect();
  ASSERT_TRUE(a.Exec("START TRANSACTION", "begin"));
  ASSERT_TRUE(b.Exec("START TRANSACTION", "begin"));
  ASSERT_TRUE(a.Exec("UPDATE `order items` SET v = 'x' WHERE `select` = 1", "update"));
  ASSERT_TRUE(b.Exec("UPDATE `order items` SET v = 'y' WHERE `select` = 2", "update"));
  ASSERT_TRUE(a.Exec("ROLLBACK", "rollback"));
  ASSERT_TRUE(b.Exec("ROLLBACK", "rollback"));
  auto last = capture_->Last();
  ASSERT_OK(last);
  EXPECT_EQ(SeqNum(*last), 4);
  auto pending = capture_->Pending(first->upto);
  ASSERT_OK(pending);
  EXPECT_EQ(*pending, 0);
  Position pos = first->upto;
  // A gap is passed once every transaction that had written rows when it was seen has ended.
  // The server is shared with the tests running beside this one (ctest -j), whose write
  // transactions count too and can last tens of seconds on a loaded machine: the wait is
  // long, and a failure names the transactions that were still open.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (SeqNum(pos) < 4 && std::chrono::steady_clock::now() < deadline) {
    auto got = capture_->Read(pos, 100);
    ASSERT_OK(got);
    EXPECT_TRUE(got->changes.empty());
    pos = got->upto;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(SeqNum(pos), 4) << "transactions with written rows still open: " << [&] {
    std::string open;
    MysqlConnection probe = Connect();
    // The thread's database, command and state say whose it is and whether it is idle
    // ("Sleep") in its transaction or waiting; this test's own connection is named too.
    auto res = probe.Query(
        "SELECT CONCAT(t.trx_id, ' thread ', t.trx_mysql_thread_id, ' since ', t.trx_started, "
        "' rows ', t.trx_rows_modified, ' query ', IFNULL(t.trx_query, '-'), ' db ', "
        "IFNULL(p.DB, '-'), ' command ', IFNULL(p.COMMAND, '-'), ' state ', "
        "IFNULL(p.STATE, '-')) FROM information_schema.INNODB_TRX t LEFT JOIN "
        "information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
        "WHERE t.trx_rows_modified > 0",
        "list open transactions");
    if (!res) return res.error().ToString();
    while (MYSQL_ROW row = res->Next()) open += std::string(row[0] ? row[0] : "?") + "; ";
    auto self = raw_.Query("SELECT CONCAT(CONNECTION_ID(), ' db ', DATABASE())", "whoami");
    MYSQL_ROW me = self ? self->Next() : nullptr;
    return open + "(this test's connection: thread " + std::string(me && me[0] ? me[0] : "?") + ")";
  }();
}

// Measures the two bulk paths on 200k rows (run with --gtest_also_run_disabled_tests).
TEST_F(MysqlTest, DISABLED_BenchmarkInsertAgainstLoadData) {
  const int n = 200000;
  std::vector<Row> rows;
  for (int i = 1; i <= n; ++i) {
    rows.push_back({Value::Int(i), Value::Text(fmt::format("customer-{}@example.com", i)),
                    Value::Decimal(fmt::format("{}.{:02d}", i % 100000, i % 100)),
                    Value::Timestamp(int64_t{1700000000000000} + i * 1000000LL),
                    Value::Text("lorem ipsum dolor sit amet, consectetur adipiscing elit")});
  }
  std::vector<std::string> cols = {"id", "email", "amount", "at", "note"};
  for (int round = 0; round < 3; ++round) {
    for (int path = 0; path < 2; ++path) {
      std::string table = fmt::format("bench_{}_{}", round, path);
      Sql("CREATE TABLE " + table +
          " (id bigint PRIMARY KEY, email varchar(100), amount decimal(12,2), at datetime(6),"
          " note text)");
      auto start = std::chrono::steady_clock::now();
      for (size_t off = 0; off < rows.size(); off += 10000) {
        std::vector<Row> chunk(rows.begin() + off,
                               rows.begin() + std::min(rows.size(), off + 10000));
        Mysql().set_load_data(path == 1);
        ASSERT_OK(tandem_->Write(table, cols, {"id"}, chunk, WriteMode::kInsert));
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("%s: %d rows in %.2f s = %.0f rows/s\n",
                  path == 0 ? "multi-row INSERT" : "LOAD DATA LOCAL", n, secs, n / secs);
      auto c = tandem_->Count(table, {"id"}, {});
      ASSERT_OK(c);
      EXPECT_EQ(*c, n);
    }
  }
}

}  // namespace
}  // namespace tandem::testing
