#include "engines/postgres/pg_dialect.h"

#include <cmath>
#include <algorithm>
#include <fmt/format.h>

#include <cstdint>

#include "core/text.h"
#include "engines/postgres/pg_values.h"

namespace tandem::pg {

namespace {

uint32_t Fnv1a(std::string_view s, uint32_t h = 2166136261u) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view Utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string Params(int first, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i) out += ", ";
    out += fmt::format("${}", first + static_cast<int>(i));
  }
  return out;
}

std::string KeyTuple(const std::vector<std::string>& key) {
  return key.size() == 1 ? QuoteIdent(key[0]) : "(" + ColumnList(key) + ")";
}

std::string Where(const std::string& predicate) {
  return predicate == "TRUE" ? "" : " WHERE " + predicate;
}

// ('_tandem_changes', ...): kOwnTables as an SQL list (plain names, no quotes to escape).
std::string OwnTablesList() {
  std::string out = "(";
  for (std::string_view t : kOwnTables) {
    out += (out.size() > 1 ? ", '" : "'") + std::string(t) + "'";
  }
  return out + ")";
}

}  // namespace

std::string QuoteIdent(std::string_view name) { return QuoteDoubling(name, '"'); }

std::string QuoteLiteral(std::string_view text) { return QuoteDoubling(text, '\''); }

std::string Qualified(std::string_view schema, std::string_view name) {
  return QuoteIdent(schema) + "." + QuoteIdent(name);
}

std::string ColumnList(const std::vector<std::string>& columns) {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) out += ", ";
    out += QuoteIdent(columns[i]);
  }
  return out;
}

std::string TextArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string KeyCompare(const std::vector<std::string>& key, std::string_view op, int first_param) {
  if (key.size() == 1) return fmt::format("{} {} ${}", QuoteIdent(key[0]), op, first_param);
  return fmt::format("({}) {} ({})", ColumnList(key), op, Params(first_param, key.size()));
}

std::string RangePredicate(const std::vector<std::string>& key, bool has_lower, bool has_upper,
                           int first_param) {
  std::string out;
  if (has_lower) out = KeyCompare(key, ">", first_param);
  if (has_upper) {
    int p = first_param + (has_lower ? static_cast<int>(key.size()) : 0);
    if (!out.empty()) out += " AND ";
    out += KeyCompare(key, "<=", p);
  }
  return out.empty() ? "TRUE" : out;
}

std::string KeyInList(const std::vector<std::string>& key, size_t num_keys, int first_param) {
  std::string out = KeyTuple(key) + " IN (";
  int p = first_param;
  for (size_t i = 0; i < num_keys; ++i) {
    if (i) out += ", ";
    if (key.size() == 1) {
      out += fmt::format("${}", p++);
    } else {
      out += "(" + Params(p, key.size()) + ")";
      p += static_cast<int>(key.size());
    }
  }
  out += ")";
  return out;
}

std::string SelectPageSql(std::string_view table, const std::vector<std::string>& columns,
                          const std::vector<std::string>& key, bool has_lower, bool has_upper,
                          size_t limit) {
  return fmt::format("SELECT {} FROM {}{} ORDER BY {} LIMIT {}", ColumnList(columns), table,
                     Where(RangePredicate(key, has_lower, has_upper, 1)), ColumnList(key), limit);
}

namespace {

std::string LiteralTuple(const std::vector<std::optional<std::string>>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += values[i] ? QuoteLiteral(*values[i]) : "NULL";
  }
  return values.size() == 1 ? out : "(" + out + ")";
}

}  // namespace

std::string CopyOutSql(std::string_view table, const std::vector<std::string>& columns,
                       const std::vector<std::string>& key,
                       const std::vector<std::optional<std::string>>& lower,
                       const std::vector<std::optional<std::string>>& upper) {
  std::string where;
  if (!lower.empty()) where = fmt::format("{} > {}", KeyTuple(key), LiteralTuple(lower));
  if (!upper.empty()) {
    if (!where.empty()) where += " AND ";
    where += fmt::format("{} <= {}", KeyTuple(key), LiteralTuple(upper));
  }
  // No key (a table without one): the whole table in its physical order.
  return fmt::format("COPY (SELECT {} FROM {}{}{}) TO STDOUT", ColumnList(columns), table,
                     where.empty() ? "" : " WHERE " + where,
                     key.empty() ? "" : " ORDER BY " + ColumnList(key));
}

std::string ImagePredicate(const std::vector<std::string>& columns,
                           const std::vector<bool>& as_text, int first_param) {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) out += " AND ";
    // json has no equality operator: its text is compared (it keeps the text as written).
    bool text = i < as_text.size() && as_text[i];
    out += fmt::format("{}{} IS NOT DISTINCT FROM ${}{}", QuoteIdent(columns[i]),
                       text ? "::text" : "", first_param + static_cast<int>(i),
                       text ? "::text" : "");
  }
  return out.empty() ? "TRUE" : out;
}

std::string CountImageSql(std::string_view table, const std::vector<std::string>& columns,
                          const std::vector<bool>& as_text) {
  return fmt::format("SELECT count(*) FROM {} WHERE {}", table,
                     ImagePredicate(columns, as_text, 1));
}

std::string RemoveImageSql(std::string_view table, const std::vector<std::string>& columns,
                           const std::vector<bool>& as_text) {
  int n = static_cast<int>(columns.size()) + 1;
  return fmt::format("DELETE FROM {0} WHERE ctid IN (SELECT ctid FROM {0} WHERE {1} LIMIT ${2})",
                     table, ImagePredicate(columns, as_text, 1), n);
}

std::string ColumnTypesSql(std::string_view table, const std::vector<std::string>& columns) {
  return fmt::format("SELECT {} FROM {} LIMIT 0", ColumnList(columns), table);
}

std::string CountSql(std::string_view table, const std::vector<std::string>& key, bool has_lower,
                     bool has_upper) {
  return fmt::format("SELECT count(*) FROM {}{}", table,
                     Where(RangePredicate(key, has_lower, has_upper, 1)));
}

std::string DigestSql(std::string_view table, const std::vector<std::string>& columns,
                      const std::vector<std::string>& key, bool has_lower, bool has_upper,
                      const std::vector<std::string>& send) {
  std::string row_hash;
  if (send.empty()) {
    row_hash = fmt::format("hashtextextended(ROW({})::text, 0)", ColumnList(columns));
  } else {
    std::string fields;
    for (size_t i = 0; i < columns.size(); ++i) {
      fields += fmt::format("{}{}({})", i ? ", " : "", send.at(i), QuoteIdent(columns[i]));
    }
    row_hash = fmt::format("hash_record_extended(ROW({}), 0)", fields);
  }
  return fmt::format("SELECT count(*), coalesce(bit_xor({}), 0) FROM {}{}", row_hash, table,
                     Where(RangePredicate(key, has_lower, has_upper, 1)));
}

std::string DigestFormSql() {
  return "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
         "current_setting('server_encoding'), current_setting('lc_monetary'), "
         "t.typsend::regproc::text "
         "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
         "WHERE a.attrelid = $1::regclass AND a.attnum > 0 "
         "AND NOT a.attisdropped ORDER BY a.attnum";
}

std::string SplitSql(std::string_view table, const std::vector<std::string>& key) {
  return fmt::format(
      "SELECT {0} FROM (SELECT {0}, row_number() OVER (ORDER BY {0}) AS \"_tandem_rn\" "
      "FROM {1}) AS s WHERE \"_tandem_rn\" = ANY($1::bigint[]) ORDER BY \"_tandem_rn\"",
      ColumnList(key), table);
}

std::string SequenceColumnsSql() {
  // Identity and serial columns: the sequence depends on the column ('i' internal, 'a' auto).
  // Standalone sequences: the column's default (pg_attrdef) depends on the sequence ('n').
  return "SELECT a.attname, CASE WHEN a.attidentity <> '' THEN 'i' ELSE 'a' END, sn.nspname, "
         "s.relname, q.seqincrement "
         "FROM pg_catalog.pg_class t "
         "JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace "
         "JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped "
         "JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass "
         "AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = t.oid "
         "AND d.refobjsubid = a.attnum AND d.deptype IN ('a', 'i') "
         "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
         "JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace "
         "JOIN pg_catalog.pg_sequence q ON q.seqrelid = s.oid "
         "WHERE tn.nspname = $1 AND t.relname = $2 "
         "UNION ALL "
         "SELECT a.attname, 'n', sn.nspname, s.relname, q.seqincrement "
         "FROM pg_catalog.pg_class t "
         "JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace "
         "JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = t.oid "
         "JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = ad.adnum "
         "AND NOT a.attisdropped "
         "JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::regclass "
         "AND d.objid = ad.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass "
         "JOIN pg_catalog.pg_class s ON s.oid = d.refobjid AND s.relkind = 'S' "
         "JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace "
         "JOIN pg_catalog.pg_sequence q ON q.seqrelid = s.oid "
         "WHERE tn.nspname = $1 AND t.relname = $2 AND NOT EXISTS ("
         "SELECT 1 FROM pg_catalog.pg_depend o WHERE o.classid = 'pg_catalog.pg_class'::regclass "
         "AND o.objid = s.oid AND o.refobjid = t.oid AND o.refobjsubid = a.attnum "
         "AND o.deptype IN ('a', 'i')) "
         "ORDER BY 1";
}

std::string SequenceStateSql(std::string_view schema, std::string_view sequence) {
  return fmt::format("SELECT last_value, is_called FROM {}", Qualified(schema, sequence));
}

std::string AdvanceSequenceSql(std::string_view schema, std::string_view sequence) {
  return fmt::format(
      "SELECT pg_catalog.setval($1::regclass, $2::bigint, false) FROM {} "
      "WHERE CASE WHEN is_called THEN last_value + $3::bigint ELSE last_value END < $2::bigint",
      Qualified(schema, sequence));
}

std::string MaxValueSql(std::string_view table, std::string_view column) {
  return fmt::format("SELECT max({}) FROM {}", QuoteIdent(column), table);
}

std::string EstimatedRowsSql() {
  // The leaves of the partition tree hold the rows: a partitioned parent's estimate is the
  // sum of its partitions', NULL while none was analysed. pg_partition_tree() lists nothing
  // for a plain table, so the table itself is added (and a partitioned parent, which holds
  // no rows, left out): without it every plain table was counted and split exactly, a full
  // scan each (docs/decisions.md, "Speed").
  return "SELECT CASE WHEN bool_or(c.reltuples >= 0) "
         "THEN sum(greatest(c.reltuples, 0))::bigint END "
         "FROM pg_catalog.pg_class c WHERE c.relkind <> 'p' AND c.oid IN ("
         "SELECT p.relid FROM pg_catalog.pg_partition_tree($1::regclass) p WHERE p.isleaf "
         "UNION SELECT $1::regclass)";
}

std::string SampleKeysSql(std::string_view table, const std::vector<std::string>& key,
                          double percent) {
  return fmt::format("SELECT {0} FROM {1} TABLESAMPLE SYSTEM ({2:.6f}) REPEATABLE (20261125) ORDER BY {0}",
                     ColumnList(key), table, percent);
}

std::string FetchSql(std::string_view table, const std::vector<std::string>& columns,
                     const std::vector<std::string>& key, size_t num_keys) {
  return fmt::format("SELECT {} FROM {} WHERE {}", ColumnList(columns), table,
                     KeyInList(key, num_keys, 1));
}

std::string DeleteKeysSql(std::string_view table, const std::vector<std::string>& key,
                          size_t num_keys) {
  return fmt::format("DELETE FROM {} WHERE {}", table, KeyInList(key, num_keys, 1));
}

std::string DeleteRangeSql(std::string_view table, const std::vector<std::string>& key,
                           bool has_lower, bool has_upper) {
  return fmt::format("DELETE FROM {}{}", table,
                     Where(RangePredicate(key, has_lower, has_upper, 1)));
}

std::string CopyFromStdinSql(std::string_view table, const std::vector<std::string>& columns) {
  return fmt::format("COPY {} ({}) FROM STDIN", table, ColumnList(columns));
}

std::string StageName(std::string_view table, const std::vector<std::string>& columns) {
  uint32_t h = Fnv1a(table);
  for (const auto& c : columns) h = Fnv1a(c, Fnv1a(std::string_view("\0", 1), h));
  return fmt::format("{}{:08x}_{}", kStagePrefix, h, columns.size());
}

std::string CreateStageSql(std::string_view stage, std::string_view table,
                           const std::vector<std::string>& columns) {
  return fmt::format(
      "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS SELECT {} FROM {} "
      "WITH NO DATA",
      QuoteIdent(stage), ColumnList(columns), table);
}

std::string MergeFromStageSql(std::string_view table, std::string_view stage,
                              const std::vector<std::string>& columns,
                              const std::vector<std::string>& key, WriteMode mode) {
  std::string cols = ColumnList(columns);
  std::string out =
      fmt::format("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM pg_temp.{}", table,
                  cols, cols, QuoteIdent(stage));
  if (mode == WriteMode::kInsert) return out;
  out += " ON CONFLICT (" + ColumnList(key) + ") DO ";
  std::string sets;
  if (mode == WriteMode::kUpsert) {
    for (const auto& c : columns) {
      bool is_key = false;
      for (const auto& k : key) is_key = is_key || k == c;
      if (is_key) continue;
      if (!sets.empty()) sets += ", ";
      sets += QuoteIdent(c) + " = EXCLUDED." + QuoteIdent(c);
    }
  }
  out += sets.empty() ? "NOTHING" : "UPDATE SET " + sets;
  return out;
}

std::string DefaultSql(const ColumnDefault& d, const PortableType& type) {
  using K = ColumnDefault::Kind;
  switch (d.kind) {
    case K::kCurrentTimestamp: return "CURRENT_TIMESTAMP";
    case K::kCurrentDate: return "CURRENT_DATE";
    case K::kCurrentTime: return "CURRENT_TIME";
    case K::kExpression: return d.expression;
    case K::kLiteral: break;
  }
  const Value& v = d.literal;
  if (v.is_null()) return "NULL";
  if (type.kind == Kind::kBool) {
    std::string t = v.kind() == Kind::kText ? v.as_str() : v.ToDisplay();
    if (t == "1" || t == "true" || t == "t") return "TRUE";
    if (t == "0" || t == "false" || t == "f") return "FALSE";
  }
  if (v.kind() == Kind::kInt) return std::to_string(v.as_int());
  if (v.kind() == Kind::kBool) return v.as_bool() ? "TRUE" : "FALSE";
  return QuoteLiteral(v.kind() == Kind::kText ? v.as_str() : v.ToDisplay());
}

std::string CreateTableSql(std::string_view schema, const TableSchema& table) {
  std::string out = "CREATE TABLE " + Qualified(schema, table.name) + " (";
  bool first = true;
  auto item = [&](const std::string& s) {
    out += first ? "\n  " : ",\n  ";
    out += s;
    first = false;
  };
  for (const auto& c : table.columns) {
    // Key text sorts by bytes, like tandem's key ranges, whatever the database's collation.
    bool key_text = c.type.kind == Kind::kText &&
                    std::find(table.primary_key.begin(), table.primary_key.end(), c.name) !=
                        table.primary_key.end();
    // A declared engine type (a same-engine copy) is kept as written.
    std::string line = QuoteIdent(c.name) + " " +
                       (c.engine_type.empty() ? PgTypeFor(c.type) : c.engine_type) +
                       (key_text ? " COLLATE \"C\"" : "");
    // BY DEFAULT, not ALWAYS: tandem writes the source's ids into it.
    if (c.identity && c.type.kind == Kind::kInt) {
      line += " GENERATED BY DEFAULT AS IDENTITY";
    } else if (c.default_value && !c.generated) {
      if (std::string d = DefaultSql(*c.default_value, c.type); !d.empty()) line += " DEFAULT " + d;
    }
    item(line + (c.nullable && !c.identity ? "" : " NOT NULL"));
  }
  if (!table.primary_key.empty()) item("PRIMARY KEY (" + ColumnList(table.primary_key) + ")");
  for (const auto& u : table.unique_keys) item("UNIQUE (" + ColumnList(u) + ")");
  for (const auto& fk : table.foreign_keys) {
    if (!fk.name.empty()) continue;  // a named foreign key is built after the copy
    item("FOREIGN KEY (" + ColumnList(fk.columns) + ") REFERENCES " +
         Qualified(schema, fk.ref_table) + " (" + ColumnList(fk.ref_columns) + ")");
  }
  out += "\n)";
  return out;
}

std::string CreateIndexSql(std::string_view schema, std::string_view table, const Index& ix) {
  std::string parts;
  for (const auto& p : ix.parts) {
    std::string one = p.expression.empty() ? QuoteIdent(p.column) : "(" + p.expression + ")";
    if (p.descending) one += " DESC";
    parts += (parts.empty() ? "" : ", ") + one;
  }
  std::string sql = fmt::format("CREATE {}INDEX IF NOT EXISTS {} ON {}{} ({})",
                                ix.unique ? "UNIQUE " : "", QuoteIdent(ix.name),
                                Qualified(schema, table),
                                ix.method.empty() ? "" : " USING " + QuoteIdent(ix.method), parts);
  if (!ix.where.empty()) sql += " WHERE " + ix.where;
  return sql;
}

std::vector<std::string> AddForeignKeySql(std::string_view schema, std::string_view table,
                                          const ForeignKey& fk) {
  std::string t = Qualified(schema, table);
  return {fmt::format("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) "
                      "ON DELETE {} ON UPDATE {} NOT VALID",
                      t, QuoteIdent(fk.name), ColumnList(fk.columns),
                      Qualified(schema, fk.ref_table), ColumnList(fk.ref_columns),
                      FkActionSql(fk.on_delete), FkActionSql(fk.on_update)),
          fmt::format("ALTER TABLE {} VALIDATE CONSTRAINT {}", t, QuoteIdent(fk.name))};
}

std::vector<std::string> AddCheckSql(std::string_view schema, std::string_view table,
                                     const Check& check) {
  std::string t = Qualified(schema, table);
  return {fmt::format("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) NOT VALID", t,
                      QuoteIdent(check.name), check.expression),
          fmt::format("ALTER TABLE {} VALIDATE CONSTRAINT {}", t, QuoteIdent(check.name))};
}

std::string DropConstraintSql(std::string_view schema, std::string_view table,
                              std::string_view name) {
  return fmt::format("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}", Qualified(schema, table),
                     QuoteIdent(name));
}

std::string ObjectExistsSql() {
  return "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
         "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('i', 'I')) OR EXISTS (SELECT "
         "1 FROM pg_constraint WHERE conrelid = to_regclass($3) AND conname = $2)";
}

std::string IntrospectIndexesSql() {
  return std::string() + R"sql(
SELECT cl.relname, ic.relname, ix.indisunique,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype = 'u'),
       pg_get_expr(ix.indpred, ix.indrelid),
       (SELECT json_agg(json_build_array(a.attname, pg_get_indexdef(ix.indexrelid, k.i::int, true),
                                         (ix.indoption[k.i - 1] & 1) = 1) ORDER BY k.i)
          FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(n, i)
          LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n AND k.n > 0
         WHERE k.i <= ix.indnkeyatts)::text,
       am.amname
FROM pg_index ix
JOIN pg_class cl ON cl.oid = ix.indrelid
JOIN pg_class ic ON ic.oid = ix.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE n.nspname = $1 AND NOT ix.indisprimary AND cl.relkind IN ('r', 'p') AND NOT cl.relispartition
  AND cl.relname NOT IN )sql" + OwnTablesList() + R"sql(
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid
                                                  AND c.contype IN ('p', 'x'))
ORDER BY 1, 2)sql";
}

std::string IntrospectUnmigratedSql() {
  return std::string() + R"sql(
SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'sequence' END,
       c.relname::text, ''
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND (c.relkind IN ('v', 'm') OR (c.relkind = 'S' AND NOT EXISTS (
        SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                    AND d.deptype IN ('a', 'i'))
    -- a sequence a column's nextval() default uses moves with that column (an identity)
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_attrdef'::regclass
                                                AND d.refclassid = 'pg_class'::regclass
                                                AND d.refobjid = c.oid)))
UNION ALL
SELECT 'trigger', t.tgname::text, c.relname::text
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND NOT t.tgisinternal AND t.tgparentid = 0
  AND t.tgname <> ')sql" + std::string(kCaptureTrigger) + R"sql('
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       p.proname::text, ''
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = $1 AND left(p.proname, )sql" + std::to_string(kCaptureFunctionPrefix.size()) +
         R"sql() <> ')sql" + std::string(kCaptureFunctionPrefix) + R"sql('
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                              AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1, 2)sql";
}

std::string IntrospectColumnsSql() {
  // Domains read as their base type; dropped columns, partitions (their parent is listed)
  // and tandem's own tables are left out.
  return std::string() + R"sql(
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attgenerated <> '',
       CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       co.oid IS NULL OR co.collname IN ('C', 'POSIX', 'ucs_basic')
         OR (co.collname = 'default' AND (SELECT datcollate FROM pg_database
             WHERE datname = current_database()) IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8')),
       a.attidentity::text,
       t.typnamespace = 'pg_catalog'::regnamespace
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relname NOT IN )sql" + OwnTablesList() + R"sql(
ORDER BY c.relname, a.attnum)sql";
}

std::string IntrospectConstraintsSql() {
  // Column lists come back as JSON arrays so names with commas or quotes survive. Unique
  // indexes that back no constraint count as unique keys unless partial or on expressions.
  return std::string() + R"sql(
SELECT cl.relname, con.contype::text,
       (SELECT json_agg(a.attname ORDER BY k.i)
          FROM unnest(con.conkey) WITH ORDINALITY AS k(n, i)
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n)::text,
       CASE WHEN rn.nspname = n.nspname THEN rc.relname ELSE rn.nspname || '.' || rc.relname END,
       (SELECT json_agg(a.attname ORDER BY k.i)
          FROM unnest(con.confkey) WITH ORDINALITY AS k(n, i)
          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n)::text,
       pg_get_constraintdef(con.oid), con.conname::text,
       con.confdeltype::text, con.confupdtype::text
FROM pg_constraint con
JOIN pg_class cl ON cl.oid = con.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE n.nspname = $1 AND con.contype IN ('p', 'u', 'f', 'c') AND NOT cl.relispartition
  AND cl.relname NOT IN )sql" + OwnTablesList() + R"sql(
UNION ALL
SELECT cl.relname, 'i',
       (SELECT json_agg(a.attname ORDER BY k.i)
          FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(n, i)
          JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n
         WHERE k.i <= ix.indnkeyatts)::text,
       NULL, NULL, NULL, ic.relname::text, NULL, NULL
FROM pg_index ix
JOIN pg_class cl ON cl.oid = ix.indrelid
JOIN pg_class ic ON ic.oid = ix.indexrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE n.nspname = $1 AND ix.indisunique AND ix.indpred IS NULL AND ix.indexprs IS NULL
  AND cl.relkind IN ('r', 'p') AND NOT cl.relispartition
  AND cl.relname NOT IN )sql" + OwnTablesList() + R"sql(
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c2 WHERE c2.conindid = ix.indexrelid
                                                  AND c2.contype IN ('p', 'u'))
ORDER BY 1, 2, 7)sql";
}

std::string CheckExpression(std::string_view def) {
  if (def.starts_with("CHECK ")) def.remove_prefix(6);
  if (def.ends_with(" NOT VALID")) def.remove_suffix(10);
  // pg_get_constraintdef wraps the expression in one pair of parentheses of its own.
  if (def.size() >= 2 && def.front() == '(' && def.back() == ')') {
    int depth = 0;
    bool outer = true;
    for (size_t i = 0; i < def.size(); ++i) {
      if (def[i] == '(') ++depth;
      if (def[i] == ')') --depth;
      if (depth == 0 && i + 1 < def.size()) outer = false;
    }
    if (outer) def = def.substr(1, def.size() - 2);
  }
  return std::string(def);
}

// ---- capture ------------------------------------------------------------------------------

std::string ChangeTableDdl(std::string_view schema) {
  // xid records the writing transaction (for operators and log-based comparisons); the
  // reader's gap rule needs only seq and snapshots (see PostgresEngine::ReadChanges).
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (\n"
      "  seq bigserial PRIMARY KEY,\n"
      "  tbl text NOT NULL,\n"
      "  op char(1) NOT NULL,\n"
      "  key jsonb NOT NULL,\n"
      "  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),\n"
      "  at timestamptz NOT NULL DEFAULT now()\n"
      ")",
      Qualified(schema, kChangeTable));
}

std::string CaptureTablesDdl(std::string_view schema) {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (\n"
      "  tbl text PRIMARY KEY,\n"
      "  key_columns text[] NOT NULL,\n"
      "  installed_at timestamptz NOT NULL DEFAULT now()\n"
      ")",
      Qualified(schema, kCaptureTables));
}

std::string RegisterCaptureSql(std::string_view schema, size_t key_columns) {
  return fmt::format(
      "INSERT INTO {} (tbl, key_columns) VALUES ($1, ARRAY[{}]::text[]) "
      "ON CONFLICT (tbl) DO UPDATE SET key_columns = EXCLUDED.key_columns",
      Qualified(schema, kCaptureTables), Params(2, key_columns));
}

std::string CaptureFunctionName(std::string_view table) {
  return fmt::format("{}{}_{:08x}", kCaptureFunctionPrefix, Utf8Prefix(table, 40), Fnv1a(table));
}

std::string CaptureFunctionDdl(std::string_view schema, std::string_view table,
                               const std::vector<std::string>& key, bool float_key) {
  auto key_array = [&](std::string_view rec) {
    std::string out = "jsonb_build_array(";
    for (size_t i = 0; i < key.size(); ++i) {
      if (i) out += ", ";
      out += fmt::format("{}.{}", rec, QuoteIdent(key[i]));
    }
    return out + ")";
  };
  std::string changes = Qualified(schema, kChangeTable);
  std::string body = fmt::format(
      "\nDECLARE\n"
      "  old_key jsonb;\n"
      "  new_key jsonb;\n"
      "BEGIN\n"
      "  IF current_setting('{0}', true) = 'on' THEN\n"
      "    RETURN NULL;\n"
      "  END IF;\n"
      "  IF TG_OP <> 'INSERT' THEN\n"
      "    old_key := {1};\n"
      "  END IF;\n"
      "  IF TG_OP <> 'DELETE' THEN\n"
      "    new_key := {2};\n"
      "  END IF;\n"
      "  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND old_key IS DISTINCT FROM new_key) THEN\n"
      "    INSERT INTO {3} (tbl, op, key) VALUES (TG_ARGV[0], 'D', old_key);\n"
      "  END IF;\n"
      "  IF TG_OP <> 'DELETE' THEN\n"
      "    INSERT INTO {3} (tbl, op, key)\n"
      "    VALUES (TG_ARGV[0], CASE WHEN TG_OP = 'INSERT' THEN 'I' ELSE 'U' END, new_key);\n"
      "  END IF;\n"
      "  RETURN NULL;\n"
      "END\n",
      kCaptureOffSetting, key_array("OLD"), key_array("NEW"), changes);
  // A dollar-quote tag that the body (which holds quoted column names) does not contain.
  std::string tag = "$tandem$";
  for (int i = 1; body.find(tag) != std::string::npos; ++i) tag = fmt::format("$tandem{}$", i);
  // SECURITY DEFINER: the trigger fires as the application's role, which has no privilege
  // on the change table; the function writes it as its owner (tandem's role). A fixed
  // search_path, and only schema-qualified names in the body, keep a caller's objects out.
  return fmt::format(
      "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
      "SET search_path = pg_catalog, pg_temp{} AS {}{}{}",
      Qualified(schema, CaptureFunctionName(table)),
      float_key ? " SET extra_float_digits = 3" : "", tag, body, tag);
}

std::string CapturePrivilegesSql() {
  return "SELECT t.name, c.oid IS NOT NULL,\n"
         "  coalesce(pg_has_role(c.relowner, 'USAGE'), false),\n"
         "  coalesce(has_table_privilege(c.oid, 'SELECT'), false),\n"
         "  coalesce(has_table_privilege(c.oid, 'INSERT'), false),\n"
         "  coalesce(has_table_privilege(c.oid, 'UPDATE'), false),\n"
         "  coalesce(has_table_privilege(c.oid, 'DELETE'), false),\n"
         "  coalesce(c.relowner::regrole::text, ''), current_user,\n"
         "  has_schema_privilege(n.oid, 'USAGE'), has_schema_privilege(n.oid, 'CREATE')\n"
         "FROM pg_namespace n\n"
         "CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS t(name, ord)\n"
         "LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name\n"
         "WHERE n.nspname = $1\n"
         "ORDER BY t.ord";
}

std::string RevokeCaptureAccessSql(std::string_view schema) {
  // Default privileges (ALTER DEFAULT PRIVILEGES ... GRANT ... TO app) may have granted the
  // application access to what tandem creates: every grantee but the owner loses it, PUBLIC
  // included (functions are EXECUTE to PUBLIC by default; a trigger needs no EXECUTE of the
  // role that fires it). Nothing here is bound: a DO block takes no parameters, so the
  // schema is a quoted literal.
  return fmt::format(
      "DO $tandem$\n"
      "DECLARE r record;\n"
      "BEGIN\n"
      "  FOR r IN\n"
      "    SELECT 'TABLE' AS kind, c.oid::regclass::text AS obj, a.grantee\n"
      "    FROM pg_catalog.pg_class c\n"
      "    CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(c.relacl,\n"
      "      pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\",\n      c.relowner))) a\n"
      "    WHERE c.relnamespace = {0}::regnamespace AND a.grantee <> c.relowner\n"
      "      AND c.relname IN ({1}, {2}, {3})\n"
      "    UNION ALL\n"
      "    SELECT 'FUNCTION', p.oid::regprocedure::text, a.grantee\n"
      "    FROM pg_catalog.pg_proc p\n"
      "    CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(p.proacl,\n"
      "      pg_catalog.acldefault('f'::\"char\", p.proowner))) a\n"
      "    WHERE p.pronamespace = {0}::regnamespace AND a.grantee <> p.proowner\n"
      "      AND starts_with(p.proname, {4})\n"
      "  LOOP\n"
      "    EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s',\n"
      "      CASE WHEN r.kind = 'TABLE' THEN 'TABLE' ELSE 'FUNCTION' END, r.obj,\n"
      "      CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END);\n"
      "  END LOOP;\n"
      "END\n"
      "$tandem$",
      QuoteLiteral(QuoteIdent(schema)), QuoteLiteral(kChangeTable), QuoteLiteral(kCaptureTables),
      QuoteLiteral(std::string(kChangeTable) + "_seq_seq"), QuoteLiteral(kCaptureFunctionPrefix));
}

std::string KeyColumnTypesSql() {
  return "SELECT k.col, CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE a.atttypid END\n"
         "FROM unnest($2::text[]) WITH ORDINALITY AS k(col, ord)\n"
         "JOIN pg_attribute a ON a.attrelid = to_regclass($1) AND a.attname = k.col\n"
         " AND a.attnum > 0 AND NOT a.attisdropped\n"
         "JOIN pg_type ty ON ty.oid = a.atttypid\n"
         "ORDER BY k.ord";
}

std::string RawShapeSql() {
  // A domain's base is walked to its end (a domain over a domain), keeping each level's base
  // type with its typmod: the binary form is the innermost base's.
  return R"sql(WITH RECURSIVE cols AS (
  SELECT k.col, k.ord, a.atttypid, a.atttypmod, a.attcollation
  FROM unnest($2::text[]) WITH ORDINALITY AS k(col, ord)
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = pg_catalog.to_regclass($1)
   AND a.attname = k.col AND a.attnum > 0 AND NOT a.attisdropped
), chain(ord, typ, depth, bases) AS (
  SELECT ord, atttypid, 0, ''::text FROM cols WHERE atttypid IS NOT NULL
  UNION ALL
  SELECT c.ord, t.typbasetype, c.depth + 1,
         c.bases || ' over ' || pg_catalog.format_type(t.typbasetype, t.typtypmod)
  FROM chain c JOIN pg_catalog.pg_type t ON t.oid = c.typ
  WHERE t.typtype = 'd' AND c.depth < 32
), base AS (
  SELECT DISTINCT ON (ord) ord, typ, bases FROM chain ORDER BY ord, depth DESC
)
SELECT c.col, c.atttypid IS NOT NULL,
       pg_catalog.format_type(c.atttypid, c.atttypmod),
       COALESCE((SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                 FROM pg_catalog.pg_collation co
                 JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace
                 WHERE co.oid = c.attcollation), ''),
       bt.typtype, bt.oid < 16384, bt.typsend <> 0 AND bt.typreceive <> 0, b.bases,
       COALESCE((SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ','
                                              ORDER BY e.enumsortorder)
                 FROM pg_catalog.pg_enum e WHERE e.enumtypid = bt.oid), '')
FROM cols c
LEFT JOIN base b ON b.ord = c.ord
LEFT JOIN pg_catalog.pg_type bt ON bt.oid = b.typ
ORDER BY c.ord)sql";
}

std::string CaptureTriggerDdl(std::string_view schema, std::string_view table) {
  // The change names the table by the trigger's argument, not TG_TABLE_NAME: on a partitioned
  // table the trigger is cloned onto every partition (those attached later too) and fires
  // there, where TG_TABLE_NAME is the partition's name. CREATE TRIGGER takes no parameters,
  // so the name is a quoted literal.
  std::string t = Qualified(schema, table);
  return fmt::format(
      "DROP TRIGGER IF EXISTS {0} ON {1};\n"
      "CREATE TRIGGER {0} AFTER INSERT OR UPDATE OR DELETE ON {1} FOR EACH ROW "
      "EXECUTE FUNCTION {2}({3})",
      QuoteIdent(kCaptureTrigger), t, Qualified(schema, CaptureFunctionName(table)),
      QuoteLiteral(table));
}

std::string ReadChangesSql(std::string_view schema) {
  // pg_current_snapshot() is the statement's own snapshot, so the xmin returned describes
  // exactly the rows this statement sees. The one-row subquery s makes the answer never
  // empty: with no change after $1 it is one row whose seq is NULL, still carrying the
  // snapshot and the sequence's last value (a gap at the tail is a gap too).
  return fmt::format(
      "SELECT c.seq, c.tbl, c.op, e.v, s.xmin, c.at, s.last\n"
      "FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,\n"
      "             coalesce(pg_sequence_last_value(pg_get_serial_sequence($3, 'seq')::regclass),"
      " 0) AS last OFFSET 0) AS s\n"
      "LEFT JOIN (SELECT seq, tbl, op, key, at FROM {} WHERE seq > $1 ORDER BY seq LIMIT $2) AS c"
      " ON true\n"
      "LEFT JOIN LATERAL jsonb_array_elements_text(c.key) WITH ORDINALITY AS e(v, i) ON true\n"
      "ORDER BY c.seq, e.i",
      Qualified(schema, kChangeTable));
}

std::string PendingChangesSql(std::string_view schema) {
  return fmt::format("SELECT count(*) FROM {} WHERE seq > $1", Qualified(schema, kChangeTable));
}

std::string CaptureKeyTypesSql(std::string_view schema) {
  return fmt::format(
      "SELECT t.tbl, k.ord, CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE a.atttypid END\n"
      "FROM {} AS t\n"
      "CROSS JOIN LATERAL unnest(t.key_columns) WITH ORDINALITY AS k(col, ord)\n"
      "LEFT JOIN pg_attribute a\n"
      "  ON a.attrelid = to_regclass(quote_ident($1) || '.' || quote_ident(t.tbl))\n"
      " AND a.attname = k.col AND NOT a.attisdropped\n"
      "LEFT JOIN pg_type ty ON ty.oid = a.atttypid\n"
      "ORDER BY t.tbl, k.ord",
      Qualified(schema, kCaptureTables));
}

std::string SeqWatermarkSql() {
  // The subquery runs before the outer projection, so the sequence is read before the new
  // transaction id is assigned.
  return "SELECT coalesce(s.v, 0), pg_current_xact_id()::text FROM "
         "(SELECT pg_sequence_last_value(pg_get_serial_sequence($1, 'seq')::regclass) AS v "
         "OFFSET 0) AS s";
}

std::string LastChangeSeqSql(std::string_view schema) {
  // Every seq handed out, committed or not: a reader has caught up once it has passed them
  // all (the rolled-back ones are passed once proven dead). Survives a prune.
  return "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence($1, 'seq')::regclass), 0)";
}

std::string PruneChangesSql(std::string_view schema) {
  return fmt::format("DELETE FROM {} WHERE seq <= $1", Qualified(schema, kChangeTable));
}

std::string CaptureTriggersSql() {
  return fmt::format(
      "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND t.tgname = {} "
      "AND t.tgparentid = 0 ORDER BY 1",
      QuoteLiteral(kCaptureTrigger));
}

std::string CaptureFunctionsSql() {
  return fmt::format(
      "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
      "WHERE n.nspname = $1 AND starts_with(p.proname, {}) AND p.pronargs = 0 ORDER BY 1",
      QuoteLiteral(kCaptureFunctionPrefix));
}

std::string DropCaptureTriggerSql(std::string_view schema, std::string_view table) {
  return fmt::format("DROP TRIGGER IF EXISTS {} ON {}", QuoteIdent(kCaptureTrigger),
                     Qualified(schema, table));
}

std::string DropCaptureFunctionSql(std::string_view schema, std::string_view function) {
  return fmt::format("DROP FUNCTION IF EXISTS {}()", Qualified(schema, function));
}

std::string DropCaptureTablesSql(std::string_view schema) {
  return fmt::format("DROP TABLE IF EXISTS {}, {}", Qualified(schema, kChangeTable),
                     Qualified(schema, kCaptureTables));
}

std::string CaptureLockSql() {
  return "SELECT pg_advisory_xact_lock(hashtext('tandem capture ' || $1))";
}

std::string AddColumnSql(std::string_view schema, std::string_view table, const Column& column) {
  return "ALTER TABLE " + Qualified(schema, table) + " ADD COLUMN " + QuoteIdent(column.name) + " " +
         PgTypeFor(column.type);
}

std::string DescribeColumnsSql() {
  return R"sql(
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated <> '',
       CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
ORDER BY a.attnum)sql";
}

std::optional<Error> ValueRefusal(const Value& v, const PortableType& type) {
  auto refuse = [](Problem p, std::string msg) {
    Error e{Code::kInvalidArgument, std::move(msg)};
    e.problem = p;
    return std::optional<Error>(std::move(e));
  };
  switch (v.kind()) {
    case Kind::kText:
    case Kind::kJson:
      if (v.as_str().find('\0') != std::string::npos) {
        return refuse(Problem::kControlCharacter,
                      "PostgreSQL text cannot hold the NUL character (0x00)");
      }
      break;
    // PostgreSQL dates and timestamps start at 4713 BC (Julian day 0) and its dates end in
    // 5874897 AD; tandem's timestamps cannot reach its timestamp end.
    case Kind::kDate:
      if (v.as_int() < -2440588 || v.as_int() > 2145042906) {
        return refuse(Problem::kOutOfRange, fmt::format("date {} is outside PostgreSQL's range "
                                                        "(4713 BC to 5874897 AD)",
                                                        v.ToString()));
      }
      break;
    case Kind::kTimestamp:
    case Kind::kTimestampTz:
      if (v.as_int() < -2440588LL * 86400 * 1000000) {
        return refuse(Problem::kOutOfRange, fmt::format("timestamp {} is before PostgreSQL's "
                                                        "first (4713 BC)",
                                                        v.ToString()));
      }
      break;
    default: break;
  }
  return std::nullopt;
}

}  // namespace tandem::pg
