// The SQL the SQLite engine runs, checked as text: quoting, keyset predicates, upserts, type
// mapping and capture triggers (no database needed).
// Designated initializers leave the other members at their defaults, which is the point.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "engines/sqlite/sqlite_dialect.h"

#include <gtest/gtest.h>

namespace tandem::sqlite {
namespace {

TEST(SqliteDialect, QuotesEveryIdentifier) {
  EXPECT_EQ(QuoteIdent("id"), "\"id\"");
  EXPECT_EQ(QuoteIdent("order"), "\"order\"");
  EXPECT_EQ(QuoteIdent("group"), "\"group\"");
  EXPECT_EQ(QuoteIdent("order details"), "\"order details\"");
  EXPECT_EQ(QuoteIdent("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(QuoteIdent("\"\""), "\"\"\"\"\"\"");
  EXPECT_EQ(QuoteIdent("back`tick"), "\"back`tick\"");
  EXPECT_EQ(QuoteIdent("it's"), "\"it's\"");
  EXPECT_EQ(QuoteIdent(""), "\"\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(IdentList({"a", "select"}, "t."), "t.\"a\", t.\"select\"");
}

TEST(SqliteDialect, KeysetPredicateForOneColumn) {
  std::vector<std::string> key = {"id"};
  EXPECT_EQ(RangePredicate(key, false, false), "");
  EXPECT_EQ(RangePredicate(key, true, false), "\"id\" > ?");
  EXPECT_EQ(RangePredicate(key, false, true), "\"id\" <= ?");
  EXPECT_EQ(RangePredicate(key, true, true), "\"id\" > ? AND \"id\" <= ?");
}

TEST(SqliteDialect, KeysetPredicateForTwoColumnsUsesRowValues) {
  std::vector<std::string> key = {"region", "order"};
  EXPECT_EQ(RangePredicate(key, true, false), "(\"region\", \"order\") > (?, ?)");
  EXPECT_EQ(RangePredicate(key, false, true), "(\"region\", \"order\") <= (?, ?)");
  EXPECT_EQ(RangePredicate(key, true, true),
            "(\"region\", \"order\") > (?, ?) AND (\"region\", \"order\") <= (?, ?)");
}

TEST(SqliteDialect, RangeParamsAreLowerThenUpper) {
  KeyRange r{.lower = Row{Value::Text("a"), Value::Int(1)},
             .upper = Row{Value::Text("b"), Value::Int(2)}};
  Row want = {Value::Text("a"), Value::Int(1), Value::Text("b"), Value::Int(2)};
  EXPECT_EQ(RangeParams(r), want);
  EXPECT_TRUE(RangeParams(KeyRange{}).empty());
  EXPECT_EQ(RangeParams(KeyRange{.upper = Row{Value::Int(9)}}), Row{Value::Int(9)});
}

TEST(SqliteDialect, ScanPageIsKeysetNeverOffset) {
  std::string sql = SelectPageSql("order details", {"a", "b", "select"}, {"a", "b"}, true, true);
  EXPECT_EQ(sql,
            "SELECT \"a\", \"b\", \"select\" FROM \"order details\" WHERE (\"a\", \"b\") > (?, ?) "
            "AND (\"a\", \"b\") <= (?, ?) ORDER BY \"a\", \"b\" LIMIT ?");
  EXPECT_EQ(SelectPageSql("t", {"id"}, {"id"}, false, false),
            "SELECT \"id\" FROM \"t\" ORDER BY \"id\" LIMIT ?");
  EXPECT_EQ(sql.find("OFFSET"), std::string::npos);
}

TEST(SqliteDialect, CountAndDelete) {
  EXPECT_EQ(CountSql("t", {"id"}, false, true), "SELECT count(*) FROM \"t\" WHERE \"id\" <= ?");
  EXPECT_EQ(CountSql("t", {}, false, false), "SELECT count(*) FROM \"t\"");
  EXPECT_EQ(DeleteKeySql("t", {"a", "b"}), "DELETE FROM \"t\" WHERE \"a\" = ? AND \"b\" = ?");
  EXPECT_EQ(DeleteRangeSql("t", {"id"}, true, false), "DELETE FROM \"t\" WHERE \"id\" > ?");
  EXPECT_EQ(DeleteRangeSql("t", {"id"}, false, false), "DELETE FROM \"t\"");
}

TEST(SqliteDialect, FetchSearchesTheKeyIndex) {
  EXPECT_EQ(FetchSql("t", {"id", "v"}, {"id"}, 3),
            "SELECT \"id\", \"v\" FROM \"t\" WHERE \"id\" IN (?, ?, ?)");
  EXPECT_EQ(FetchSql("t", {"a", "b", "v"}, {"a", "b"}, 2),
            "SELECT t.\"a\", t.\"b\", t.\"v\" FROM (VALUES (?, ?), (?, ?)) AS v CROSS JOIN \"t\" "
            "AS t ON t.\"a\" = v.column1 AND t.\"b\" = v.column2");
}

TEST(SqliteDialect, InsertUpsertAndInsertIfAbsent) {
  std::vector<std::string> cols = {"id", "name", "select"}, key = {"id"};
  EXPECT_EQ(InsertSql("t", cols, key, WriteMode::kInsert),
            "INSERT INTO \"t\" (\"id\", \"name\", \"select\") VALUES (?, ?, ?)");
  EXPECT_EQ(
      InsertSql("t", cols, key, WriteMode::kUpsert),
      "INSERT INTO \"t\" (\"id\", \"name\", \"select\") VALUES (?, ?, ?) ON CONFLICT "
      "(\"id\") DO UPDATE SET \"name\" = excluded.\"name\", \"select\" = excluded.\"select\"");
  // Not INSERT OR IGNORE: that would also drop rows breaking NOT NULL without a word.
  EXPECT_EQ(InsertSql("t", cols, key, WriteMode::kInsertIfAbsent),
            "INSERT INTO \"t\" (\"id\", \"name\", \"select\") VALUES (?, ?, ?) ON CONFLICT "
            "(\"id\") DO NOTHING");
  EXPECT_EQ(InsertSql("t", {"a", "b"}, {"a", "b"}, WriteMode::kUpsert),
            "INSERT INTO \"t\" (\"a\", \"b\") VALUES (?, ?) ON CONFLICT (\"a\", \"b\") DO NOTHING");
}

struct TypeCase {
  std::string_view declared;
  Kind kind;
  int length = -1, precision = -1, scale = -1, int_bytes = 8;
};

TEST(SqliteDialect, DeclaredTypeToPortableType) {
  const TypeCase cases[] = {
      {"INTEGER", Kind::kInt},
      {"int", Kind::kInt},
      {"BIGINT", Kind::kInt},
      {"UNSIGNED BIG INT", Kind::kInt},
      {"MEDIUMINT", Kind::kInt},
      {"SMALLINT", Kind::kInt, -1, -1, -1, 2},
      {"tinyint", Kind::kInt, -1, -1, -1, 2},
      {"BOOLEAN", Kind::kBool},
      {"bool", Kind::kBool},
      {"REAL", Kind::kFloat},
      {"DOUBLE", Kind::kFloat},
      {"double  precision", Kind::kFloat},
      {"FLOAT", Kind::kFloat},
      {"NUMERIC(12,2)", Kind::kDecimal, -1, 12, 2},
      {"DECIMAL(10, 3)", Kind::kDecimal, -1, 10, 3},
      {"decimal(7)", Kind::kDecimal, -1, 7, 0},
      {"NUMERIC", Kind::kDecimal},
      {"VARCHAR(64)", Kind::kText, 64},
      {"NVARCHAR(120)", Kind::kText, 120},
      {"CHARACTER(20)", Kind::kText, 20},
      {"VARYING CHARACTER(255)", Kind::kText, 255},
      {"character varying(8)", Kind::kText, 8},
      {"TEXT", Kind::kText},
      {"CLOB", Kind::kText},
      {"BLOB", Kind::kBytes},
      {"", Kind::kBytes},
      {"DATE", Kind::kDate},
      {"DATETIME", Kind::kTimestamp},
      {"TIMESTAMP", Kind::kTimestamp},
      {"timestamp(3)", Kind::kTimestamp},
      {"TIMESTAMPTZ", Kind::kTimestampTz},
      {"timestamp with time zone", Kind::kTimestampTz},
      {"TIME", Kind::kTime},
      {"JSON", Kind::kJson},
      {"UUID", Kind::kUuid},
      // SQLite's affinity rules for names it has never heard of.
      {"POINT", Kind::kInt},           // contains INT
      {"STRINGTEXT", Kind::kText},     // contains TEXT
      {"LONGBLOB", Kind::kBytes},      // contains BLOB
      {"FLOATING POINT", Kind::kInt},  // INT wins over FLOA, as in SQLite
      {"DOUBLEWIDE", Kind::kFloat},    // contains DOUB
      {"MONEY", Kind::kDecimal},       // otherwise NUMERIC
  };
  for (const auto& c : cases) {
    PortableType t = PortableTypeFor(c.declared);
    SCOPED_TRACE(std::string(c.declared));
    EXPECT_EQ(t.kind, c.kind) << KindName(t.kind);
    EXPECT_EQ(t.length, c.length);
    EXPECT_EQ(t.precision, c.precision);
    EXPECT_EQ(t.scale, c.scale);
    if (c.kind == Kind::kInt) {
      EXPECT_EQ(t.int_bytes, c.int_bytes);
    }
  }
}

TEST(SqliteDialect, PortableTypesRoundTripThroughDeclaredNames) {
  for (std::string_view name :
       {"bool", "smallint", "bigint", "double", "decimal(12,2)", "decimal", "varchar(64)", "text",
        "bytes", "date", "time", "timestamp", "timestamptz", "json", "uuid"}) {
    PortableType t = *ParsePortableType(name);
    EXPECT_EQ(PortableTypeFor(SqliteTypeFor(t)), t) << name << " as " << SqliteTypeFor(t);
  }
  // Names whose affinity keeps the value exact: json and wide decimals get TEXT affinity
  // (NUMERIC would store the document 15.0 as the integer 15, and a 20-digit decimal as a
  // 15-digit REAL), except a decimal key, which keeps NUMERIC for numeric key order.
  EXPECT_EQ(SqliteTypeFor(*ParsePortableType("json")), "JSON TEXT");
  EXPECT_EQ(SqliteTypeFor(*ParsePortableType("decimal(12,2)")), "NUMERIC(12,2)");
  EXPECT_EQ(SqliteTypeFor(*ParsePortableType("decimal(18,0)")), "NUMERIC(18,0)");
  EXPECT_EQ(SqliteTypeFor(*ParsePortableType("decimal(20,0)")), "DECIMAL TEXT(20,0)");
  EXPECT_EQ(SqliteTypeFor(*ParsePortableType("decimal(65,30)")), "DECIMAL TEXT(65,30)");
  EXPECT_EQ(SqliteTypeFor(*ParsePortableType("decimal")), "DECIMAL TEXT");
  EXPECT_EQ(SqliteTypeFor(*ParsePortableType("decimal(20,0)"), /*in_key=*/true), "NUMERIC(20,0)");
  EXPECT_EQ(PortableTypeFor("DECIMAL TEXT(65,30)"), *ParsePortableType("decimal(65,30)"));
  // A 4-byte integer is declared INTEGER (the rowid alias when it is the key) and reads back
  // as SQLite's 8-byte integer.
  EXPECT_EQ(SqliteTypeFor(*ParsePortableType("integer")), "INTEGER");
  EXPECT_EQ(PortableTypeFor("INTEGER").kind, Kind::kInt);
}

TEST(SqliteDialect, PortableDefaults) {
  EXPECT_EQ(PortableDefault("0"), "0");
  EXPECT_EQ(PortableDefault("-1.5"), "-1.5");
  EXPECT_EQ(PortableDefault("'it''s'"), "'it''s'");
  EXPECT_EQ(PortableDefault("'x'::character varying"), "'x'");
  EXPECT_EQ(PortableDefault("(42)"), "42");
  EXPECT_EQ(PortableDefault("current_timestamp"), "CURRENT_TIMESTAMP");
  EXPECT_EQ(PortableDefault("NULL"), "NULL");
  EXPECT_EQ(PortableDefault("nextval('t_id_seq'::regclass)"), std::nullopt);
  EXPECT_EQ(PortableDefault("now()"), std::nullopt);
  EXPECT_EQ(PortableDefault("'unterminated"), std::nullopt);
}

TEST(SqliteDialect, CreateTableFromPortableSchema) {
  TableSchema t;
  t.name = "order details";
  t.columns = {
      {.name = "id", .type = *ParsePortableType("bigint"), .nullable = false},
      {.name = "select", .type = *ParsePortableType("varchar(20)"), .default_expr = "'x'::text"},
      {.name = "price", .type = *ParsePortableType("decimal(12,2)"), .default_expr = "now()"},
      {.name = "parent", .type = *ParsePortableType("bigint")},
  };
  t.primary_key = {"id"};
  t.unique_keys = {{"select"}};
  t.foreign_keys = {{.columns = {"parent"}, .ref_table = "order", .ref_columns = {"id"}}};
  EXPECT_EQ(CreateTableSql(t),
            "CREATE TABLE \"order details\" (\n"
            "  \"id\" INTEGER NOT NULL,\n"
            "  \"select\" VARCHAR(20) DEFAULT 'x',\n"
            "  \"price\" NUMERIC(12,2),\n"
            "  \"parent\" INTEGER,\n"
            "  PRIMARY KEY (\"id\"),\n"
            "  UNIQUE (\"select\"),\n"
            "  FOREIGN KEY (\"parent\") REFERENCES \"order\" (\"id\")\n"
            ")");
}

TEST(SqliteDialect, ExtractsChecksButNotLookalikes) {
  auto checks = ExtractChecks(
      "CREATE TABLE \"check\" (a INT CHECK (a > 0), b TEXT DEFAULT 'check (x)', "
      "\"check(y)\" INT, c INT, CONSTRAINT c1 CHECK(c IN (1, (2))) -- check (z)\n)");
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0], "a > 0");
  EXPECT_EQ(checks[1], "c IN (1, (2))");
}

TEST(SqliteDialect, CaptureTriggersQuoteNamesAndHonourTheOffSwitch) {
  auto sql = CaptureTriggerSql("order \"x\"", {"a", "select"});
  ASSERT_EQ(sql.size(), 6u);
  EXPECT_EQ(sql[0], "DROP TRIGGER IF EXISTS \"_tandem_order \"\"x\"\"_ins\"");
  const std::string& ins = sql[3];
  EXPECT_NE(ins.find("CREATE TRIGGER \"_tandem_order \"\"x\"\"_ins\" AFTER INSERT ON "
                     "\"order \"\"x\"\"\" WHEN NOT EXISTS (SELECT 1 FROM \"_tandem_capture_off\")"),
            std::string::npos)
      << ins;
  EXPECT_NE(ins.find("VALUES ('order \"x\"', 'I', json_array("), std::string::npos) << ins;
  EXPECT_NE(ins.find("NEW.\"select\""), std::string::npos) << ins;
  const std::string& upd = sql[4];
  // A key change records the old key as deleted and the new one as updated.
  EXPECT_NE(upd.find("'D', json_array("), std::string::npos) << upd;
  EXPECT_NE(upd.find("WHERE OLD.\"a\" IS NOT NEW.\"a\" OR OLD.\"select\" IS NOT NEW.\"select\""),
            std::string::npos)
      << upd;
  EXPECT_NE(upd.find("'U', json_array("), std::string::npos) << upd;
  EXPECT_NE(sql[5].find("AFTER DELETE"), std::string::npos);
  EXPECT_NE(sql[5].find("OLD.\"a\""), std::string::npos);
  EXPECT_EQ(CaptureTriggerName("t", "upd"), "_tandem_t_upd");
}


// Schema objects (issue 8): indexes, foreign keys, checks and defaults, names quoted.
TEST(SqliteDialect, IndexDdlQuotesOddNamesAndKeepsOrderAndPredicate) {
  Index ix{.name = "ix \"odd\"",
           .parts = {{.column = "last name"}, {.column = "b", .descending = true},
                     {.expression = "lower(\"c\")"}},
           .unique = true,
           .where = "\"b\" > 0"};
  EXPECT_EQ(CreateIndexSql("my\"table", ix),
            "CREATE UNIQUE INDEX IF NOT EXISTS \"ix \"\"odd\"\"\" ON \"my\"\"table\" "
            "(\"last name\", \"b\" DESC, lower(\"c\")) WHERE \"b\" > 0");
  EXPECT_EQ(CreateIndexSql("t", Index{.name = "i", .parts = {{.column = "a"}}}),
            "CREATE INDEX IF NOT EXISTS \"i\" ON \"t\" (\"a\")");
}

TEST(SqliteDialect, ForeignKeysChecksAndDefaultsLiveInCreateTable) {
  TableSchema t;
  t.name = "order line";
  t.columns = {{.name = "id", .type = *ParsePortableType("bigint"), .nullable = false},
               {.name = "order", .type = *ParsePortableType("bigint"), .nullable = false},
               {.name = "qty", .type = *ParsePortableType("integer"),
                .default_value = ColumnDefault{.literal = Value::Int(1)}},
               {.name = "note", .type = *ParsePortableType("text"),
                .default_value = ColumnDefault{.literal = Value::Text("it's")}},
               {.name = "at", .type = *ParsePortableType("timestamp"),
                .default_value = ColumnDefault{.kind = ColumnDefault::Kind::kCurrentTimestamp}}};
  t.primary_key = {"id"};
  t.check_constraints = {{.name = "qty \"pos\"", .expression = "\"qty\" > 0"}};
  t.foreign_keys = {{.columns = {"order"}, .ref_table = "orders", .ref_columns = {"id"},
                     .name = "line_order", .on_delete = FkAction::kCascade,
                     .on_update = FkAction::kRestrict}};
  EXPECT_EQ(CreateTableSql(t),
            "CREATE TABLE \"order line\" (\n"
            "  \"id\" INTEGER NOT NULL,\n"
            "  \"order\" INTEGER NOT NULL,\n"
            "  \"qty\" INTEGER DEFAULT 1,\n"
            "  \"note\" TEXT DEFAULT 'it''s',\n"
            "  \"at\" TIMESTAMP DEFAULT CURRENT_TIMESTAMP,\n"
            "  PRIMARY KEY (\"id\"),\n"
            "  CONSTRAINT \"qty \"\"pos\"\"\" CHECK (\"qty\" > 0),\n"
            "  CONSTRAINT \"line_order\" FOREIGN KEY (\"order\") REFERENCES \"orders\" (\"id\") "
            "ON DELETE CASCADE ON UPDATE RESTRICT\n"
            ")");
}

// Same-engine copies (issue 8, item 4): a declared engine type is kept as written, and only
// an identity becomes AUTOINCREMENT; a plain INTEGER key stays a rowid alias.
TEST(SqliteDialect, DeclaredEngineTypesAndAutoincrementOnlyForIdentity) {
  TableSchema t;
  t.name = "Track";
  t.columns = {{.name = "TrackId", .engine_type = "INTEGER", .type = *ParsePortableType("bigint"),
                .nullable = false},
               {.name = "Name", .engine_type = "NVARCHAR(200)",
                .type = *ParsePortableType("varchar(200)")},
               {.name = "Price", .engine_type = "NUMERIC(10,2)",
                .type = *ParsePortableType("decimal(10,2)")},
               {.name = "Price2", .type = *ParsePortableType("decimal(20,2)")},
               {.name = "At", .engine_type = "DATETIME", .type = *ParsePortableType("timestamp")}};
  t.primary_key = {"TrackId"};
  EXPECT_EQ(CreateTableSql(t),
            "CREATE TABLE \"Track\" (\n"
            "  \"TrackId\" INTEGER NOT NULL,\n"
            "  \"Name\" NVARCHAR(200),\n"
            "  \"Price\" NUMERIC(10,2),\n"
            "  \"Price2\" DECIMAL TEXT(20,2),\n"
            "  \"At\" DATETIME,\n"
            "  PRIMARY KEY (\"TrackId\")\n"
            ")");
  t.columns[0].identity = true;
  EXPECT_NE(CreateTableSql(t).find("\"TrackId\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"),
            std::string::npos);
}

}  // namespace
}  // namespace tandem::sqlite
