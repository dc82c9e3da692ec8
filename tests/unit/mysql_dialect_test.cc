// The SQL the MariaDB engine runs, checked as text without a server: quoting, keyset
// predicates, upserts, DDL and capture triggers; plus the URI parser, type mapping and value
// decoding, which are pure as well.
// Designated initializers leave the other members at their defaults, which is the point.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "engines/mysql/mysql_dialect.h"

#include <gtest/gtest.h>

#include "core/text.h"
#include "engines/mysql/mysql_connection.h"
#include "engines/mysql/mysql_types.h"

namespace tandem::mysql {
namespace {

TEST(MysqlDialect, QuotesIdentifiersWithBackticks) {
  EXPECT_EQ(QuoteIdent("id"), "`id`");
  EXPECT_EQ(QuoteIdent("select"), "`select`");
  EXPECT_EQ(QuoteIdent("order details"), "`order details`");
  EXPECT_EQ(QuoteIdent("a`b"), "`a``b`");
  EXPECT_EQ(QuoteIdent("``"), "``````");
  EXPECT_EQ(QuoteIdent("qu\"ote"), "`qu\"ote`");
  EXPECT_EQ(QuoteIdent("it's"), "`it's`");
  EXPECT_EQ(JoinIdents({"a", "b`c"}), "`a`, `b``c`");
  EXPECT_EQ(QuoteConstant("tandem:it's"), "'tandem:it''s'");
}

TEST(MysqlDialect, KeysetPredicatesAreSpelledOut) {
  EXPECT_EQ(KeyAfter({"id"}, {"5"}), "`id` > 5");
  EXPECT_EQ(KeyAtOrBefore({"id"}, {"5"}), "`id` <= 5");
  EXPECT_EQ(KeyAfter({"a", "b"}, {"'x'", "2"}), "`a` > 'x' OR (`a` = 'x' AND `b` > 2)");
  EXPECT_EQ(KeyAtOrBefore({"a", "b"}, {"'x'", "2"}), "`a` < 'x' OR (`a` = 'x' AND `b` <= 2)");
  EXPECT_EQ(KeyAfter({"a", "b", "c`"}, {"1", "2", "3"}),
            "`a` > 1 OR (`a` = 1 AND `b` > 2) OR (`a` = 1 AND `b` = 2 AND `c``` > 3)");
  EXPECT_EQ(KeyIn({"id"}, {{"1"}, {"2"}}), "`id` IN (1, 2)");
  EXPECT_EQ(KeyIn({"a", "b"}, {{"1", "'x'"}, {"2", "'y'"}}),
            "(`a` = 1 AND `b` = 'x') OR (`a` = 2 AND `b` = 'y')");
  EXPECT_EQ(Where({}), "");
  EXPECT_EQ(Where({"", "`a` > 1 OR (`a` = 1 AND `b` > 2)", "`a` <= 9"}),
            " WHERE (`a` > 1 OR (`a` = 1 AND `b` > 2)) AND (`a` <= 9)");
}

TEST(MysqlDialect, SelectCountDelete) {
  EXPECT_EQ(SelectSql("t", {"a", "b"}, " WHERE (`a` > 1)", {"a"}, 100),
            "SELECT `a`, `b` FROM `t` WHERE (`a` > 1) ORDER BY `a` LIMIT 100");
  EXPECT_EQ(SelectSql("t", {"a"}, "", {}, 0), "SELECT `a` FROM `t`");
  EXPECT_EQ(CountSql("o d", ""), "SELECT COUNT(*) FROM `o d`");
  EXPECT_EQ(DeleteSql("t", " WHERE (`id` IN (1))"), "DELETE FROM `t` WHERE (`id` IN (1))");
}

TEST(MysqlDialect, InsertUpsertAndInsertIfAbsent) {
  EXPECT_EQ(InsertHead("t", {"id", "v"}), "INSERT INTO `t` (`id`, `v`) VALUES ");
  EXPECT_EQ(InsertTail({"id", "v"}, {"id"}, WriteMode::kInsert), "");
  EXPECT_EQ(InsertTail({"id", "v", "w"}, {"id"}, WriteMode::kUpsert),
            " ON DUPLICATE KEY UPDATE `id` = IF(`id` <=> VALUES(`id`), `id`, NULL), "
            "`v` = VALUES(`v`), `w` = VALUES(`w`)");
  EXPECT_EQ(InsertTail({"a", "v", "b"}, {"a", "b"}, WriteMode::kInsertIfAbsent),
            " ON DUPLICATE KEY UPDATE `a` = IF(`a` <=> VALUES(`a`) AND `b` <=> VALUES(`b`), "
            "`a`, NULL)");
  // Only key columns: the guard alone.
  EXPECT_EQ(InsertTail({"k"}, {"k"}, WriteMode::kUpsert),
            " ON DUPLICATE KEY UPDATE `k` = IF(`k` <=> VALUES(`k`), `k`, NULL)");
}

TEST(MysqlDialect, CreateTableMapsPortableTypes) {
  auto T = [](std::string_view n) { return *ParsePortableType(n); };
  TableSchema t{.name = "every",
                .columns = {{.name = "id", .type = T("bigint"), .nullable = false},
                            {.name = "tz", .type = T("timestamptz")},
                            {.name = "d", .type = T("decimal(70,2)")},
                            {.name = "u", .type = T("uuid")},
                            {.name = "k", .type = T("text"), .nullable = false},
                            {.name = "b", .type = T("bool")}},
                .primary_key = {"id"},
                .unique_keys = {{"k"}},
                .foreign_keys = {{.columns = {"id"}, .ref_table = "p", .ref_columns = {"pid"}}}};
  EXPECT_EQ(CreateTableSql(t, {}),
            "CREATE TABLE `every` (\n"
            "  `id` bigint NOT NULL,\n"
            "  `tz` datetime(6) NULL COMMENT 'tandem:timestamptz',\n"
            "  `d` varchar(72) NULL COMMENT 'tandem:decimal(70,2)',\n"
            "  `u` uuid NULL,\n"
            "  `k` varchar(768) NOT NULL COMMENT 'tandem:text',\n"
            "  `b` tinyint(1) NULL,\n"
            "  PRIMARY KEY (`id`),\n"
            "  UNIQUE KEY (`k`),\n"
            "  FOREIGN KEY (`id`) REFERENCES `p` (`pid`)\n"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin");
  EXPECT_EQ(MysqlTypeFor(T("uuid"), {.uuid_type = false}).sql, "char(36)");
  EXPECT_EQ(MysqlTypeFor(T("varchar(20)"), {}).sql, "varchar(20)");
  EXPECT_EQ(MysqlTypeFor(T("varchar(20)"), {.varchar_fits = false}).sql, "longtext");
  EXPECT_EQ(MysqlTypeFor(T("smallint"), {}).sql, "smallint");
  EXPECT_EQ(MysqlTypeFor(T("double"), {}).sql, "double");
  EXPECT_EQ(MysqlTypeFor(T("bytes"), {}).sql, "longblob");
}

TEST(MysqlDialect, TriggersRecordKeysAndSkipSuppressedSessions) {
  std::vector<CaptureKeyColumn> key = {{.name = "a`"}, {.name = "bl", .codec = {.is_bytes = true}}};
  std::string upd = TriggerSql("t", "'t'", 'U', key, true);
  EXPECT_EQ(upd,
            "CREATE OR REPLACE DEFINER = CURRENT_USER TRIGGER `_tandem_upd_t` AFTER UPDATE ON `t` FOR EACH ROW\n"
            "  BEGIN\n"
            "    IF NOT (@tandem_capture_off <=> 1) THEN\n"
            "      IF CAST(JSON_ARRAY(CAST(OLD.`a``` AS CHAR), HEX(OLD.`bl`)) AS BINARY) = "
            "CAST(JSON_ARRAY(CAST(NEW.`a``` AS CHAR), HEX(NEW.`bl`)) AS BINARY) THEN\n"
            "        INSERT INTO `_tandem_changes` (`tbl`, `op`, `k`) VALUES ('t', 'U', "
            "JSON_ARRAY(CAST(NEW.`a``` AS CHAR), HEX(NEW.`bl`)));\n"
            "      ELSE\n"
            "        INSERT INTO `_tandem_changes` (`tbl`, `op`, `k`) VALUES ('t', 'D', "
            "JSON_ARRAY(CAST(OLD.`a``` AS CHAR), HEX(OLD.`bl`))), ('t', 'U', "
            "JSON_ARRAY(CAST(NEW.`a``` AS CHAR), HEX(NEW.`bl`)));\n"
            "      END IF;\n"
            "    END IF;\n"
            "  END");
  std::string del = TriggerSql("t", "'t'", 'D', key, false);
  EXPECT_TRUE(del.starts_with("CREATE DEFINER = CURRENT_USER TRIGGER `_tandem_del_t` AFTER DELETE ON `t`")) << del;
  EXPECT_NE(del.find("'D', JSON_ARRAY(CAST(OLD.`a``` AS CHAR), HEX(OLD.`bl`))"), std::string::npos);
  EXPECT_EQ(CaptureKeyExpr("NEW", "ts", {.wire = Wire::kTimestamp}),
            "CAST(UNIX_TIMESTAMP(NEW.`ts`) AS CHAR)");
  EXPECT_EQ(CaptureKeyExpr("NEW", "b", {.wire = Wire::kBit}), "CAST(NEW.`b` + 0 AS CHAR)");
}

TEST(MysqlDialect, TriggerNamesFitIn64Characters) {
  EXPECT_EQ(TriggerName("orders", 'I'), "_tandem_ins_orders");
  std::string long_name(64, 'x');
  std::string a = TriggerName(long_name, 'U'), b = TriggerName(long_name + "y", 'U');
  EXPECT_LE(a.size(), 64u);
  EXPECT_NE(a, TriggerName(std::string(63, 'x') + "z", 'U'));
  EXPECT_NE(a, b);
  // Never cut inside a UTF-8 character.
  std::string accents;
  for (int i = 0; i < 40; ++i) accents += "é";
  std::string n = TriggerName(accents, 'D');
  EXPECT_LE(n.size(), 64u);
  EXPECT_TRUE(IsValidUtf8(n)) << n;
}

TEST(MysqlUri, ParsesEveryPart) {
  auto u = ParseMysqlUri("mysql://app%40corp:p%3Ass@db.example:3307/leg%20acy?ssl-mode=required",
                         "fallback");
  ASSERT_TRUE(u.has_value()) << u.error().ToString();
  EXPECT_EQ(u->user, "app@corp");
  EXPECT_EQ(u->password, "p:ss");
  EXPECT_EQ(u->host, "db.example");
  EXPECT_EQ(u->port, 3307u);
  EXPECT_EQ(u->database, "leg acy");
  EXPECT_EQ(u->ssl_mode, "REQUIRED");
  EXPECT_EQ(u->Redacted(), "mysql://app@corp@db.example:3307/leg acy");

  u = ParseMysqlUri("mariadb://app@[::1]/db", "from-env");
  ASSERT_TRUE(u.has_value()) << u.error().ToString();
  EXPECT_EQ(u->password, "from-env");
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 3306u);
  // A raw '@' in the password: the user info ends at the last '@'.
  u = ParseMysqlUri("mysql://u:p@ss@h/db", "");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->password, "p@ss");
  EXPECT_EQ(u->host, "h");
}

TEST(MysqlUri, ErrorsNeverQuoteThePassword) {
  for (std::string bad : {"mysql://u:hunter2@h:99999/db", "mysql://u:hunter2@h/",
                          "mysql://u:hunter2@h/db?ssl-mode=maybe", "mysql://u:hunter2@h/db?x=1",
                          "mysql://u:hunter2%zz@h/db"}) {
    auto u = ParseMysqlUri(bad, "");
    ASSERT_FALSE(u.has_value()) << bad;
    EXPECT_EQ(u.error().code, Code::kInvalidArgument);
    EXPECT_EQ(u.error().message.find("hunter2"), std::string::npos) << u.error().message;
  }
}

TEST(MysqlUri, ErrorCodesSayWhatToDoNext) {
  EXPECT_EQ(CodeForMysqlError(1213), Code::kAborted);
  EXPECT_EQ(CodeForMysqlError(1205), Code::kAborted);
  for (unsigned e : {2002u, 2003u, 2006u, 2013u})
    EXPECT_EQ(CodeForMysqlError(e), Code::kUnavailable);
  EXPECT_EQ(CodeForMysqlError(1146), Code::kNotFound);
  EXPECT_EQ(CodeForMysqlError(1406), Code::kInvalidArgument);
  EXPECT_EQ(CodeForMysqlError(1045), Code::kFailedPrecondition);
  EXPECT_EQ(CodeForMysqlError(1064), Code::kInternal);
}

TEST(MysqlTypes, PortableReadingOfMariadbColumns) {
  auto type_of = [](std::string dt, std::string ct, int64_t len = -1, int64_t p = -1,
                    int64_t s = -1, bool json = false, std::string comment = "") {
    ColumnInfo c{.name = "c",
                 .data_type = dt,
                 .column_type = ct,
                 .comment = comment,
                 .char_max_length = len,
                 .numeric_precision = p,
                 .numeric_scale = s,
                 .json_check = json};
    return CodecFor(c).type.ToString();
  };
  EXPECT_EQ(type_of("tinyint", "tinyint(1)"), "bool");
  EXPECT_EQ(type_of("tinyint", "tinyint(4)"), "smallint");
  EXPECT_EQ(type_of("smallint", "smallint(5) unsigned"), "integer");
  EXPECT_EQ(type_of("mediumint", "mediumint(8) unsigned"), "integer");
  EXPECT_EQ(type_of("int", "int(10) unsigned"), "bigint");
  EXPECT_EQ(type_of("bigint", "bigint(20)"), "bigint");
  EXPECT_EQ(type_of("bigint", "bigint(20) unsigned"), "decimal(20,0)");
  EXPECT_EQ(type_of("decimal", "decimal(65,30)", -1, 65, 30), "decimal(65,30)");
  EXPECT_EQ(type_of("varchar", "varchar(12)", 12), "varchar(12)");
  EXPECT_EQ(type_of("longtext", "longtext", -1, -1, -1, true), "json");
  EXPECT_EQ(type_of("enum", "enum('a','b')"), "text");
  EXPECT_EQ(type_of("bit", "bit(1)", -1, 1), "smallint");
  EXPECT_EQ(type_of("bit", "bit(64)", -1, 64), "decimal(20,0)");
  EXPECT_EQ(type_of("year", "year(4)"), "smallint");
  EXPECT_EQ(type_of("timestamp", "timestamp(6)"), "timestamptz");
  EXPECT_EQ(type_of("datetime", "datetime(6)"), "timestamp");
  EXPECT_EQ(type_of("datetime", "datetime(6)", -1, -1, -1, false, "tandem:timestamptz"),
            "timestamptz");
  EXPECT_EQ(type_of("mediumblob", "mediumblob"), "bytes");
  EXPECT_EQ(type_of("uuid", "uuid"), "uuid");
}

TEST(MysqlTypes, DecodingNeverLosesAValue) {
  ColumnCodec date{.type = {.kind = Kind::kDate}};
  EXPECT_EQ(DecodeText("2024-02-29", date), Value::Date(*ParseDate("2024-02-29")));
  EXPECT_EQ(DecodeText("0000-00-00", date), Value::Text("0000-00-00"));
  ColumnCodec flag{.type = {.kind = Kind::kBool}};
  EXPECT_EQ(DecodeText("1", flag), Value::Bool(true));
  EXPECT_EQ(DecodeText("7", flag), Value::Int(7));
  ColumnCodec bits{.type = {.kind = Kind::kInt, .int_bytes = 2}, .wire = Wire::kBit};
  EXPECT_EQ(DecodeText(std::string("\x02\x01", 2), bits), Value::Int(513));
  ColumnCodec ts{.type = {.kind = Kind::kTimestampTz}, .wire = Wire::kTimestamp};
  EXPECT_EQ(DecodeCaptured("1.5", ts), Value::TimestampTz(1500000));
  ColumnCodec text{};
  // Never invalid UTF-8 as text, never silently bytes: a value every cast refuses.
  Value bad = DecodeText("ab\xff", text);
  EXPECT_EQ(bad.kind(), Kind::kUndecodable);
  EXPECT_EQ(bad.as_str(), "bytes 0xFF (at byte 2 of 3) are not valid UTF-8");
  EXPECT_FALSE(CastTo(bad, PortableType{.kind = Kind::kBytes}));
  Value into = Value::Text("buffer");
  DecodeTextInto("\xff", text, into);
  EXPECT_EQ(into.kind(), Kind::kUndecodable);
  // Clean text is marked checked as it is decoded; text holding a NUL byte is valid but left
  // unmarked, for a PostgreSQL target's NUL check to refuse.
  DecodeTextInto("Zoë Müller", text, into);
  EXPECT_EQ(into, Value::Text("Zoë Müller"));
  EXPECT_TRUE(into.text_checked());
  DecodeTextInto(std::string("nul\0inside", 10), text, into);
  EXPECT_EQ(into, Value::Text(std::string("nul\0inside", 10)));
  EXPECT_FALSE(into.text_checked());
  DecodeTextInto("\xff", text, into);
  EXPECT_EQ(into.kind(), Kind::kUndecodable);
  EXPECT_FALSE(into.text_checked());
}

TEST(MysqlTypes, TextInOtherCharsetsIsDecodedByTandem) {
  ColumnInfo info{.name = "c", .data_type = "varchar", .column_type = "varchar(10)",
                  .char_max_length = 10, .collation = "latin1_swedish_ci", .charset = "latin1"};
  ColumnCodec latin1 = CodecFor(info);
  EXPECT_EQ(latin1.charset, "latin1");
  info.charset = "utf8mb4";
  EXPECT_EQ(CodecFor(info).charset, "");  // the server sends UTF-8
  info.charset = "utf8mb3";
  EXPECT_EQ(CodecFor(info).charset, "");
  // MariaDB's latin1 is Windows-1252 with the five undefined bytes as C1 controls.
  EXPECT_EQ(DecodeText("caf\xe9 \x80", latin1), Value::Text("caf\xc3\xa9 \xe2\x82\xac"));
  EXPECT_EQ(DecodeText("\x81\x8d\x8f\x90\x9d", latin1),
            Value::Text("\xc2\x81\xc2\x8d\xc2\x8f\xc2\x90\xc2\x9d"));
  EXPECT_EQ(DecodeText("\x9f\xff", latin1), Value::Text("\xc5\xb8\xc3\xbf"));
  ColumnCodec gbk{.type = {.kind = Kind::kText}, .charset = "gbk"};
  EXPECT_EQ(DecodeText("\xd6\xd0\xce\xc4", gbk), Value::Text("\xe4\xb8\xad\xe6\x96\x87"));  // 中文
  // 0xA2A0 is well formed gbk (the server stores it) but unassigned: MariaDB shows '?'.
  Value lost = DecodeText("a\xa2\xa0" "b", gbk);
  ASSERT_EQ(lost.kind(), Kind::kUndecodable);
  EXPECT_EQ(lost.as_str(), "gbk bytes 0xA2A0 (at byte 1 of 4) have no Unicode mapping");
  Value cut = DecodeText("\xd6\xd0\xce", gbk);  // a lead byte with no trail byte
  ASSERT_EQ(cut.kind(), Kind::kUndecodable);
  EXPECT_NE(cut.as_str().find("0xCE (at byte 2 of 3)"), std::string::npos) << cut.as_str();
  auto cast = CastTo(lost, PortableType{.kind = Kind::kText});
  ASSERT_FALSE(cast);
  EXPECT_EQ(cast.error().message, lost.as_str());
  // Captured keys in such a column come as HEX() of the stored bytes.
  EXPECT_EQ(CaptureKeyExpr("NEW", "k", gbk), "HEX(NEW.`k`)");
  EXPECT_EQ(DecodeCaptured("D6D0CEC4", gbk), Value::Text("\xe4\xb8\xad\xe6\x96\x87"));
  EXPECT_EQ(SelectSql("t", {"a", "b"}, "", {"a"}, 0, {false, true}),
            "SELECT `a`, CAST(`b` AS BINARY) FROM `t` ORDER BY `a`");
}

TEST(MysqlTypes, LiteralsAreExact) {
  QuoteFn quote = [](std::string& out, std::string_view s) {
    out += '\'';
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    out += '\'';
  };
  auto lit = [&](const Value& v) {
    std::string out;
    EXPECT_TRUE(AppendLiteral(out, v, quote).has_value());
    return out;
  };
  EXPECT_EQ(lit(Value::Int(-5)), "-5");
  EXPECT_EQ(lit(Value::Float(0.1 + 0.2)), "0.30000000000000004e0");
  EXPECT_EQ(lit(Value::Float(1e300)), "1e+300");
  EXPECT_EQ(lit(Value::Decimal("-1.50")), "-1.50");
  EXPECT_EQ(lit(Value::Decimal(std::string(70, '9'))), "'" + std::string(70, '9') + "'");
  EXPECT_EQ(lit(Value::Bytes(std::string("\0\xff", 2))), "X'00FF'");
  EXPECT_EQ(lit(Value::Text("it's")), "'it''s'");
  EXPECT_EQ(lit(Value::TimestampTz(1500000)), "'1970-01-01 00:00:01.5'");
  EXPECT_EQ(lit(Value::Null()), "NULL");
  EXPECT_EQ(lit(Value::Bool(true)), "1");
  std::string out;
  EXPECT_FALSE(AppendLiteral(out, Value::Float(std::numeric_limits<double>::quiet_NaN()), quote));
  // A DOUBLE column keeps -0.0 as 0: refused (a reject), like NaN, rather than changed.
  auto neg_zero = AppendLiteral(out, Value::Float(-0.0), quote);
  ASSERT_FALSE(neg_zero);
  EXPECT_EQ(neg_zero.error().code, Code::kInvalidArgument);
  EXPECT_EQ(lit(Value::Float(0.0)), "0e0");
}


// Schema objects (issue 8): indexes, foreign keys, checks and defaults, names quoted.
TEST(MysqlDialect, IndexDdlQuotesOddNamesPrefixesAndOrder) {
  TableSchema t;
  t.name = "my`table";
  t.columns = {{.name = "body", .type = *ParsePortableType("text")},
               {.name = "b", .type = *ParsePortableType("integer")}};
  Index ix{.name = "ix `odd`",
           .parts = {{.column = "body", .prefix_length = 20}, {.column = "b", .descending = true}}};
  EXPECT_EQ(CreateIndexSql(t, ix),
            "CREATE INDEX IF NOT EXISTS `ix ``odd``` ON `my``table` (`body`(20), `b` DESC)");
  // A non-unique index on unbounded text indexes a prefix; a unique one the whole value.
  EXPECT_EQ(CreateIndexSql(t, Index{.name = "i", .parts = {{.column = "body"}}}),
            "CREATE INDEX IF NOT EXISTS `i` ON `my``table` (`body`(768))");
  EXPECT_EQ(CreateIndexSql(t, Index{.name = "u", .parts = {{.column = "b"}}, .unique = true}),
            "CREATE UNIQUE INDEX IF NOT EXISTS `u` ON `my``table` (`b`)");
}

TEST(MysqlDialect, ForeignKeysChecksAndDefaults) {
  ForeignKey fk{.columns = {"order id"}, .ref_table = "or`ders", .ref_columns = {"id"},
                .name = "line order", .on_delete = FkAction::kCascade,
                .on_update = FkAction::kRestrict};
  EXPECT_EQ(AddForeignKeySql("line", fk),
            "ALTER TABLE `line` ADD CONSTRAINT `line order` FOREIGN KEY (`order id`) REFERENCES "
            "`or``ders` (`id`) ON DELETE CASCADE ON UPDATE RESTRICT");
  EXPECT_EQ(AddCheckSql("line", Check{.name = "qty>0", .expression = "`qty` > 0"}),
            "ALTER TABLE `line` ADD CONSTRAINT `qty>0` CHECK (`qty` > 0)");
  using K = ColumnDefault::Kind;
  auto T = [](std::string_view s) { return *ParsePortableType(s); };
  EXPECT_EQ(DefaultSql({.kind = K::kCurrentTimestamp}, T("timestamp"), "datetime(6)"),
            "CURRENT_TIMESTAMP(6)");
  EXPECT_EQ(DefaultSql({.kind = K::kCurrentTimestamp}, T("timestamp"), "datetime"),
            "CURRENT_TIMESTAMP");
  EXPECT_EQ(DefaultSql({.kind = K::kCurrentDate}, T("date"), "date"), "(curdate())");
  EXPECT_EQ(DefaultSql({.literal = Value::Text("it's")}, T("text"), "longtext"), "'it''s'");
  EXPECT_EQ(DefaultSql({.literal = Value::Int(5)}, T("integer"), "int"), "5");
}

// Same-engine copies (issue 8, item 4): a declared engine type is kept as written, without
// tandem's type comment.
TEST(MysqlDialect, CreateTableKeepsDeclaredEngineTypes) {
  TableSchema t;
  t.name = "t";
  t.columns = {{.name = "id", .engine_type = "int(11)", .type = *ParsePortableType("integer"),
                .nullable = false, .identity = true},
               {.name = "e", .engine_type = "enum('a','b')", .type = *ParsePortableType("text")},
               {.name = "at", .engine_type = "datetime", .type = *ParsePortableType("timestamptz")}};
  t.primary_key = {"id"};
  std::string sql = CreateTableSql(t, CreateOptions{});
  EXPECT_NE(sql.find("`id` int(11) NOT NULL AUTO_INCREMENT"), std::string::npos) << sql;
  EXPECT_NE(sql.find("`e` enum('a','b') NULL"), std::string::npos) << sql;
  EXPECT_NE(sql.find("`at` datetime NULL,"), std::string::npos) << sql;
  EXPECT_EQ(sql.find("COMMENT"), std::string::npos) << sql;
}

}  // namespace
}  // namespace tandem::mysql

namespace tandem::mysql {
namespace {

// Range digests: every value quoted from its stored bytes, MD5 per row, both halves xor-ed.
TEST(MysqlDialect, DigestSqlQuotesEveryValueFromItsBytes) {
  EXPECT_EQ(DigestSql("o d", {"id", "v`w"}, " WHERE (`id` > 1)"),
            "SELECT COUNT(*), COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(h, 1, 16), 16, 10) AS UNSIGNED)), 0), "
            "COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(h, 17, 16), 16, 10) AS UNSIGNED)), 0) "
            "FROM (SELECT MD5(CONCAT_WS(',', QUOTE(CAST(`id` AS BINARY)), QUOTE(CAST(`v``w` AS BINARY)))) "
            "AS h FROM `o d` WHERE (`id` > 1)) AS s");
}

}  // namespace
}  // namespace tandem::mysql
