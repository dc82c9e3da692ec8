// The SQL builders behind Engine::SequenceColumns / MaxInteger / AdvanceSequence, per
// dialect, without a server: identifiers quoted, values bound (or, for MariaDB DDL, a number
// formatted here), and the never-backwards condition in the statement itself.
#include <gtest/gtest.h>

#include "engines/mysql/mysql_dialect.h"
#include "engines/postgres/pg_dialect.h"
#include "engines/sqlite/sqlite_dialect.h"

namespace tandem {
namespace {

TEST(PgSequenceSql, StateAndAdvanceQuoteTheSequenceAndBindTheValues) {
  EXPECT_EQ(pg::SequenceStateSql("my schema", "t\"id_seq"),
            "SELECT last_value, is_called FROM \"my schema\".\"t\"\"id_seq\"");
  std::string adv = pg::AdvanceSequenceSql("public", "t_id_seq");
  EXPECT_EQ(adv,
            "SELECT pg_catalog.setval($1::regclass, $2::bigint, false) FROM \"public\".\"t_id_seq\" "
            "WHERE CASE WHEN is_called THEN last_value + $3::bigint ELSE last_value END < $2::bigint");
  EXPECT_EQ(pg::MaxValueSql("\"public\".\"order\"", "select"),
            "SELECT max(\"select\") FROM \"public\".\"order\"");
}

TEST(PgSequenceSql, ColumnsQueryCoversIdentitySerialAndDefaultsWithParameters) {
  std::string sql = pg::SequenceColumnsSql();
  EXPECT_NE(sql.find("d.deptype IN ('a', 'i')"), std::string::npos);
  EXPECT_NE(sql.find("'pg_catalog.pg_attrdef'::regclass"), std::string::npos);
  EXPECT_NE(sql.find("tn.nspname = $1 AND t.relname = $2"), std::string::npos);
  EXPECT_EQ(sql.find("$3"), std::string::npos);
}

TEST(MysqlSequenceSql, AutoIncrementQueriesAndAlter) {
  EXPECT_EQ(mysql::AutoIncrementSql("it's"),
            "SELECT c.COLUMN_NAME, t.AUTO_INCREMENT FROM information_schema.COLUMNS c "
            "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA "
            "AND t.TABLE_NAME = c.TABLE_NAME "
            "WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = 'it''s' "
            "AND c.EXTRA LIKE '%auto_increment%'");
  EXPECT_EQ(mysql::MaxValueSql("or`der", "id"), "SELECT MAX(`id`) FROM `or``der`");
  EXPECT_EQ(mysql::SetAutoIncrementSql("t", 9223372036854775807),
            "ALTER TABLE `t` AUTO_INCREMENT = 9223372036854775807");
}

TEST(SqliteSequenceSql, BuildersBindValues) {
  EXPECT_EQ(sqlite::MaxValueSql("t", "i\"d"),
            "SELECT max(\"i\"\"d\"), typeof(max(\"i\"\"d\")) FROM \"t\"");
  EXPECT_EQ(sqlite::NextRowidSql("a b"), "SELECT coalesce(max(rowid), 0) + 1 FROM \"a b\"");
  EXPECT_EQ(sqlite::RaiseSqliteSequenceSql(),
            "UPDATE sqlite_sequence SET seq = ?1 WHERE name = ?2 AND seq < ?1");
  EXPECT_NE(sqlite::InsertSqliteSequenceSql().find("WHERE NOT EXISTS"), std::string::npos);
  EXPECT_NE(sqlite::RowidKeySql().find("pragma_table_info(?1)"), std::string::npos);
}

TEST(SqliteSequenceSql, DeclaresAutoincrementAsAKeywordOnly) {
  EXPECT_TRUE(sqlite::DeclaresAutoincrement("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)"));
  EXPECT_TRUE(sqlite::DeclaresAutoincrement("create table t(id integer primary key autoincrement,v)"));
  EXPECT_TRUE(sqlite::DeclaresAutoincrement("CREATE TABLE t (id INTEGER PRIMARY KEY\nAutoIncrement)"));
  EXPECT_FALSE(sqlite::DeclaresAutoincrement("CREATE TABLE t (id INTEGER PRIMARY KEY)"));
  EXPECT_FALSE(sqlite::DeclaresAutoincrement("CREATE TABLE t (\"autoincrement\" INTEGER PRIMARY KEY)"));
  EXPECT_FALSE(sqlite::DeclaresAutoincrement("CREATE TABLE t (id INTEGER PRIMARY KEY, [autoincrement])"));
  EXPECT_FALSE(sqlite::DeclaresAutoincrement("CREATE TABLE t (id INTEGER PRIMARY KEY, v DEFAULT 'autoincrement')"));
  EXPECT_FALSE(sqlite::DeclaresAutoincrement("CREATE TABLE t (id INTEGER PRIMARY KEY, no_autoincrement_here)"));
}

}  // namespace
}  // namespace tandem
