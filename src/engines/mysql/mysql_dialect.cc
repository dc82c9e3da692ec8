#include "engines/mysql/mysql_dialect.h"

#include <cmath>
#include <algorithm>
#include <set>

#include "core/text.h"

namespace tandem::mysql {

std::string QuoteIdent(std::string_view name) { return QuoteDoubling(name, '`'); }

std::string JoinIdents(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    out += QuoteIdent(names[i]);
  }
  return out;
}

std::string QuoteConstant(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

namespace {

// OR over i of (k1 = a1 AND ... AND k(i-1) = a(i-1) AND ki <op> ai), `last_op` for the final
// column (inclusive or not).
std::string Lexicographic(const std::vector<std::string>& key, const std::vector<std::string>& lits,
                          std::string_view op, std::string_view last_op) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) out += " OR ";
    bool group = i > 0;
    if (group) out += '(';
    for (size_t j = 0; j < i; ++j) {
      out += fmt::format("{} = {} AND ", QuoteIdent(key[j]), lits[j]);
    }
    out += fmt::format("{} {} {}", QuoteIdent(key[i]), i + 1 == key.size() ? last_op : op, lits[i]);
    if (group) out += ')';
  }
  return out;
}

}  // namespace

std::string KeyAfter(const std::vector<std::string>& key, const std::vector<std::string>& lits) {
  return Lexicographic(key, lits, ">", ">");
}

std::string KeyAtOrBefore(const std::vector<std::string>& key,
                          const std::vector<std::string>& lits) {
  return Lexicographic(key, lits, "<", "<=");
}

std::string KeyIn(const std::vector<std::string>& key,
                  const std::vector<std::vector<std::string>>& tuples) {
  std::string out;
  if (key.size() == 1) {
    out = QuoteIdent(key[0]) + " IN (";
    for (size_t i = 0; i < tuples.size(); ++i) {
      if (i) out += ", ";
      out += tuples[i][0];
    }
    out += ')';
    return out;
  }
  for (size_t i = 0; i < tuples.size(); ++i) {
    if (i) out += " OR ";
    out += '(';
    for (size_t j = 0; j < key.size(); ++j) {
      if (j) out += " AND ";
      out += fmt::format("{} = {}", QuoteIdent(key[j]), tuples[i][j]);
    }
    out += ')';
  }
  return out;
}

std::string Where(const std::vector<std::string>& conditions) {
  std::string out;
  for (const auto& c : conditions) {
    if (c.empty()) continue;
    out += out.empty() ? " WHERE (" : " AND (";
    out += c;
    out += ')';
  }
  return out;
}

std::string SelectSql(std::string_view table, const std::vector<std::string>& columns,
                      std::string_view where, const std::vector<std::string>& order, size_t limit,
                      const std::vector<bool>& stored_bytes) {
  std::string list;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) list += ", ";
    bool raw = i < stored_bytes.size() && stored_bytes[i];
    list += raw ? fmt::format("CAST({} AS BINARY)", QuoteIdent(columns[i])) : QuoteIdent(columns[i]);
  }
  std::string out = fmt::format("SELECT {} FROM {}{}", list, QuoteIdent(table), where);
  if (!order.empty()) out += " ORDER BY " + JoinIdents(order);
  if (limit > 0) out += fmt::format(" LIMIT {}", limit);
  return out;
}

std::string CountSql(std::string_view table, std::string_view where) {
  return fmt::format("SELECT COUNT(*) FROM {}{}", QuoteIdent(table), where);
}

std::string DigestSql(std::string_view table, const std::vector<std::string>& columns,
                      std::string_view where) {
  std::string fields;
  for (const auto& c : columns) {
    fields += fmt::format("{}QUOTE(CAST({} AS BINARY))", fields.empty() ? "" : ", ", QuoteIdent(c));
  }
  return fmt::format(
      "SELECT COUNT(*), COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(h, 1, 16), 16, 10) AS UNSIGNED)), 0), "
      "COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(h, 17, 16), 16, 10) AS UNSIGNED)), 0) "
      "FROM (SELECT MD5(CONCAT_WS(',', {})) AS h FROM {}{}) AS s",
      fields, QuoteIdent(table), where);
}

std::string AutoIncrementSql(std::string_view table) {
  return fmt::format(
      "SELECT c.COLUMN_NAME, t.AUTO_INCREMENT FROM information_schema.COLUMNS c "
      "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA "
      "AND t.TABLE_NAME = c.TABLE_NAME "
      "WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = {} "
      "AND c.EXTRA LIKE '%auto_increment%'",
      QuoteConstant(table));
}

std::string MaxValueSql(std::string_view table, std::string_view column) {
  return fmt::format("SELECT MAX({}) FROM {}", QuoteIdent(column), QuoteIdent(table));
}

std::string SetAutoIncrementSql(std::string_view table, int64_t next) {
  return fmt::format("ALTER TABLE {} AUTO_INCREMENT = {}", QuoteIdent(table), next);
}

std::string DeleteSql(std::string_view table, std::string_view where) {
  return fmt::format("DELETE FROM {}{}", QuoteIdent(table), where);
}

std::string InsertHead(std::string_view table, const std::vector<std::string>& columns) {
  return fmt::format("INSERT INTO {} ({}) VALUES ", QuoteIdent(table), JoinIdents(columns));
}

std::string InsertTail(const std::vector<std::string>& columns, const std::vector<std::string>& key,
                       WriteMode mode) {
  if (mode == WriteMode::kInsert || key.empty()) return "";
  std::string same;
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) same += " AND ";
    same += fmt::format("{0} <=> VALUES({0})", QuoteIdent(key[i]));
  }
  std::string out =
      fmt::format(" ON DUPLICATE KEY UPDATE {0} = IF({1}, {0}, NULL)", QuoteIdent(key[0]), same);
  if (mode == WriteMode::kUpsert) {
    for (const auto& c : columns) {
      if (std::find(key.begin(), key.end(), c) != key.end()) continue;
      out += fmt::format(", {0} = VALUES({0})", QuoteIdent(c));
    }
  }
  return out;
}

std::string LoadDataSql(std::string_view table, const std::vector<std::string>& columns,
                        const std::vector<bool>& is_bytes) {
  // The separators are the raw tab and newline characters: under NO_BACKSLASH_ESCAPES '\t'
  // would be two characters. Bytes travel as hex and are UNHEX()ed into their column.
  std::string cols, sets;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) cols += ", ";
    if (i < is_bytes.size() && is_bytes[i]) {
      cols += fmt::format("@v{}", i);
      sets += fmt::format("{}{} = UNHEX(@v{})", sets.empty() ? " SET " : ", ",
                          QuoteIdent(columns[i]), i);
    } else {
      cols += QuoteIdent(columns[i]);
    }
  }
  return fmt::format(
      "LOAD DATA LOCAL INFILE 'tandem-rows' INTO TABLE {} CHARACTER SET utf8mb4 "
      "FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' ({}){}",
      QuoteIdent(table), cols, sets);
}

std::string CreateTableSql(const TableSchema& table, const CreateOptions& opt) {
  // Which columns sit in a key, and how many unbounded text/bytes columns share the
  // narrowest key budget (InnoDB indexes at most 3072 bytes: 768 utf8mb4 characters).
  std::vector<std::vector<std::string>> keys;
  if (!table.primary_key.empty()) keys.push_back(table.primary_key);
  for (const auto& u : table.unique_keys) keys.push_back(u);
  for (const auto& ix : table.indexes) {
    if (!ix.unique) continue;
    std::vector<std::string> cols;
    for (const auto& p : ix.parts) {
      if (!p.column.empty() && p.prefix_length == 0) cols.push_back(p.column);
    }
    keys.push_back(std::move(cols));
  }
  auto unbounded = [&](const std::string& name) {
    const Column* c = table.Find(name);
    return c &&
           ((c->type.kind == Kind::kText && c->type.length < 0) || c->type.kind == Kind::kBytes);
  };
  std::vector<std::string> lines;
  int row_bytes = 0;  // varchar bytes so far: a row holds at most 65535
  for (const Column& c : table.columns) {
    TypeOptions to;
    to.uuid_type = opt.uuid_type;
    int sharing = 0;
    for (const auto& k : keys) {
      if (std::find(k.begin(), k.end(), c.name) == k.end()) continue;
      to.in_key = true;
      int n = static_cast<int>(std::count_if(k.begin(), k.end(), unbounded));
      sharing = std::max(sharing, n);
    }
    if (sharing > 0) to.key_text_chars = 768 / sharing;
    if (c.type.kind == Kind::kText && c.type.length > 0 && !to.in_key) {
      int bytes = c.type.length * 4 + 2;
      to.varchar_fits = row_bytes + bytes <= 60000;
      if (to.varchar_fits) row_bytes += bytes;
    }
    MysqlColumnType mt = MysqlTypeFor(c.type, to);
    // A declared engine type (a same-engine copy) is kept as written, without tandem's comment.
    if (!c.engine_type.empty()) mt = MysqlColumnType{.sql = c.engine_type};
    std::string line = fmt::format("  {} {}", QuoteIdent(c.name), mt.sql);
    line += (c.nullable || c.generated) ? " NULL" : " NOT NULL";
    if (c.identity && c.type.kind == Kind::kInt) {
      line += " AUTO_INCREMENT";
    } else if (c.default_value && !c.generated) {
      if (std::string d = DefaultSql(*c.default_value, c.type, mt.sql); !d.empty()) {
        line += " DEFAULT " + d;
      }
    }
    if (c.on_update_current_timestamp &&
        (c.type.kind == Kind::kTimestamp || c.type.kind == Kind::kTimestampTz)) {
      line += " ON UPDATE " + DefaultSql({.kind = ColumnDefault::Kind::kCurrentTimestamp}, c.type, mt.sql);
    }
    if (!mt.comment.empty()) line += " COMMENT " + QuoteConstant(mt.comment);
    lines.push_back(std::move(line));
  }
  if (!table.primary_key.empty()) {
    lines.push_back(fmt::format("  PRIMARY KEY ({})", JoinIdents(table.primary_key)));
  }
  for (const auto& u : table.unique_keys) {
    lines.push_back(fmt::format("  UNIQUE KEY ({})", JoinIdents(u)));
  }
  // MariaDB wants an AUTO_INCREMENT column first in some key (error 1075). A key that holds it
  // second, like PostgreSQL's (payment_date, payment_id) of a table partitioned by date, gets
  // a plain index on the column.
  for (const Column& c : table.columns) {
    if (!c.identity || c.type.kind != Kind::kInt) continue;
    bool leads = !table.primary_key.empty() && table.primary_key[0] == c.name;
    for (const auto& u : table.unique_keys) leads = leads || (!u.empty() && u[0] == c.name);
    if (!leads) lines.push_back(fmt::format("  KEY ({})", QuoteIdent(c.name)));
  }
  for (const auto& fk : table.foreign_keys) {
    if (!fk.name.empty()) continue;  // a named foreign key is built after the copy
    lines.push_back(fmt::format("  FOREIGN KEY ({}) REFERENCES {} ({})", JoinIdents(fk.columns),
                                QuoteIdent(fk.ref_table), JoinIdents(fk.ref_columns)));
  }
  std::string body;
  for (size_t i = 0; i < lines.size(); ++i) {
    body += lines[i];
    body += i + 1 < lines.size() ? ",\n" : "\n";
  }
  return fmt::format("CREATE TABLE {} (\n{}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={}",
                     QuoteIdent(table.name), body, opt.collation);
}

std::string DefaultSql(const ColumnDefault& d, const PortableType& type,
                       std::string_view column_sql) {
  using K = ColumnDefault::Kind;
  switch (d.kind) {
    case K::kCurrentTimestamp: {
      if (type.kind == Kind::kDate) return "(curdate())";
      if (type.kind != Kind::kTimestamp && type.kind != Kind::kTimestampTz) return "";
      // datetime(6) DEFAULT CURRENT_TIMESTAMP(6): the same fractional digits.
      size_t open = column_sql.find('(');
      if (open == std::string_view::npos) return "CURRENT_TIMESTAMP";
      return "CURRENT_TIMESTAMP" + std::string(column_sql.substr(open, column_sql.find(')') - open + 1));
    }
    case K::kCurrentDate: return "(curdate())";
    case K::kCurrentTime: return "(curtime())";
    case K::kExpression: return "(" + d.expression + ")";
    case K::kLiteral: break;
  }
  const Value& v = d.literal;
  if (v.is_null()) return "NULL";
  if (v.kind() == Kind::kInt) return std::to_string(v.as_int());
  if (v.kind() == Kind::kBool) return v.as_bool() ? "1" : "0";
  std::string t = v.kind() == Kind::kText ? v.as_str() : v.ToDisplay();
  if (type.kind == Kind::kBool) {
    if (t == "true" || t == "t") return "1";
    if (t == "false" || t == "f") return "0";
  }
  return QuoteConstant(t);
}

std::string CreateIndexSql(const TableSchema& table, const Index& ix) {
  auto unbounded = [&](const IndexPart& p) {
    const Column* c = p.column.empty() ? nullptr : table.Find(p.column);
    return c && ((c->type.kind == Kind::kText && c->type.length < 0) ||
                 c->type.kind == Kind::kBytes || c->type.kind == Kind::kJson);
  };
  int n_unbounded = 0;
  for (const auto& p : ix.parts) n_unbounded += unbounded(p) && p.prefix_length == 0;
  std::string parts;
  for (const auto& p : ix.parts) {
    std::string one = p.expression.empty() ? QuoteIdent(p.column) : "(" + p.expression + ")";
    int prefix = p.prefix_length;
    if (prefix == 0 && !ix.unique && unbounded(p)) prefix = 768 / std::max(1, n_unbounded);
    if (prefix > 0) one += fmt::format("({})", prefix);
    if (p.descending) one += " DESC";
    parts += (parts.empty() ? "" : ", ") + one;
  }
  return fmt::format("CREATE {}INDEX IF NOT EXISTS {} ON {} ({})", ix.unique ? "UNIQUE " : "",
                     QuoteIdent(ix.name), QuoteIdent(table.name), parts);
}

std::string AddForeignKeySql(std::string_view table, const ForeignKey& fk) {
  return fmt::format("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON "
                     "DELETE {} ON UPDATE {}",
                     QuoteIdent(table), QuoteIdent(fk.name), JoinIdents(fk.columns),
                     QuoteIdent(fk.ref_table), JoinIdents(fk.ref_columns),
                     FkActionSql(fk.on_delete), FkActionSql(fk.on_update));
}

std::string AddCheckSql(std::string_view table, const Check& check) {
  return fmt::format("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({})", QuoteIdent(table),
                     QuoteIdent(check.name), check.expression);
}

std::string ObjectExistsSql(std::string_view table_literal, std::string_view name_literal) {
  return fmt::format(
      "SELECT (SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
      "AND TABLE_NAME = {0} AND INDEX_NAME = {1}) + (SELECT COUNT(*) FROM "
      "information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME "
      "= {0} AND CONSTRAINT_NAME = {1})",
      table_literal, name_literal);
}

std::string CreateChangeTableSql() {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (\n"
      "  `seq` bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"
      "  `tbl` varchar(255) NOT NULL,\n"
      "  `op` char(1) NOT NULL,\n"
      "  `k` longtext NOT NULL,\n"
      "  `at` timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)\n"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
      QuoteIdent(kChangeTable));
}

std::string CreateCaptureTableSql() {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (\n"
      "  `tbl` varchar(255) NOT NULL PRIMARY KEY,\n"
      "  `key_columns` longtext NOT NULL\n"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
      QuoteIdent(kCaptureTable));
}

std::string TriggerName(std::string_view table, char op) {
  std::string_view kind = op == 'I' ? "ins" : op == 'U' ? "upd" : "del";
  std::string name = fmt::format("_tandem_{}_{}", kind, table);
  if (name.size() <= 64) return name;
  // FNV-1a over the full name keeps long names distinct after truncation.
  uint32_t h = 2166136261u;
  for (unsigned char c : table) h = (h ^ c) * 16777619u;
  size_t keep = 64 - 9 - 13;  // "_tandem_xxx_" + kept + "_" + 8 hex
  while (keep > 0 && (static_cast<unsigned char>(table[keep]) & 0xC0) == 0x80) --keep;
  return fmt::format("_tandem_{}_{}_{:08x}", kind, table.substr(0, keep), h);
}

std::string CaptureKeyExpr(std::string_view row, std::string_view column, const ColumnCodec& c) {
  std::string ref = fmt::format("{}.{}", row, QuoteIdent(column));
  if (c.is_bytes || !c.charset.empty()) return fmt::format("HEX({})", ref);
  if (c.wire == Wire::kBit) return fmt::format("CAST({} + 0 AS CHAR)", ref);
  if (c.wire == Wire::kTimestamp) return fmt::format("CAST(UNIX_TIMESTAMP({}) AS CHAR)", ref);
  return fmt::format("CAST({} AS CHAR)", ref);
}

namespace {

std::string KeyArray(std::string_view row, const std::vector<CaptureKeyColumn>& key) {
  std::string out = "JSON_ARRAY(";
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) out += ", ";
    out += CaptureKeyExpr(row, key[i].name, key[i].codec);
  }
  out += ')';
  return out;
}

}  // namespace

std::string TriggerSql(std::string_view table, std::string_view table_literal, char op,
                       const std::vector<CaptureKeyColumn>& key, bool or_replace) {
  std::string_view event = op == 'I' ? "INSERT" : op == 'U' ? "UPDATE" : "DELETE";
  std::string insert =
      fmt::format("INSERT INTO {} (`tbl`, `op`, `k`) VALUES ", QuoteIdent(kChangeTable));
  std::string body;
  if (op == 'I') {
    body = fmt::format("      {}({}, 'I', {});\n", insert, table_literal, KeyArray("NEW", key));
  } else if (op == 'D') {
    body = fmt::format("      {}({}, 'D', {});\n", insert, table_literal, KeyArray("OLD", key));
  } else {
    // Compared as bytes so a change of case or trailing spaces under a _ci or PAD SPACE
    // collation still counts as a new key.
    std::string old_key = KeyArray("OLD", key), new_key = KeyArray("NEW", key);
    body = fmt::format(
        "      IF CAST({1} AS BINARY) = CAST({2} AS BINARY) THEN\n"
        "        {0}({3}, 'U', {2});\n"
        "      ELSE\n"
        "        {0}({3}, 'D', {1}), ({3}, 'U', {2});\n"
        "      END IF;\n",
        insert, old_key, new_key, table_literal);
  }
  // A trigger runs with its definer's privileges (MariaDB has no SQL SECURITY INVOKER for
  // triggers): the definer is named as the user tandem connects as, so the application's
  // user needs no privilege on the change table, whoever installs capture.
  return fmt::format(
      "CREATE {}DEFINER = CURRENT_USER TRIGGER {} AFTER {} ON {} FOR EACH ROW\n"
      "  BEGIN\n"
      "    IF NOT (@tandem_capture_off <=> 1) THEN\n"
      "{}"
      "    END IF;\n"
      "  END",
      or_replace ? "OR REPLACE " : "", QuoteIdent(TriggerName(table, op)), event, QuoteIdent(table),
      body);
}

std::string AddColumnSql(std::string_view table, const Column& column, const CreateOptions& opt) {
  TypeOptions to;
  to.uuid_type = opt.uuid_type;
  MysqlColumnType mt = MysqlTypeFor(column.type, to);
  std::string sql = fmt::format("ALTER TABLE {} ADD COLUMN {} {} NULL", QuoteIdent(table),
                                QuoteIdent(column.name), mt.sql);
  if (!mt.comment.empty()) sql += " COMMENT " + QuoteConstant(mt.comment);
  return sql;
}

std::optional<Error> ValueRefusal(const Value& v, const PortableType& type) {
  auto refuse = [](Problem p, std::string msg) {
    Error e{Code::kInvalidArgument, std::move(msg)};
    e.problem = p;
    return std::optional<Error>(std::move(e));
  };
  // Days from 1970-01-01 to 10000-01-01: MariaDB dates and datetimes end in 9999.
  constexpr int64_t kYear10000 = 2932897;
  switch (v.kind()) {
    case Kind::kFloat:
      if (!std::isfinite(v.as_float())) {
        return refuse(Problem::kOutOfRange,
                      fmt::format("MariaDB has no {} (its float types hold finite numbers only)",
                                  v.ToString()));
      }
      break;
    case Kind::kDate:
      if (v.as_int() < -719528 || v.as_int() >= kYear10000) {
        return refuse(Problem::kOutOfRange, fmt::format("date {} is outside MariaDB's range "
                                                        "(0000 to 9999)",
                                                        v.ToString()));
      }
      break;
    case Kind::kTimestamp:
    case Kind::kTimestampTz:
      if (v.as_int() < -719528LL * 86400 * 1000000 || v.as_int() >= kYear10000 * 86400 * 1000000) {
        return refuse(Problem::kOutOfRange, fmt::format("timestamp {} is outside MariaDB's "
                                                        "range (0000 to 9999)",
                                                        v.ToString()));
      }
      break;
    default: break;
  }
  return std::nullopt;
}

}  // namespace tandem::mysql
