#include "tandem/engine.h"
#include "tandem/schema.h"

#include <algorithm>
#include <fmt/format.h>

#include "core/text.h"

namespace tandem {

const Column* TableSchema::Find(std::string_view column) const {
  int i = IndexOf(column);
  return i < 0 ? nullptr : &columns[i];
}

int TableSchema::IndexOf(std::string_view column) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == column) return static_cast<int>(i);
  }
  return -1;
}

namespace {

// Strips outer parentheses and a trailing PostgreSQL cast: ((0)::numeric) -> 0.
std::string_view StripCastsAndParens(std::string_view e) {
  for (;;) {
    e = TrimSpace(e);
    size_t cast = std::string_view::npos;
    // A trailing ::type[(n)] outside quotes.
    bool quoted = false;
    for (size_t i = 0; i + 1 < e.size(); ++i) {
      if (e[i] == '\'') quoted = !quoted;
      if (!quoted && e[i] == ':' && e[i + 1] == ':') cast = i;
    }
    if (cast != std::string_view::npos) {
      e = e.substr(0, cast);
      continue;
    }
    if (e.size() >= 2 && e.front() == '(' && e.back() == ')') {
      int depth = 0;
      bool outer = true;
      for (size_t i = 0; i < e.size(); ++i) {
        if (e[i] == '(') ++depth;
        if (e[i] == ')') --depth;
        if (depth == 0 && i + 1 < e.size()) outer = false;
      }
      if (outer) {
        e = e.substr(1, e.size() - 2);
        continue;
      }
    }
    return e;
  }
}

}  // namespace

ColumnDefault ParsePortableDefault(std::string_view text) {
  ColumnDefault d;
  std::string_view e = StripCastsAndParens(text);
  std::string low = AsciiLower(e);
  auto is = [&](std::initializer_list<std::string_view> names) {
    for (auto n : names) {
      if (low == n) return true;
    }
    return false;
  };
  if (is({"current_timestamp", "current_timestamp()", "now()", "localtimestamp",
          "localtimestamp()", "current_timestamp(0)", "now(0)", "datetime('now')",
          "transaction_timestamp()", "statement_timestamp()"}) ||
      (low.starts_with("current_timestamp(") && low.size() <= 21) ||
      (low.starts_with("now(") && low.size() <= 6)) {
    d.kind = ColumnDefault::Kind::kCurrentTimestamp;
    return d;
  }
  if (is({"current_date", "curdate()", "current_date()", "date('now')"})) {
    d.kind = ColumnDefault::Kind::kCurrentDate;
    return d;
  }
  if (is({"current_time", "curtime()", "current_time()", "time('now')"})) {
    d.kind = ColumnDefault::Kind::kCurrentTime;
    return d;
  }
  if (low == "null") return d;  // kLiteral NULL
  if (low == "true" || low == "false") {
    d.literal = Value::Bool(low == "true");
    return d;
  }
  if (e.size() >= 2 && e.front() == '\'' && e.back() == '\'') {
    std::string out;
    bool ok = true;
    for (size_t i = 1; i + 1 < e.size(); ++i) {
      if (e[i] == '\'') {
        if (i + 2 < e.size() && e[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        ok = false;  // 'a' || 'b'
        break;
      }
      out += e[i];
    }
    if (ok) {
      d.literal = Value::Text(std::move(out));
      return d;
    }
  }
  std::string_view num = e;
  bool neg = !num.empty() && (num.front() == '-' || num.front() == '+');
  std::string_view digits = neg ? num.substr(1) : num;
  if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos &&
      digits.size() < 19) {
    d.literal = Value::Int(std::stoll(std::string(num)));
    return d;
  }
  if (!digits.empty() && digits.find_first_not_of("0123456789.") == std::string_view::npos &&
      std::count(digits.begin(), digits.end(), '.') == 1 && digits != ".") {
    d.literal = Value::Text(std::string(num));
    return d;
  }
  d.kind = ColumnDefault::Kind::kExpression;
  d.expression = std::string(TrimSpace(text));
  return d;
}

std::string_view FkActionSql(FkAction a) {
  switch (a) {
    case FkAction::kNoAction: return "NO ACTION";
    case FkAction::kRestrict: return "RESTRICT";
    case FkAction::kCascade: return "CASCADE";
    case FkAction::kSetNull: return "SET NULL";
    case FkAction::kSetDefault: return "SET DEFAULT";
  }
  return "NO ACTION";
}

std::string_view FkActionName(FkAction a) {
  switch (a) {
    case FkAction::kNoAction: return "no_action";
    case FkAction::kRestrict: return "restrict";
    case FkAction::kCascade: return "cascade";
    case FkAction::kSetNull: return "set_null";
    case FkAction::kSetDefault: return "set_default";
  }
  return "no_action";
}

std::optional<FkAction> ParseFkAction(std::string_view s) {
  std::string l = AsciiLower(TrimSpace(s));
  for (auto& c : l) {
    if (c == ' ') c = '_';
  }
  for (FkAction a : {FkAction::kNoAction, FkAction::kRestrict, FkAction::kCascade,
                     FkAction::kSetNull, FkAction::kSetDefault}) {
    if (l == FkActionName(a)) return a;
  }
  return std::nullopt;
}

const std::string& SchemaObject::name() const {
  switch (kind) {
    case Kind::kIndex: return index.name;
    case Kind::kCheck: return check.name;
    case Kind::kForeignKey: return foreign_key.name;
  }
  return index.name;
}

std::string_view SchemaObject::KindName() const {
  switch (kind) {
    case Kind::kIndex: return index.unique ? "unique index" : "index";
    case Kind::kCheck: return "check";
    case Kind::kForeignKey: return "foreign key";
  }
  return "object";
}

std::vector<SchemaObject> ObjectsOf(const TableSchema& table) {
  std::vector<SchemaObject> out;
  for (const auto& ix : table.indexes) out.push_back({.kind = SchemaObject::Kind::kIndex, .index = ix});
  for (const auto& c : table.check_constraints) {
    out.push_back({.kind = SchemaObject::Kind::kCheck, .check = c});
  }
  for (const auto& fk : table.foreign_keys) {
    out.push_back({.kind = SchemaObject::Kind::kForeignKey, .foreign_key = fk});
  }
  return out;
}

std::string DuplicateKeysSql(const SqlNames& q, std::string_view table,
                             const std::vector<std::string>& columns, int limit) {
  std::string cols, not_null;
  for (const auto& c : columns) {
    cols += (cols.empty() ? "" : ", ") + q.column(c);
    not_null += (not_null.empty() ? "" : " AND ") + q.column(c) + " IS NOT NULL";
  }
  return fmt::format("SELECT {0}, count(*) FROM {1} WHERE {2} GROUP BY {0} HAVING count(*) > 1 "
                     "ORDER BY count(*) DESC LIMIT {3}",
                     cols, q.table(q.ctx, table), not_null, limit);
}

std::string OrphanKeysSql(const SqlNames& q, std::string_view table, const ForeignKey& fk,
                          int limit) {
  std::string cols, on, not_null;
  for (size_t i = 0; i < fk.columns.size(); ++i) {
    std::string c = "c." + q.column(fk.columns[i]);
    cols += (cols.empty() ? "" : ", ") + c;
    not_null += " AND " + c + " IS NOT NULL";
    on += (on.empty() ? "" : " AND ") + c + " = p." +
          q.column(i < fk.ref_columns.size() ? fk.ref_columns[i] : fk.columns[i]);
  }
  std::string first_ref = q.column(fk.ref_columns.empty() ? fk.columns[0] : fk.ref_columns[0]);
  return fmt::format("SELECT DISTINCT {} FROM {} c LEFT JOIN {} p ON {} WHERE p.{} IS NULL{} "
                     "LIMIT {}",
                     cols, q.table(q.ctx, table), q.table(q.ctx, fk.ref_table), on, first_ref,
                     not_null, limit);
}

std::string SampleKeysText(const std::vector<std::vector<std::optional<std::string>>>& rows,
                           bool with_count) {
  std::string out;
  for (const auto& row : rows) {
    size_t n = with_count && !row.empty() ? row.size() - 1 : row.size();
    std::string k;
    for (size_t c = 0; c < n; ++c) k += (c ? ", " : "") + row[c].value_or("NULL");
    out += (out.empty() ? "(" : "; (") + k + ")";
    if (with_count && !row.empty()) out += " x" + row.back().value_or("?");
  }
  return out;
}

size_t RowBytes(const Row& row) {
  size_t n = row.size() * sizeof(Value);
  // What a value's string holds on the heap (its capacity: a refilled value keeps its
  // buffer); short strings live inside the Value.
  for (const auto& v : row) {
    if (v.as_str().capacity() > 15) n += v.as_str().capacity() + 16;
  }
  return n;
}

Row& BatchRowAt(std::vector<Row>& batch, size_t n, std::vector<Row>* spare) {
  if (n < batch.size()) return batch[n];
  if (spare && !spare->empty()) {
    batch.push_back(std::move(spare->back()));
    spare->pop_back();
  } else {
    batch.emplace_back();
  }
  return batch.back();
}

void EndBatchAt(std::vector<Row>& batch, size_t n, std::vector<Row>* spare) {
  if (spare) {
    for (size_t i = n; i < batch.size(); ++i) spare->push_back(std::move(batch[i]));
  }
  batch.resize(std::min(n, batch.size()));
}

bool KeyRange::Contains(const Row& key) const {
  if (lower && !(key > *lower)) return false;
  if (upper && key > *upper) return false;
  return true;
}

std::vector<KeyRange> RangesBetween(const std::vector<Row>& bounds) {
  std::vector<KeyRange> out;
  std::optional<Row> lower;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    KeyRange r;
    r.lower = lower;
    if (i < bounds.size()) r.upper = bounds[i];
    lower = r.upper;
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<KeyRange>> PlanRanges(Engine& engine, const std::string& table,
                                         const std::vector<std::string>& key, int64_t range_rows) {
  // The statistics' estimate for a large table (a count would read it whole): ranges are
  // about range_rows rows either way.
  TANDEM_ASSIGN_OR_RETURN(int64_t rows, engine.EstimateRows(table, key));
  int n = static_cast<int>(std::max<int64_t>(1, (rows + range_rows - 1) / range_rows));
  TANDEM_ASSIGN_OR_RETURN(auto bounds, engine.Split(table, key, n));
  return RangesBetween(bounds);
}

}  // namespace tandem

namespace tandem {

// The slow, always-right reading: the whole catalog, then the one table. Engines override it
// with a one-table query.
Result<std::vector<Column>> Engine::DescribeColumns(const std::string& table) {
  TANDEM_ASSIGN_OR_RETURN(auto tables, Introspect());
  for (auto& t : tables) {
    if (t.name == table) return std::move(t.columns);
  }
  return Fail(Code::kNotFound, "{}: table {} not found", kind(), table);
}

namespace {

// Each batch as its own Write, for engines whose bulk path gains nothing from staying open.
class WriteEachBatch final : public BulkInsert {
 public:
  WriteEachBatch(Engine& engine, std::string table, std::vector<std::string> columns,
                 std::vector<std::string> key)
      : engine_(engine), table_(std::move(table)), columns_(std::move(columns)),
        key_(std::move(key)) {}
  Status Add(const std::vector<Row>& rows) override {
    return engine_.Write(table_, columns_, key_, rows, WriteMode::kInsert);
  }
  Status Finish() override { return Ok(); }

 private:
  Engine& engine_;
  std::string table_;
  std::vector<std::string> columns_;
  std::vector<std::string> key_;  // for the engine's messages
};

}  // namespace

Result<std::unique_ptr<BulkInsert>> Engine::OpenInsert(const std::string& table,
                                                      const std::vector<std::string>& columns,
                                                      const std::vector<std::string>& key) {
  return std::make_unique<WriteEachBatch>(*this, table, columns, key);
}

}  // namespace tandem
