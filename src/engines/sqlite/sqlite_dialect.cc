#include "engines/sqlite/sqlite_dialect.h"

#include <cmath>
#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/text.h"

namespace tandem::sqlite {

std::string QuoteIdent(std::string_view name) { return QuoteDoubling(name, '"'); }

std::string QuoteLiteral(std::string_view text) { return QuoteDoubling(text, '\''); }

std::string IdentList(const std::vector<std::string>& names, std::string_view qualifier) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    out += qualifier;
    out += QuoteIdent(names[i]);
  }
  return out;
}

std::string KeyTerm(const std::vector<std::string>& key, std::string_view qualifier) {
  if (key.size() == 1) return std::string(qualifier) + QuoteIdent(key[0]);
  return "(" + IdentList(key, qualifier) + ")";
}

std::string KeyPlaceholders(size_t n) {
  if (n == 1) return "?";
  std::string out = "(";
  for (size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out + ")";
}

std::string RangePredicate(const std::vector<std::string>& key, bool has_lower, bool has_upper) {
  std::string term = KeyTerm(key), ph = KeyPlaceholders(key.size());
  std::string out;
  if (has_lower) out = term + " > " + ph;
  if (has_upper) {
    if (!out.empty()) out += " AND ";
    out += term + " <= " + ph;
  }
  return out;
}

Row RangeParams(const KeyRange& range) {
  Row params;
  if (range.lower) params.insert(params.end(), range.lower->begin(), range.lower->end());
  if (range.upper) params.insert(params.end(), range.upper->begin(), range.upper->end());
  return params;
}

namespace {

std::string Where(const std::vector<std::string>& key, bool has_lower, bool has_upper) {
  std::string pred = RangePredicate(key, has_lower, has_upper);
  return pred.empty() ? "" : " WHERE " + pred;
}

}  // namespace

std::string SelectPageSql(std::string_view table, const std::vector<std::string>& columns,
                          const std::vector<std::string>& key, bool has_lower, bool has_upper) {
  return "SELECT " + IdentList(columns) + " FROM " + QuoteIdent(table) +
         Where(key, has_lower, has_upper) + " ORDER BY " + IdentList(key) + " LIMIT ?";
}

std::string CountSql(std::string_view table, const std::vector<std::string>& key, bool has_lower,
                     bool has_upper) {
  return "SELECT count(*) FROM " + QuoteIdent(table) + Where(key, has_lower, has_upper);
}

std::string KeyEndsSql(std::string_view table, std::string_view key) {
  // Separate subqueries: SQLite answers min() and max() from the index only one at a time.
  std::string t = QuoteIdent(table), k = QuoteIdent(key);
  return "SELECT (SELECT min(" + k + ") FROM " + t + "), (SELECT max(" + k + ") FROM " + t +
         "), (SELECT count(*) FROM " + t + ")";
}

std::string SelectKeysSql(std::string_view table, const std::vector<std::string>& key) {
  return "SELECT " + IdentList(key) + " FROM " + QuoteIdent(table) + " ORDER BY " + IdentList(key);
}

std::string FetchSql(std::string_view table, const std::vector<std::string>& columns,
                     const std::vector<std::string>& key, size_t nkeys) {
  if (key.size() == 1) {
    std::string list;
    for (size_t i = 0; i < nkeys; ++i) list += i ? ", ?" : "?";
    return "SELECT " + IdentList(columns) + " FROM " + QuoteIdent(table) + " WHERE " +
           QuoteIdent(key[0]) + " IN (" + list + ")";
  }
  std::string values;
  for (size_t i = 0; i < nkeys; ++i) {
    if (i) values += ", ";
    values += KeyPlaceholders(key.size());
  }
  // CROSS JOIN keeps the VALUES list as the outer loop, so each key is one index search.
  std::string on;
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) on += " AND ";
    on += "t." + QuoteIdent(key[i]) + " = v.column" + std::to_string(i + 1);
  }
  return "SELECT " + IdentList(columns, "t.") + " FROM (VALUES " + values + ") AS v CROSS JOIN " +
         QuoteIdent(table) + " AS t ON " + on;
}

std::string InsertSql(std::string_view table, const std::vector<std::string>& columns,
                      const std::vector<std::string>& key, WriteMode mode) {
  std::string ph;
  for (size_t i = 0; i < columns.size(); ++i) ph += i ? ", ?" : "?";
  std::string sql =
      "INSERT INTO " + QuoteIdent(table) + " (" + IdentList(columns) + ") VALUES (" + ph + ")";
  if (mode == WriteMode::kInsert) return sql;
  sql += " ON CONFLICT (" + IdentList(key) + ") DO ";
  std::string set;
  if (mode == WriteMode::kUpsert) {
    for (const auto& c : columns) {
      bool is_key = false;
      for (const auto& k : key) is_key = is_key || k == c;
      if (is_key) continue;
      if (!set.empty()) set += ", ";
      set += QuoteIdent(c) + " = excluded." + QuoteIdent(c);
    }
  }
  // A row made only of key columns has nothing to update: keeping it is the upsert.
  return sql + (set.empty() ? "NOTHING" : "UPDATE SET " + set);
}

std::string DeleteKeySql(std::string_view table, const std::vector<std::string>& key) {
  std::string sql = "DELETE FROM " + QuoteIdent(table) + " WHERE ";
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) sql += " AND ";
    sql += QuoteIdent(key[i]) + " = ?";
  }
  return sql;
}

std::string DeleteRangeSql(std::string_view table, const std::vector<std::string>& key,
                           bool has_lower, bool has_upper) {
  return "DELETE FROM " + QuoteIdent(table) + Where(key, has_lower, has_upper);
}

std::string CopyAttachedSql(std::string_view schema, std::string_view source_table,
                            const std::vector<std::string>& source_columns,
                            const std::vector<std::string>& key, bool has_lower, bool has_upper,
                            std::string_view table, const std::vector<std::string>& columns) {
  std::string sql = "INSERT INTO main." + QuoteIdent(table) + " (" + IdentList(columns) +
                    ") SELECT " + IdentList(source_columns) + " FROM " + QuoteIdent(schema) + "." +
                    QuoteIdent(source_table) + Where(key, has_lower, has_upper);
  if (!key.empty()) sql += " ORDER BY " + IdentList(key);
  return sql;
}

std::string_view Affinity(std::string_view declared) {
  // SQLite's rules (https://www.sqlite.org/datatype3.html, 3.1), in their order.
  std::string upper = AsciiUpper(declared);
  auto has = [&](std::string_view part) { return upper.find(part) != std::string::npos; };
  if (has("INT")) return "INTEGER";
  if (has("CHAR") || has("CLOB") || has("TEXT")) return "TEXT";
  if (has("BLOB") || TrimSpace(upper).empty()) return "BLOB";
  if (has("REAL") || has("FLOA") || has("DOUB")) return "REAL";
  return "NUMERIC";
}

bool TakesAnyValue(std::string_view declared) {
  std::string upper = AsciiUpper(TrimSpace(declared));
  return upper.empty() || upper == "ANY";
}

std::string FileUri(std::string_view path, std::string_view query) {
  std::string out = "file:";
  for (char c : path) {
    switch (c) {
      case '%': out += "%25"; break;
      case '?': out += "%3f"; break;
      case '#': out += "%23"; break;
      default: out += c;
    }
  }
  if (!query.empty()) out += "?" + std::string(query);
  return out;
}

// ---- types -----------------------------------------------------------------------------

namespace {

// Upper-cases and collapses runs of whitespace: "double  precision" -> "DOUBLE PRECISION".
std::string NormalizeTypeName(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : TrimSpace(s)) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty() && c != '(' && out.back() != '(' && c != ')' && c != ',' &&
        out.back() != ',') {
      out += ' ';
    }
    space = false;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

// Integer arguments of "NAME(a, b)"; unparsable arguments are skipped.
std::vector<int> TypeArgs(std::string_view args) {
  std::vector<int> out;
  size_t p = 0;
  while (p < args.size()) {
    size_t comma = args.find(',', p);
    std::string_view part = TrimSpace(
        args.substr(p, comma == std::string_view::npos ? std::string_view::npos : comma - p));
    int v = 0;
    auto r = std::from_chars(part.data(), part.data() + part.size(), v);
    if (r.ec == std::errc() && r.ptr == part.data() + part.size()) out.push_back(v);
    if (comma == std::string_view::npos) break;
    p = comma + 1;
  }
  return out;
}

bool In(std::string_view s, std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (s == n) return true;
  }
  return false;
}

}  // namespace

PortableType PortableTypeFor(std::string_view declared) {
  std::string n = NormalizeTypeName(declared);
  std::string base = n;
  std::vector<int> args;
  if (size_t open = n.find('('); open != std::string::npos) {
    base = std::string(TrimSpace(std::string_view(n).substr(0, open)));
    size_t close = n.find(')', open);
    args = TypeArgs(std::string_view(n).substr(
        open + 1, close == std::string::npos ? std::string::npos : close - open - 1));
    // "TIMESTAMP(3) WITH TIME ZONE": the words after the arguments still count.
    if (close != std::string::npos && close + 1 < n.size()) {
      base += " " + std::string(TrimSpace(std::string_view(n).substr(close + 1)));
    }
  }
  PortableType t;
  if (base.empty()) {
    t.kind = Kind::kBytes;  // no declared type: BLOB affinity, values kept as given
  } else if (In(base, {"BOOLEAN", "BOOL"})) {
    t.kind = Kind::kBool;
  } else if (In(base, {"SMALLINT", "INT2", "TINYINT"})) {
    t.kind = Kind::kInt;
    t.int_bytes = 2;
  } else if (In(base, {"REAL", "DOUBLE", "DOUBLE PRECISION", "FLOAT", "FLOAT4", "FLOAT8"})) {
    t.kind = Kind::kFloat;
  } else if (In(base, {"NUMERIC", "DECIMAL", "DECIMAL TEXT"})) {
    t.kind = Kind::kDecimal;
    if (!args.empty()) {
      t.precision = args[0];
      t.scale = args.size() > 1 ? args[1] : 0;
    }
  } else if (In(base, {"VARCHAR", "NVARCHAR", "CHARACTER", "CHAR", "NCHAR", "VARYING CHARACTER",
                       "NATIVE CHARACTER", "CHARACTER VARYING", "VARCHAR2", "NVARCHAR2"})) {
    t.kind = Kind::kText;
    if (!args.empty() && args[0] > 0) t.length = args[0];
  } else if (In(base, {"TEXT", "CLOB"})) {
    t.kind = Kind::kText;
  } else if (base == "BLOB") {
    t.kind = Kind::kBytes;
  } else if (base == "DATE") {
    t.kind = Kind::kDate;
  } else if (In(base, {"DATETIME", "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE"})) {
    t.kind = Kind::kTimestamp;
  } else if (In(base, {"TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "DATETIMEOFFSET"})) {
    t.kind = Kind::kTimestampTz;
  } else if (In(base, {"TIME", "TIME WITHOUT TIME ZONE"})) {
    t.kind = Kind::kTime;
  } else if (In(base, {"JSON", "JSONB", "JSON TEXT"})) {
    t.kind = Kind::kJson;
  } else if (base == "UUID") {
    t.kind = Kind::kUuid;
  } else {
    // Any other name: by SQLite's affinity rules.
    std::string_view affinity = Affinity(base);
    if (affinity == "INTEGER") {
      t.kind = Kind::kInt;
    } else if (affinity == "TEXT") {
      t.kind = Kind::kText;
      if (!args.empty() && args[0] > 0) t.length = args[0];
    } else if (affinity == "BLOB") {
      t.kind = Kind::kBytes;
    } else if (affinity == "REAL") {
      t.kind = Kind::kFloat;
    } else {
      t.kind = Kind::kDecimal;  // NUMERIC affinity
    }
  }
  return t;
}

std::string SqliteTypeFor(const PortableType& t, bool in_key) {
  switch (t.kind) {
    case Kind::kNull:
      return "";
    case Kind::kBool:
      return "BOOLEAN";
    // INTEGER (not BIGINT) so a single-column integer primary key is the rowid: no second
    // index, and key-order scans read the table b-tree directly.
    case Kind::kInt:
      return t.int_bytes == 2 ? "SMALLINT" : "INTEGER";
    case Kind::kFloat:
      return "REAL";
    case Kind::kDecimal: {
      // NUMERIC affinity turns a decimal into INTEGER or REAL, and a REAL keeps 15 significant
      // digits. Decimals that may need more go in a TEXT-affinity column, exact; a key column
      // keeps NUMERIC so that key ranges compare in numeric order, as in the source.
      bool exact_in_numeric =
          t.precision >= 0 && (t.precision <= 15 || (t.scale == 0 && t.precision <= 18));
      std::string name = exact_in_numeric || in_key ? "NUMERIC" : "DECIMAL TEXT";
      if (t.precision < 0) return name;
      if (t.scale < 0) return fmt::format("{}({})", name, t.precision);
      return fmt::format("{}({},{})", name, t.precision, t.scale);
    }
    case Kind::kText:
      return t.length < 0 ? "TEXT" : fmt::format("VARCHAR({})", t.length);
    case Kind::kBytes:
      return "BLOB";
    case Kind::kDate:
      return "DATE";
    case Kind::kTime:
      return "TIME";
    case Kind::kTimestamp:
      return "TIMESTAMP";
    case Kind::kTimestampTz:
      return "TIMESTAMPTZ";
    case Kind::kJson:
      // Not plain JSON: that name has NUMERIC affinity, which would store the document 15.0 as
      // the integer 15. "JSON TEXT" has TEXT affinity and keeps every document as written.
      return "JSON TEXT";
    case Kind::kUuid:
      return "UUID";
    case Kind::kUndecodable:  // not a column type
      break;
  }
  return "";
}

std::optional<std::string> PortableDefault(std::string_view expr) {
  std::string_view e = TrimSpace(expr);
  while (e.size() >= 2 && e.front() == '(' && e.back() == ')')
    e = TrimSpace(e.substr(1, e.size() - 2));
  if (e.empty()) return std::nullopt;
  if (e.front() == '\'') {
    // A quoted string, possibly followed by a PostgreSQL cast: 'abc'::character varying.
    size_t i = 1;
    while (i < e.size()) {
      if (e[i] == '\'') {
        if (i + 1 < e.size() && e[i + 1] == '\'') {
          i += 2;
          continue;
        }
        break;
      }
      ++i;
    }
    if (i >= e.size()) return std::nullopt;
    std::string_view lit = e.substr(0, i + 1), rest = TrimSpace(e.substr(i + 1));
    if (!rest.empty() && !rest.starts_with("::")) return std::nullopt;
    return std::string(lit);
  }
  std::string up = AsciiUpper(e);
  if (In(up, {"NULL", "TRUE", "FALSE", "CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME"})) {
    return up;
  }
  if (auto n = NormalizeDecimal(e); n && e.find_first_of("eE") == std::string_view::npos) {
    return std::string(e);
  }
  return std::nullopt;
}

std::string DefaultSql(const ColumnDefault& d) {
  using K = ColumnDefault::Kind;
  switch (d.kind) {
    case K::kCurrentTimestamp: return "CURRENT_TIMESTAMP";
    case K::kCurrentDate: return "CURRENT_DATE";
    case K::kCurrentTime: return "CURRENT_TIME";
    case K::kExpression: return "(" + d.expression + ")";
    case K::kLiteral: break;
  }
  const Value& v = d.literal;
  if (v.is_null()) return "NULL";
  if (v.kind() == Kind::kInt) return std::to_string(v.as_int());
  if (v.kind() == Kind::kBool) return v.as_bool() ? "1" : "0";
  return QuoteLiteral(v.kind() == Kind::kText ? v.as_str() : v.ToDisplay());
}

std::string CreateTableSql(const TableSchema& table) {
  std::string sql = "CREATE TABLE " + QuoteIdent(table.name) + " (";
  bool first = true;
  auto add = [&](const std::string& part) {
    sql += first ? "\n  " : ",\n  ";
    sql += part;
    first = false;
  };
  bool inline_key = false;
  for (const auto& c : table.columns) {
    std::string def = QuoteIdent(c.name);
    bool in_key = std::find(table.primary_key.begin(), table.primary_key.end(), c.name) !=
                  table.primary_key.end();
    if (c.identity && c.type.kind == Kind::kInt && table.primary_key.size() == 1 && in_key) {
      add(def + " INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL");
      inline_key = true;
      continue;
    }
    // A declared engine type (a same-engine copy) is kept as written: it sets the affinity.
    std::string type = c.engine_type.empty() ? SqliteTypeFor(c.type, in_key) : c.engine_type;
    if (!type.empty()) def += " " + type;
    if (!c.nullable) def += " NOT NULL";
    if (c.default_value && !c.generated) {
      if (std::string d = DefaultSql(*c.default_value); !d.empty()) def += " DEFAULT " + d;
    } else if (c.default_expr && !c.generated) {
      if (auto d = PortableDefault(*c.default_expr)) def += " DEFAULT " + *d;
    }
    add(def);
  }
  if (!table.primary_key.empty() && !inline_key) {
    add("PRIMARY KEY (" + IdentList(table.primary_key) + ")");
  }
  for (const auto& u : table.unique_keys) add("UNIQUE (" + IdentList(u) + ")");
  for (const auto& ch : table.check_constraints) {
    add((ch.name.empty() ? "" : "CONSTRAINT " + QuoteIdent(ch.name) + " ") + "CHECK (" +
        ch.expression + ")");
  }
  for (const auto& fk : table.foreign_keys) {
    std::string line = (fk.name.empty() ? "" : "CONSTRAINT " + QuoteIdent(fk.name) + " ") +
                       "FOREIGN KEY (" + IdentList(fk.columns) + ") REFERENCES " +
                       QuoteIdent(fk.ref_table) + " (" + IdentList(fk.ref_columns) + ")";
    if (fk.on_delete != FkAction::kNoAction) line += " ON DELETE " + std::string(FkActionSql(fk.on_delete));
    if (fk.on_update != FkAction::kNoAction) line += " ON UPDATE " + std::string(FkActionSql(fk.on_update));
    add(line);
  }
  return sql + "\n)";
}

std::string CreateIndexSql(std::string_view table, const Index& ix) {
  std::string parts;
  for (const auto& p : ix.parts) {
    // SQLite takes an expression as an index part without parentheses, and keeps the text as
    // written: no added parentheses, so an identity copy's schema text stays the source's.
    std::string one = p.expression.empty() ? QuoteIdent(p.column) : p.expression;
    if (p.descending) one += " DESC";
    parts += (parts.empty() ? "" : ", ") + one;
  }
  std::string sql = "CREATE " + std::string(ix.unique ? "UNIQUE " : "") + "INDEX IF NOT EXISTS " +
                    QuoteIdent(ix.name) + " ON " + QuoteIdent(table) + " (" + parts + ")";
  if (!ix.where.empty()) sql += " WHERE " + ix.where;
  return sql;
}

std::string ForeignKeyCheckSql() {
  return "SELECT rowid, \"parent\", fkid FROM pragma_foreign_key_check(?1)";
}

void SplitIndexSql(std::string_view sql, std::vector<std::string>& parts, std::string& where) {
  parts.clear();
  where.clear();
  size_t open = sql.find('(');
  if (open == std::string_view::npos) return;
  int depth = 0;
  char quote = 0;
  size_t start = open + 1, i = open;
  for (; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
      quote = c == '[' ? ']' : c;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')' && --depth == 0) break;
    if (c == ',' && depth == 1) {
      parts.emplace_back(TrimSpace(sql.substr(start, i - start)));
      start = i + 1;
    }
  }
  if (i >= sql.size()) return;
  parts.emplace_back(TrimSpace(sql.substr(start, i - start)));
  std::string_view rest = TrimSpace(sql.substr(i + 1));
  if (AsciiUpper(rest.substr(0, 5)) == "WHERE") where = std::string(TrimSpace(rest.substr(5)));
}

std::vector<std::string> ExtractChecks(std::string_view sql) {
  std::vector<std::string> out;
  size_t i = 0;
  auto skip_quoted = [&](char close) {
    ++i;
    while (i < sql.size()) {
      if (sql[i] == close) {
        // A doubled quote is an escaped quote, except for [brackets].
        if (close != ']' && i + 1 < sql.size() && sql[i + 1] == close) {
          i += 2;
          continue;
        }
        ++i;
        return;
      }
      ++i;
    }
  };
  auto is_word = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
  };
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\'' || c == '"' || c == '`') {
      skip_quoted(c);
    } else if (c == '[') {
      skip_quoted(']');
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (is_word(c)) {
      size_t start = i;
      while (i < sql.size() && is_word(sql[i])) ++i;
      if (AsciiUpper(sql.substr(start, i - start)) != "CHECK") continue;
      size_t j = i;
      while (j < sql.size() && std::isspace(static_cast<unsigned char>(sql[j]))) ++j;
      if (j >= sql.size() || sql[j] != '(') continue;
      // Balanced parentheses, skipping quoted text.
      i = j + 1;
      int depth = 1;
      size_t body = i;
      while (i < sql.size() && depth > 0) {
        char d = sql[i];
        if (d == '\'' || d == '"' || d == '`') {
          skip_quoted(d);
          continue;
        }
        if (d == '[') {
          skip_quoted(']');
          continue;
        }
        if (d == '(') ++depth;
        if (d == ')') --depth;
        ++i;
      }
      if (depth == 0) out.emplace_back(TrimSpace(sql.substr(body, i - 1 - body)));
    } else {
      ++i;
    }
  }
  return out;
}

// ---- capture ---------------------------------------------------------------------------

std::string CaptureTablesSql() {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, "
      "op TEXT NOT NULL, key TEXT NOT NULL, at REAL DEFAULT (julianday('now')));\n"
      "CREATE TABLE IF NOT EXISTS {} (x);",
      QuoteIdent(kChangesTable), QuoteIdent(kCaptureOffTable));
}

std::string CaptureTriggerName(std::string_view table, std::string_view op) {
  return fmt::format("_tandem_{}_{}", table, op);
}

namespace {

// json_array(...) of the key as seen through OLD or NEW. Integers, text and NULL are stored as
// themselves. JSON cannot hold a blob (and a failing trigger fails the application's write),
// and SQLite prints reals in JSON with 15 digits (a key that no longer matches its row), so
// those two become ["x", hex] and ["r", 17 significant digits].
std::string KeyJson(const std::vector<std::string>& key, std::string_view row) {
  std::string out = "json_array(";
  for (size_t i = 0; i < key.size(); ++i) {
    std::string col = fmt::format("{}.{}", row, QuoteIdent(key[i]));
    if (i) out += ", ";
    out += fmt::format(
        "CASE typeof({0}) WHEN 'blob' THEN json_array('x', hex({0})) "
        "WHEN 'real' THEN json_array('r', printf('%!.17g', {0})) ELSE {0} END",
        col);
  }
  return out + ")";
}

}  // namespace

std::vector<std::string> CaptureTriggerSql(std::string_view table,
                                           const std::vector<std::string>& key) {
  std::string t = QuoteIdent(table), lit = QuoteLiteral(table);
  std::string changes = QuoteIdent(kChangesTable);
  std::string when =
      fmt::format("WHEN NOT EXISTS (SELECT 1 FROM {})", QuoteIdent(kCaptureOffTable));
  std::string append = fmt::format("INSERT INTO {} (tbl, op, key)", changes);
  std::string key_changed;
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) key_changed += " OR ";
    key_changed += fmt::format("OLD.{0} IS NOT NEW.{0}", QuoteIdent(key[i]));
  }
  std::string ins = QuoteIdent(CaptureTriggerName(table, "ins"));
  std::string upd = QuoteIdent(CaptureTriggerName(table, "upd"));
  std::string del = QuoteIdent(CaptureTriggerName(table, "del"));
  return {
      "DROP TRIGGER IF EXISTS " + ins,
      "DROP TRIGGER IF EXISTS " + upd,
      "DROP TRIGGER IF EXISTS " + del,
      fmt::format("CREATE TRIGGER {} AFTER INSERT ON {} {} BEGIN {} VALUES ({}, 'I', {}); END", ins,
                  t, when, append, lit, KeyJson(key, "NEW")),
      fmt::format("CREATE TRIGGER {} AFTER UPDATE ON {} {} BEGIN "
                  "{} SELECT {}, 'D', {} WHERE {}; "
                  "{} VALUES ({}, 'U', {}); END",
                  upd, t, when, append, lit, KeyJson(key, "OLD"), key_changed, append, lit,
                  KeyJson(key, "NEW")),
      fmt::format("CREATE TRIGGER {} AFTER DELETE ON {} {} BEGIN {} VALUES ({}, 'D', {}); END", del,
                  t, when, append, lit, KeyJson(key, "OLD")),
  };
}

std::string ReadChangesSql() {
  return fmt::format(
      "SELECT c.seq, c.tbl, c.op, j.type, j.atom, "
      "CASE WHEN j.type = 'array' THEN json_extract(j.value, '$[0]') END, "
      "CASE WHEN j.type = 'array' THEN json_extract(j.value, '$[1]') END, "
      "CAST((c.at - 2440587.5) * 86400000000 AS INTEGER) "
      "FROM (SELECT seq, tbl, op, key, at FROM {} WHERE seq > ?1 ORDER BY seq LIMIT ?2) AS c, "
      "json_each(c.key) AS j ORDER BY c.seq, j.key",
      QuoteIdent(kChangesTable));
}

std::string AddColumnSql(std::string_view table, const Column& column) {
  std::string type = SqliteTypeFor(column.type);
  return "ALTER TABLE " + QuoteIdent(table) + " ADD COLUMN " + QuoteIdent(column.name) +
         (type.empty() ? "" : " " + type);
}

bool DeclaresAutoincrement(std::string_view sql) {
  constexpr std::string_view kWord = "AUTOINCREMENT";
  auto ident = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
           static_cast<unsigned char>(c) >= 0x80;
  };
  char quote = 0;  // inside "...", `...`, [...] or '...'
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote) {
      if (c == quote) quote = 0;  // a doubled quote re-enters at once: harmless here
      continue;
    }
    if (c == '"' || c == '`' || c == '\'') {
      quote = c;
      continue;
    }
    if (c == '[') {
      quote = ']';
      continue;
    }
    if (i + kWord.size() > sql.size() || (i > 0 && ident(sql[i - 1]))) continue;
    bool match = true;
    for (size_t k = 0; k < kWord.size() && match; ++k) {
      match = std::toupper(static_cast<unsigned char>(sql[i + k])) == kWord[k];
    }
    if (match && (i + kWord.size() == sql.size() || !ident(sql[i + kWord.size()]))) return true;
  }
  return false;
}

std::string RowidKeySql() {
  return "SELECT l.wr, m.sql, k.name, k.type FROM pragma_table_list AS l "
         "JOIN sqlite_master AS m ON m.type = 'table' AND m.name = l.name "
         "JOIN pragma_table_info(?1) AS k ON k.pk > 0 "
         "WHERE l.schema = 'main' AND l.type = 'table' AND l.name = ?1 ORDER BY k.pk";
}

std::string MaxValueSql(std::string_view table, std::string_view column) {
  return fmt::format("SELECT max({0}), typeof(max({0})) FROM {1}", QuoteIdent(column),
                     QuoteIdent(table));
}

std::string NextRowidSql(std::string_view table) {
  return fmt::format("SELECT coalesce(max(rowid), 0) + 1 FROM {}", QuoteIdent(table));
}

std::string SqliteSequenceSql() { return "SELECT seq FROM sqlite_sequence WHERE name = ?1"; }

std::string RaiseSqliteSequenceSql() {
  return "UPDATE sqlite_sequence SET seq = ?1 WHERE name = ?2 AND seq < ?1";
}

std::string InsertSqliteSequenceSql() {
  return "INSERT INTO sqlite_sequence (name, seq) SELECT ?2, ?1 "
         "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?2)";
}

std::optional<Error> ValueRefusal(const Value& v, const PortableType& type) {
  // A REAL column keeps -0.0 as 0: the writer refuses the row rather than change the value.
  if (v.kind() == Kind::kFloat && v.as_float() == 0 && std::signbit(v.as_float())) {
    Error e{Code::kInvalidArgument, "SQLite cannot store the float -0 (a REAL column keeps it as 0)"};
    e.problem = Problem::kOutOfRange;
    return e;
  }
  return std::nullopt;
}

}  // namespace tandem::sqlite
