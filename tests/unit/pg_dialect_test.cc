// The PostgreSQL SQL builders and value text forms, without a server.
#include "engines/postgres/pg_dialect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "engines/postgres/pg_values.h"

namespace tandem::pg {
namespace {

TEST(PgDialect, QuotesIdentifiersWithQuotesAndSpaces) {
  EXPECT_EQ(QuoteIdent("plain"), "\"plain\"");
  EXPECT_EQ(QuoteIdent("order items"), "\"order items\"");
  EXPECT_EQ(QuoteIdent("qu\"ote"), "\"qu\"\"ote\"");
  EXPECT_EQ(QuoteIdent("Upper"), "\"Upper\"");
  EXPECT_EQ(Qualified("my schema", "t\"1"), "\"my schema\".\"t\"\"1\"");
  EXPECT_EQ(ColumnList({"a", "select", "b c"}), "\"a\", \"select\", \"b c\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(TextArrayLiteral({"a", "b \"c\"", "d\\e", "f,g"}),
            "{\"a\",\"b \\\"c\\\"\",\"d\\\\e\",\"f,g\"}");
}

TEST(PgDialect, KeysetPredicates) {
  EXPECT_EQ(KeyCompare({"id"}, ">", 1), "\"id\" > $1");
  EXPECT_EQ(KeyCompare({"a", "b"}, "<=", 3), "(\"a\", \"b\") <= ($3, $4)");
  EXPECT_EQ(RangePredicate({"a", "b"}, true, true, 1),
            "(\"a\", \"b\") > ($1, $2) AND (\"a\", \"b\") <= ($3, $4)");
  EXPECT_EQ(RangePredicate({"id"}, false, true, 1), "\"id\" <= $1");
  EXPECT_EQ(RangePredicate({"id"}, false, false, 1), "TRUE");
  EXPECT_EQ(SelectPageSql("\"s\".\"t\"", {"v", "id"}, {"id"}, true, false, 100),
            "SELECT \"v\", \"id\" FROM \"s\".\"t\" WHERE \"id\" > $1 ORDER BY \"id\" LIMIT 100");
  EXPECT_EQ(SelectPageSql("\"s\".\"t\"", {"id"}, {"id"}, false, false, 7),
            "SELECT \"id\" FROM \"s\".\"t\" ORDER BY \"id\" LIMIT 7");
  EXPECT_EQ(CountSql("t", {"a", "b"}, true, false),
            "SELECT count(*) FROM t WHERE (\"a\", \"b\") > ($1, $2)");
  EXPECT_EQ(KeyInList({"id"}, 3, 1), "\"id\" IN ($1, $2, $3)");
  EXPECT_EQ(KeyInList({"a", "b"}, 2, 1), "(\"a\", \"b\") IN (($1, $2), ($3, $4))");
  EXPECT_EQ(DeleteRangeSql("t", {"id"}, false, false), "DELETE FROM t");
  EXPECT_EQ(DeleteKeysSql("t", {"id"}, 1), "DELETE FROM t WHERE \"id\" IN ($1)");
}

TEST(PgDialect, CopyAndUpsert) {
  EXPECT_EQ(CopyFromStdinSql("\"s\".\"t\"", {"a", "b"}),
            "COPY \"s\".\"t\" (\"a\", \"b\") FROM STDIN");
  std::string stage = StageName("\"s\".\"t\"", {"k", "v"});
  EXPECT_TRUE(stage.starts_with("_tandem_stage_"));
  EXPECT_NE(stage, StageName("\"s\".\"t\"", {"k", "w"}));
  EXPECT_NE(stage, StageName("\"s\".\"u\"", {"k", "v"}));
  EXPECT_LE(stage.size(), 63u);
  EXPECT_EQ(CreateStageSql("st", "t", {"k", "v"}),
            "CREATE TEMP TABLE IF NOT EXISTS \"st\" ON COMMIT DELETE ROWS AS SELECT \"k\", \"v\" "
            "FROM t WITH NO DATA");
  EXPECT_EQ(
      MergeFromStageSql("t", "st", {"k", "v", "w"}, {"k"}, WriteMode::kUpsert),
      "INSERT INTO t (\"k\", \"v\", \"w\") OVERRIDING SYSTEM VALUE SELECT \"k\", \"v\", \"w\" "
      "FROM pg_temp.\"st\" ON CONFLICT (\"k\") DO UPDATE SET \"v\" = EXCLUDED.\"v\", "
      "\"w\" = EXCLUDED.\"w\"");
  EXPECT_EQ(MergeFromStageSql("t", "st", {"k", "v"}, {"k"}, WriteMode::kInsertIfAbsent),
            "INSERT INTO t (\"k\", \"v\") OVERRIDING SYSTEM VALUE SELECT \"k\", \"v\" "
            "FROM pg_temp.\"st\" ON CONFLICT (\"k\") DO NOTHING");
  // Only key columns: nothing to update.
  EXPECT_TRUE(
      MergeFromStageSql("t", "st", {"k"}, {"k"}, WriteMode::kUpsert).ends_with("DO NOTHING"));
}

TEST(PgDialect, CopyTextEscaping) {
  std::string out;
  AppendCopyEscaped("a\tb\nc\rd\\e", out);
  EXPECT_EQ(out, "a\\tb\\nc\\rd\\\\e");
  out.clear();
  AppendCopyField(Value::Null(), out);
  out += '|';
  AppendCopyField(Value::Text("\\N"), out);
  out += '|';
  AppendCopyField(Value::Bytes(std::string("\0\xff", 2)), out);
  out += '|';
  AppendCopyField(Value::Int(-42), out);
  out += '|';
  AppendCopyField(Value::Float(-0.0), out);
  out += '|';
  AppendCopyField(Value::Float(std::numeric_limits<double>::infinity()), out);
  out += '|';
  AppendCopyField(Value::Json("{\"a\":\"x\\ty\"}"), out);
  EXPECT_EQ(out, "\\N|\\\\N|\\\\x00ff|-42|-0|Infinity|{\"a\":\"x\\\\ty\"}");
  EXPECT_TRUE(HasNulByte(Value::Text(std::string("a\0", 2))));
  EXPECT_FALSE(HasNulByte(Value::Bytes(std::string("a\0", 2))));
}

TEST(PgValues, ParamTextAndDecodeAreInverse) {
  auto round = [](TypeOid oid, const Value& v) {
    auto text = ParamText(v);
    EXPECT_TRUE(text.has_value());
    return DecodeText(oid, *text);
  };
  auto date = [](std::string_view s) { return Value::Date(*ParseDate(s)); };
  auto ts = [](std::string_view s) { return Value::Timestamp(*ParseTimestamp(s)); };
  EXPECT_EQ(ParamText(date("-0043-03-15")), "0044-03-15 BC");
  EXPECT_EQ(ParamText(date("0000-01-01")), "0001-01-01 BC");
  EXPECT_EQ(ParamText(ts("-0043-03-15 12:00:00.5")), "0044-03-15 12:00:00.5 BC");
  EXPECT_EQ(ParamText(Value::TimestampTz(0)), "1970-01-01 00:00:00+00");
  EXPECT_EQ(ParamText(Value::Bool(true)), "t");
  EXPECT_EQ(ParamText(Value::Null()), std::nullopt);
  for (const Value& v : {date("-0043-03-15"), date("2024-02-29"), date("10000-01-01")}) {
    EXPECT_EQ(round(kDateOid, v), v) << v.ToString();
  }
  for (const Value& v : {ts("-0043-03-15 12:00:00.5"), ts("1969-12-31 23:59:59.999999")}) {
    EXPECT_EQ(round(kTimestampOid, v), v) << v.ToString();
  }
  EXPECT_EQ(round(kTimestampTzOid, Value::TimestampTz(-1)), Value::TimestampTz(-1));
  EXPECT_EQ(round(kFloat8Oid, Value::Float(0.1 + 0.2)), Value::Float(0.1 + 0.2));
  EXPECT_TRUE(std::signbit(round(kFloat8Oid, Value::Float(-0.0)).as_float()));
  EXPECT_TRUE(std::isnan(DecodeText(kFloat8Oid, "NaN").as_float()));
  EXPECT_EQ(DecodeText(kFloat8Oid, "-Infinity"),
            Value::Float(-std::numeric_limits<double>::infinity()));
  EXPECT_EQ(round(kByteaOid, Value::Bytes(std::string("\0\x01\xff", 3))),
            Value::Bytes(std::string("\0\x01\xff", 3)));
  EXPECT_EQ(round(kUuidOid, Value::Uuid(std::string(16, '\x7f'))),
            Value::Uuid(std::string(16, '\x7f')));
}

TEST(PgValues, DecodesServerAndJsonForms) {
  EXPECT_EQ(DecodeText(kBoolOid, "t"), Value::Bool(true));
  EXPECT_EQ(DecodeText(kBoolOid, "false"), Value::Bool(false));
  EXPECT_EQ(DecodeText(kInt8Oid, "-9223372036854775808"),
            Value::Int(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(DecodeText(kNumericOid, "1.50"), Value::Decimal("1.50"));
  EXPECT_TRUE(std::isnan(DecodeText(kNumericOid, "NaN").as_float()));
  EXPECT_EQ(DecodeText(kByteaOid, "\\001a\\\\"), Value::Bytes(std::string("\x01"
                                                                          "a\\",
                                                                          3)));
  EXPECT_EQ(DecodeText(kTimestampTzOid, "2024-01-01T05:00:00-07:00"),
            Value::TimestampTz(*ParseTimestamp("2024-01-01 12:00:00")));
  EXPECT_EQ(DecodeText(kTimestampOid, "2024-01-01T05:00:00"),
            Value::Timestamp(*ParseTimestamp("2024-01-01 05:00:00")));
  // Values without a tandem counterpart stay the server's text.
  EXPECT_EQ(DecodeText(kTimestampOid, "infinity"), Value::Text("infinity"));
  EXPECT_EQ(DecodeText(kTimeOid, "24:00:00"), Value::Text("24:00:00"));
  EXPECT_EQ(DecodeText(kJsonOid, "15.0"), Value::Json("15.0"));
  EXPECT_EQ(DecodeText(12345, "{1,2}"), Value::Text("{1,2}"));
}

TEST(PgValues, TypeMapping) {
  EXPECT_EQ(PortableFromPg(kInt2Oid, -1).int_bytes, 2);
  PortableType n = PortableFromPg(kNumericOid, ((65 << 16) | 30) + 4);
  EXPECT_EQ(n.kind, Kind::kDecimal);
  EXPECT_EQ(n.precision, 65);
  EXPECT_EQ(n.scale, 30);
  EXPECT_EQ(PortableFromPg(kNumericOid, -1).precision, -1);
  EXPECT_EQ(PortableFromPg(kVarcharOid, 64 + 4).length, 64);
  EXPECT_EQ(PortableFromPg(kJsonbOid, -1).kind, Kind::kJson);
  EXPECT_EQ(PortableFromPg(1007 /* int4[] */, -1).kind, Kind::kText);
  EXPECT_EQ(PgTypeFor(*ParsePortableType("decimal(12,2)")), "numeric(12,2)");
  EXPECT_EQ(PgTypeFor(*ParsePortableType("varchar(64)")), "varchar(64)");
  EXPECT_EQ(PgTypeFor(*ParsePortableType("smallint")), "smallint");
  EXPECT_EQ(PgTypeFor(*ParsePortableType("double")), "double precision");
  EXPECT_EQ(PgTypeFor(*ParsePortableType("json")), "json");
  EXPECT_EQ(PgTypeFor(*ParsePortableType("bytes")), "bytea");
}

TEST(PgDialect, CopyOutInlinesBoundsAsLiterals) {
  EXPECT_EQ(CopyOutSql("t", {"id", "v"}, {"id"}, {}, {}),
            "COPY (SELECT \"id\", \"v\" FROM t ORDER BY \"id\") TO STDOUT");
  EXPECT_EQ(CopyOutSql("t", {"a", "b"}, {"a", "b"}, {"x'y", "2"}, {std::nullopt, "9"}),
            "COPY (SELECT \"a\", \"b\" FROM t WHERE (\"a\", \"b\") > ('x''y', '2') AND "
            "(\"a\", \"b\") <= (NULL, '9') ORDER BY \"a\", \"b\") TO STDOUT");
}

TEST(PgValues, SplitsCopyTextRowsUndoingEscapes) {
  std::vector<std::optional<std::string_view>> f;
  std::string storage;
  ASSERT_TRUE(SplitCopyRow("1\t\\N\tab\\tc\\\\d\\n\t\\x41\\101\\q\t\n", f, storage));
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0], "1");
  EXPECT_FALSE(f[1].has_value());
  EXPECT_EQ(f[2], "ab\tc\\d\n");
  EXPECT_EQ(f[3], "AAq");
  EXPECT_EQ(f[4], "");  // empty text, not NULL
  EXPECT_FALSE(SplitCopyRow("dangling\\", f, storage));
}

std::string Hex(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

std::string Binary(TypeOid oid, const Value& v) {
  std::string out;
  if (!AppendBinaryField(oid, v, out)) return "refused";
  return Hex(out);
}

TEST(PgValues, BinaryCopyFields) {
  EXPECT_EQ(Binary(kInt4Oid, Value::Null()), "ffffffff");
  EXPECT_EQ(Binary(kInt4Oid, Value::Int(-2)), "00000004fffffffe");
  EXPECT_EQ(Binary(kInt8Oid, Value::Int(1)), "000000080000000000000001");
  EXPECT_EQ(Binary(kInt2Oid, Value::Int(40000)), "refused");  // the server words the error
  EXPECT_EQ(Binary(kInt4Oid, Value::Text("1")), "refused");
  EXPECT_EQ(Binary(kBoolOid, Value::Bool(true)), "0000000101");
  EXPECT_EQ(Binary(kTextOid, Value::Text("hé")), "00000003" "68c3a9");
  EXPECT_EQ(Binary(kDateOid, Value::Date(10957)), "0000000400000000");  // 2000-01-01
  EXPECT_EQ(Binary(kTimestampOid, Value::Timestamp(946684800000001)), "000000080000000000000001");
  EXPECT_EQ(Binary(kTimestampTzOid, Value::Timestamp(0)), "refused");
  EXPECT_EQ(Binary(kJsonbOid, Value::Json("{}")), "00000003" "01" "7b7d");
  // numeric: ndigits, weight, sign, dscale, base-10000 digits.
  EXPECT_EQ(Binary(kNumericOid, Value::Decimal("-123.45")),
            "0000000c" "0002" "0000" "4000" "0002" "007b" "1194");
  EXPECT_EQ(Binary(kNumericOid, Value::Decimal("0.0001")), "0000000a" "0001" "ffff" "0000" "0004" "0001");
  EXPECT_EQ(Binary(kNumericOid, Value::Decimal("10000")), "0000000a" "0001" "0001" "0000" "0000" "0001");
  EXPECT_EQ(Binary(kNumericOid, Value::Decimal("0.00")), "00000008" "0000" "0000" "0000" "0002");
  EXPECT_EQ(Binary(kNumericOid, Value::Decimal("12345678.9")),
            "0000000e" "0003" "0001" "0000" "0001" "04d2" "162e" "2328");
  std::string header;
  AppendBinaryCopyHeader(header);
  EXPECT_EQ(Hex(header), "5047434f50590aff0d0a00" "00000000" "00000000");
}

// A row is written into room reserved for its largest form: whatever the mix of values, the
// bytes are the fields' own, one after the other, and a row that cannot be written leaves
// what was before it.
TEST(PgValues, BinaryCopyRows) {
  const std::string long_text(100000, 'x');
  const std::string widest = std::string(128, '9') + "." + std::string(128, '1');  // 64 groups
  const std::vector<TypeOid> types = {kInt8Oid, kTextOid,     kNumericOid, kJsonbOid,
                                      kInt2Oid, kTimestampOid, kNumericOid};
  const Row row = {Value::Int(7), Value::Text(long_text), Value::Decimal(widest),
                   Value::Json("[]"), Value::Null(), Value::Timestamp(946684800000000),
                   Value::Decimal("-0.5")};
  std::string expected = "0007";
  for (size_t c = 0; c < row.size(); ++c) expected += Binary(types[c], row[c]);
  EXPECT_EQ(expected.find("refused"), std::string::npos);

  std::string out = "before";
  ASSERT_TRUE(AppendBinaryRow(types, row, out));
  EXPECT_EQ(out.substr(0, 6), "before");
  EXPECT_EQ(Hex(out.substr(6)), expected);
  const size_t size = out.size();
  ASSERT_TRUE(AppendBinaryRow(types, row, out));  // a second row after the first
  EXPECT_EQ(Hex(out.substr(size)), expected);

  std::string kept = out;
  Row bad = row;
  bad[4] = Value::Int(70000);  // past int2: no binary form, after fields already written
  EXPECT_FALSE(AppendBinaryRow(types, bad, out));
  EXPECT_EQ(out, kept);
  EXPECT_FALSE(AppendBinaryRow(types, {Value::Int(1), Value::Text("a"),
                                       Value::Decimal(std::string(300, '1'))}, out));
  EXPECT_EQ(out, kept);  // a decimal wider than tandem writes
}

TEST(PgDialect, CreateTable) {
  TableSchema t;
  t.name = "child";
  t.columns = {{.name = "id", .type = *ParsePortableType("bigint"), .nullable = false},
               {.name = "parent id", .type = *ParsePortableType("integer")},
               {.name = "price", .type = *ParsePortableType("decimal(10,2)")}};
  t.primary_key = {"id"};
  t.unique_keys = {{"parent id", "price"}};
  t.foreign_keys = {{.columns = {"parent id"}, .ref_table = "par\"ent", .ref_columns = {"id"}}};
  EXPECT_EQ(CreateTableSql("public", t),
            "CREATE TABLE \"public\".\"child\" (\n"
            "  \"id\" bigint NOT NULL,\n"
            "  \"parent id\" integer,\n"
            "  \"price\" numeric(10,2),\n"
            "  PRIMARY KEY (\"id\"),\n"
            "  UNIQUE (\"parent id\", \"price\"),\n"
            "  FOREIGN KEY (\"parent id\") REFERENCES \"public\".\"par\"\"ent\" (\"id\")\n"
            ")");
  EXPECT_EQ(CheckExpression("CHECK ((total >= (0)::numeric)) NOT VALID"),
            "(total >= (0)::numeric)");
  EXPECT_EQ(CheckExpression("CHECK ((a > 0) AND (b > 0))"), "(a > 0) AND (b > 0)");
}

TEST(PgDialect, CaptureDdl) {
  std::string fn = CaptureFunctionName(std::string(80, 'x'));
  EXPECT_LE(fn.size(), 63u);
  EXPECT_NE(fn, CaptureFunctionName(std::string(81, 'x')));
  EXPECT_TRUE(fn.starts_with("_tandem_cap_"));
  std::string ddl = CaptureFunctionDdl("public", "order items", {"select", "b$tandem$"}, false);
  EXPECT_NE(ddl.find("jsonb_build_array(NEW.\"select\", NEW.\"b$tandem$\")"), std::string::npos);
  EXPECT_NE(ddl.find("current_setting('tandem.capture_off', true) = 'on'"), std::string::npos);
  // The dollar quote is not one that a column name contains.
  EXPECT_NE(ddl.find("AS $tandem1$"), std::string::npos) << ddl;
  EXPECT_TRUE(ddl.ends_with("$tandem1$"));
  EXPECT_EQ(ddl.find("extra_float_digits"), std::string::npos);
  // Runs as tandem's role whoever fires it, with nothing of the caller's search_path.
  EXPECT_NE(ddl.find("SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS"),
            std::string::npos)
      << ddl;
  std::string revoke = RevokeCaptureAccessSql("app's");
  EXPECT_NE(revoke.find("'\"app''s\"'::regnamespace"), std::string::npos) << revoke;
  EXPECT_NE(revoke.find("'_tandem_changes_seq_seq'"), std::string::npos);
  EXPECT_NE(revoke.find("starts_with(p.proname, '_tandem_cap_')"), std::string::npos);
  EXPECT_NE(CaptureFunctionDdl("public", "t", {"f"}, true).find("SET extra_float_digits = 3"),
            std::string::npos);
  EXPECT_EQ(CaptureTriggerDdl("public", "order items"),
            "DROP TRIGGER IF EXISTS \"_tandem_capture\" ON \"public\".\"order items\";\n"
            "CREATE TRIGGER \"_tandem_capture\" AFTER INSERT OR UPDATE OR DELETE ON "
            "\"public\".\"order items\" FOR EACH ROW EXECUTE FUNCTION \"public\".\"" +
                CaptureFunctionName("order items") + "\"('order items')");
  // A partition's change is recorded under its parent's name, the trigger's argument.
  std::string body = CaptureFunctionDdl("public", "t", {"id"}, false);
  EXPECT_NE(body.find("VALUES (TG_ARGV[0], 'D', old_key)"), std::string::npos) << body;
  EXPECT_EQ(body.find("TG_TABLE_NAME"), std::string::npos) << body;
  EXPECT_TRUE(CaptureTriggerDdl("s", "it's").ends_with("('it''s')"));
  // Re-install and remove drop the parent's trigger only (its clones go with it).
  EXPECT_NE(CaptureTriggersSql().find("t.tgparentid = 0"), std::string::npos);
  EXPECT_NE(EstimatedRowsSql().find("pg_partition_tree($1::regclass)"), std::string::npos);
}


// Schema objects (issue 8): indexes, foreign keys, checks and defaults, names quoted.
TEST(PgDialect, IndexDdlQuotesOddNamesMethodOrderAndPredicate) {
  Index ix{.name = "ix \"odd\"",
           .parts = {{.column = "last name"}, {.column = "b", .descending = true}},
           .unique = true,
           .where = "(b > 0)"};
  EXPECT_EQ(CreateIndexSql("my schema", "t\"1", ix),
            "CREATE UNIQUE INDEX IF NOT EXISTS \"ix \"\"odd\"\"\" ON \"my schema\".\"t\"\"1\" "
            "(\"last name\", \"b\" DESC) WHERE (b > 0)");
  Index gin{.name = "doc_gin", .parts = {{.expression = "to_tsvector('simple', body)"}},
            .method = "gin"};
  EXPECT_EQ(CreateIndexSql("public", "docs", gin),
            "CREATE INDEX IF NOT EXISTS \"doc_gin\" ON \"public\".\"docs\" USING \"gin\" "
            "((to_tsvector('simple', body)))");
}

TEST(PgDialect, ForeignKeysAndChecksAreAddedNotValidThenValidated) {
  ForeignKey fk{.columns = {"order id"}, .ref_table = "or\"ders", .ref_columns = {"id"},
                .name = "line order", .on_delete = FkAction::kSetNull,
                .on_update = FkAction::kCascade};
  EXPECT_EQ(AddForeignKeySql("public", "line", fk),
            (std::vector<std::string>{
                "ALTER TABLE \"public\".\"line\" ADD CONSTRAINT \"line order\" FOREIGN KEY "
                "(\"order id\") REFERENCES \"public\".\"or\"\"ders\" (\"id\") ON DELETE SET NULL "
                "ON UPDATE CASCADE NOT VALID",
                "ALTER TABLE \"public\".\"line\" VALIDATE CONSTRAINT \"line order\""}));
  EXPECT_EQ(AddCheckSql("public", "line", Check{.name = "qty>0", .expression = "qty > 0"}),
            (std::vector<std::string>{
                "ALTER TABLE \"public\".\"line\" ADD CONSTRAINT \"qty>0\" CHECK (qty > 0) NOT VALID",
                "ALTER TABLE \"public\".\"line\" VALIDATE CONSTRAINT \"qty>0\""}));
}

TEST(PgDialect, DefaultsIdentitiesAndDeclaredTypes) {
  using K = ColumnDefault::Kind;
  auto T = [](std::string_view s) { return *ParsePortableType(s); };
  EXPECT_EQ(DefaultSql({.literal = Value::Text("it's")}, T("text")), "'it''s'");
  EXPECT_EQ(DefaultSql({.literal = Value::Int(0)}, T("bool")), "FALSE");
  EXPECT_EQ(DefaultSql({.literal = Value::Int(7)}, T("integer")), "7");
  EXPECT_EQ(DefaultSql({.literal = Value::Null()}, T("integer")), "NULL");
  EXPECT_EQ(DefaultSql({.kind = K::kCurrentTimestamp}, T("timestamptz")), "CURRENT_TIMESTAMP");
  TableSchema t;
  t.name = "t";
  t.columns = {{.name = "id", .type = T("integer"), .nullable = false, .identity = true},
               {.name = "tags", .engine_type = "integer[]", .type = T("text")},
               {.name = "at", .engine_type = "timestamp(3) without time zone",
                .type = T("timestamp")},
               {.name = "n", .type = T("decimal(10,2)"),
                .default_value = ColumnDefault{.literal = Value::Text("0.00")}}};
  t.primary_key = {"id"};
  EXPECT_EQ(CreateTableSql("public", t),
            "CREATE TABLE \"public\".\"t\" (\n"
            "  \"id\" integer GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n"
            "  \"tags\" integer[],\n"
            "  \"at\" timestamp(3) without time zone,\n"
            "  \"n\" numeric(10,2) DEFAULT '0.00',\n"
            "  PRIMARY KEY (\"id\")\n"
            ")");
}

}  // namespace
}  // namespace tandem::pg

namespace tandem::pg {
namespace {

// Range digests: the row's text form through one hash per row, bounds as CountSql's.
TEST(PgDialect, DigestSqlHashesTheRowTextOfTheColumnsInRange) {
  EXPECT_EQ(DigestSql("\"s\".\"t\"", {"id", "o\"d"}, {"id"}, true, true),
            "SELECT count(*), coalesce(bit_xor(hashtextextended(ROW(\"id\", \"o\"\"d\")::text, 0)), 0) "
            "FROM \"s\".\"t\" WHERE \"id\" > $1 AND \"id\" <= $2");
  EXPECT_EQ(DigestSql("t", {"v"}, {"a", "b"}, false, false),
            "SELECT count(*), coalesce(bit_xor(hashtextextended(ROW(\"v\")::text, 0)), 0) FROM t");
  // With each column's binary output function: its bytes, hashed field by field, in order.
  EXPECT_EQ(DigestSql("t", {"id", "o\"d"}, {"id"}, true, false, {"int8send", "textsend"}),
            "SELECT count(*), coalesce(bit_xor(hash_record_extended(ROW(int8send(\"id\"), "
            "textsend(\"o\"\"d\")), 0)), 0) FROM t WHERE \"id\" > $1");
}

}  // namespace
}  // namespace tandem::pg
