#include "engines/sqlite/sqlite_engine.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>

#include "core/text.h"
#include "engines/factories.h"
#include "engines/sqlite/sqlite_dialect.h"

namespace tandem {

Result<std::unique_ptr<Engine>> OpenSqlite(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(auto engine, sqlite::SqliteEngine::Open(path));
  return std::unique_ptr<Engine>(std::move(engine));
}

namespace sqlite {
namespace {

// Fetch sends keys in groups of up to 500: few statements, and within SQLite's limit of
// 32766 bound parameters however wide the key.
size_t KeyGroup(size_t key_columns) {
  return std::clamp<size_t>(32000 / std::max<size_t>(key_columns, 1), 1, 500);
}

std::string KeyText(const Row& key) {
  std::string out = "(";
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) out += ", ";
    out += key[i].ToDisplay();
  }
  return out + ")";
}

Status CheckKey(std::string_view op, std::string_view table, const std::vector<std::string>& key) {
  if (key.empty()) {
    return Fail(Code::kInvalidArgument, "sqlite: {} {}: no key columns given", op, table);
  }
  return Ok();
}

Status CheckRange(std::string_view op, std::string_view table, const std::vector<std::string>& key,
                  const KeyRange& range) {
  if ((range.lower || range.upper) && key.empty()) {
    return Fail(Code::kInvalidArgument, "sqlite: {} {}: a key range needs key columns", op, table);
  }
  for (const auto* bound : {&range.lower, &range.upper}) {
    if (*bound && (*bound)->size() != key.size()) {
      return Fail(Code::kInvalidArgument,
                  "sqlite: {} {}: bound {} has {} values for {} key columns", op, table,
                  KeyText(**bound), (*bound)->size(), key.size());
    }
  }
  return Ok();
}

// Keyset pages over one table. Each Next() binds the last key read (or the range's lower bound)
// and runs one LIMIT query; the statement is reset between pages so no read snapshot is held
// while the caller works.
class SqliteRowReader final : public RowReader {
 public:
  SqliteRowReader(Database* db, const ScanRequest& req, std::vector<int> key_index)
      : db_(db),
        table_(req.table),
        columns_(req.columns),
        key_(req.key),
        key_index_(std::move(key_index)),
        lower_(req.range.lower),
        upper_(req.range.upper),
        batch_rows_(std::max<size_t>(req.batch_rows, 1)),
        limit_(req),
        spare_(req.spare_rows) {}

  bool Next(std::vector<Row>& batch) override {
    if (done_ || !status_) {
      EndBatchAt(batch, 0, spare_);
      return false;
    }
    Statement& st = lower_ ? paged_ : open_;
    if (!st.valid()) {
      auto p = db_->Prepare(
          SelectPageSql(table_, columns_, key_, lower_.has_value(), upper_.has_value()));
      if (!p) {
        batch.clear();
        return Stop(std::move(p.error()));
      }
      st = std::move(*p);
    }
    Row params;
    if (lower_) params = *lower_;
    if (upper_) params.insert(params.end(), upper_->begin(), upper_->end());
    params.push_back(Value::Int(static_cast<int64_t>(batch_rows_)));
    if (auto b = st.BindAll(params); !b) {
      batch.clear();
      return Stop(std::move(b.error()));
    }
    size_t n = 0;
    bool ended = false;  // the page ran out (not cut short by the byte cap)
    limit_.Start();
    while (!limit_.Full()) {
      auto more = st.Step();
      if (!more) {
        batch.clear();
        return Stop(std::move(more.error()));
      }
      if (!*more) {
        ended = true;
        break;
      }
      Row& row = BatchRowAt(batch, n++, spare_);
      st.ReadRowInto(row);
      limit_.Add(row);
    }
    EndBatchAt(batch, n, spare_);
    st.Reset();
    if (ended && batch.size() < batch_rows_) done_ = true;
    if (batch.empty()) return false;
    Row last;
    last.reserve(key_index_.size());
    for (int i : key_index_) last.push_back(batch.back()[i]);
    // A rowid table lets a non-INTEGER primary key hold NULL. Paging on from a NULL key would
    // compare with NULL and silently skip rows, so stop and say so instead.
    for (size_t k = 0; k < last.size() && !done_; ++k) {
      if (last[k].is_null()) {
        batch.clear();
        return Stop(Error{Code::kFailedPrecondition,
                          fmt::format("sqlite: primary key column {} holds NULL; rows with a NULL "
                                      "key cannot be paged by key (give them a key first)",
                                      key_[k])});
      }
    }
    lower_ = std::move(last);
    return true;
  }

  Status status() const override { return status_; }

 private:
  bool Stop(Error e) {
    status_ = std::unexpected(In(std::move(e), "scan", table_));
    return false;
  }

  Database* db_;
  std::string table_;
  std::vector<std::string> columns_, key_;
  std::vector<int> key_index_;  // position of each key column in columns_
  std::optional<Row> lower_;    // exclusive: the last key returned, or the range's lower bound
  std::optional<Row> upper_;
  size_t batch_rows_;
  BatchLimit limit_;
  std::vector<Row>* spare_;  // ScanRequest::spare_rows
  Statement open_, paged_;  // first page without a lower bound; pages after a known key
  bool done_ = false;
  Status status_;
};

}  // namespace

Result<std::unique_ptr<SqliteEngine>> SqliteEngine::Open(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(Database db, Database::Open(path));
  return std::unique_ptr<SqliteEngine>(new SqliteEngine(std::move(db)));
}

// ---- transactions ----------------------------------------------------------------------

Status SqliteEngine::Begin() {
  if (in_txn_ || db_.InTransaction()) {
    return Fail(Code::kFailedPrecondition, "sqlite: begin: a transaction is already open");
  }
  if (auto st = db_.Exec("BEGIN IMMEDIATE"); !st)
    return std::unexpected(In(st.error(), "begin", ""));
  in_txn_ = true;
  marker_ = false;
  if (suppressed_) {
    if (auto st = SetCaptureMarker(true); !st) {
      (void)Rollback();
      return st;
    }
  }
  return Ok();
}

Status SqliteEngine::Commit() {
  if (!in_txn_) return Fail(Code::kFailedPrecondition, "sqlite: commit: no transaction is open");
  if (!db_.InTransaction()) {
    // SQLite rolls back by itself after some errors (a full disk, an I/O error).
    in_txn_ = marker_ = false;
    return Fail(Code::kAborted, "sqlite: commit: SQLite already rolled the transaction back");
  }
  if (marker_) TANDEM_RETURN_IF_ERROR(SetCaptureMarker(false));
  if (auto st = db_.Exec("COMMIT"); !st) {
    Error e = In(st.error(), "commit", "");
    if (!db_.InTransaction()) {
      in_txn_ = false;
    } else if (suppressed_) {
      (void)SetCaptureMarker(true);  // still open: keep later writes of it uncaptured
    }
    return std::unexpected(std::move(e));
  }
  in_txn_ = false;
  return Ok();
}

Status SqliteEngine::Rollback() {
  in_txn_ = marker_ = false;
  if (!db_.InTransaction()) return Ok();
  if (auto st = db_.Exec("ROLLBACK"); !st) return std::unexpected(In(st.error(), "rollback", ""));
  return Ok();
}

Result<bool> SqliteEngine::TableExists(std::string_view name) {
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          db_.Query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                    {Value::Text(std::string(name))}));
  return !rows.empty();
}

Status SqliteEngine::SetCaptureMarker(bool on) {
  if (!on) {
    auto del = db_.Execute(fmt::format("DELETE FROM {}", QuoteIdent(kCaptureOffTable)));
    if (!del) return std::unexpected(In(del.error(), "suppress capture", kCaptureOffTable));
    marker_ = false;
    return Ok();
  }
  // Without capture installed there is nothing to suppress.
  TANDEM_ASSIGN_OR_RETURN(bool exists, In(TableExists(kCaptureOffTable), "suppress capture", ""));
  if (!exists) return Ok();
  auto ins =
      db_.Execute(fmt::format("INSERT INTO {} (x) VALUES (1)", QuoteIdent(kCaptureOffTable)));
  if (!ins) return std::unexpected(In(ins.error(), "suppress capture", kCaptureOffTable));
  marker_ = true;
  return Ok();
}

Status SqliteEngine::LimitCache(size_t bytes) {
  // cache_size in KiB when negative; never below SQLite's default 2 MiB.
  int64_t kib = std::max<int64_t>(2048, static_cast<int64_t>(bytes >> 10));
  return In(db_.Exec(fmt::format("PRAGMA cache_size=-{}", kib)), "limit the page cache", "");
}

Status SqliteEngine::SetCaptureSuppressed(bool suppressed) {
  suppressed_ = suppressed;
  if (in_txn_ && suppressed != marker_) return SetCaptureMarker(suppressed);
  return Ok();
}

template <typename Body>
Status SqliteEngine::Atomically(std::string_view op, std::string_view table, Body&& body) {
  if (in_txn_ && !db_.InTransaction()) {
    // SQLite rolled the caller's transaction back after an error; a SAVEPOINT now would
    // quietly open a new one and commit this call on its own.
    return Fail(Code::kAborted, "sqlite: {} {}: the open transaction was rolled back by SQLite", op,
                table);
  }
  if (in_txn_) {
    // A savepoint undoes just this call on failure and leaves the caller's transaction usable.
    std::string sp = fmt::format("tandem_sp{}", ++savepoints_);
    if (auto st = db_.Exec("SAVEPOINT " + sp); !st)
      return std::unexpected(In(st.error(), op, table));
    Status st = body();
    if (!st) {
      if (db_.InTransaction()) (void)db_.Exec("ROLLBACK TO " + sp + "; RELEASE " + sp);
      return st;
    }
    if (auto rel = db_.Exec("RELEASE " + sp); !rel)
      return std::unexpected(In(rel.error(), op, table));
    return Ok();
  }
  if (auto st = Begin(); !st) return std::unexpected(In(st.error(), op, table));
  Status st = body();
  if (!st) {
    (void)Rollback();
    return st;
  }
  if (auto c = Commit(); !c) {
    (void)Rollback();
    return std::unexpected(In(c.error(), op, table));
  }
  return Ok();
}

Status SqliteEngine::AtomicallyFn(std::string_view op, std::string_view table,
                                  const std::function<Status()>& body) {
  return Atomically(op, table, body);
}

// ---- sequences -------------------------------------------------------------------------------

Result<std::vector<SequenceColumn>> SqliteEngine::SequenceColumns(const std::string& table) {
  auto where = [&](auto r) { return In(std::move(r), "read sequences of", table); };
  TANDEM_ASSIGN_OR_RETURN(bool exists, where(TableExists(table)));
  if (!exists) {
    return Fail(Code::kNotFound, "sqlite: read sequences of {}: no such table", table);
  }
  TANDEM_ASSIGN_OR_RETURN(auto keys, where(db_.Query(RowidKeySql(), {Value::Text(table)})));
  std::vector<SequenceColumn> out;
  // A rowid alias: one key column declared exactly INTEGER in a rowid table.
  if (keys.size() != 1 || keys[0][0].as_int() != 0 || keys[0][3].is_null() ||
      AsciiUpper(keys[0][3].as_str()) != "INTEGER") {
    return out;
  }
  SequenceColumn c;
  c.table = table;
  c.column = keys[0][2].as_str();
  c.sequence = table;
  TANDEM_ASSIGN_OR_RETURN(auto next, where(db_.Query(NextRowidSql(table))));
  c.next = next.at(0).at(0).as_int();
  bool autoinc = !keys[0][1].is_null() && DeclaresAutoincrement(keys[0][1].as_str());
  c.kind = autoinc ? SequenceKind::kSqliteAutoincrement : SequenceKind::kRowid;
  c.settable = autoinc;
  if (autoinc) {
    TANDEM_ASSIGN_OR_RETURN(auto seq, where(db_.Query(SqliteSequenceSql(), {Value::Text(table)})));
    if (!seq.empty() && !seq[0][0].is_null()) c.next = std::max(c.next, seq[0][0].as_int() + 1);
  }
  out.push_back(std::move(c));
  return out;
}

Result<std::optional<int64_t>> SqliteEngine::MaxInteger(const std::string& table,
                                                        const std::string& column) {
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          In(db_.Query(MaxValueSql(table, column)), "read max of", table));
  const Row& r = rows.at(0);
  if (r[0].is_null()) return std::optional<int64_t>();
  // max() over mixed storage classes picks text and blobs above integers: any of them makes
  // the column not an integer column.
  if (r[1].as_str() != "integer") {
    return Fail(Code::kInvalidArgument,
                "sqlite: read max of {}: column {} holds {} values, not only integers", table,
                column, r[1].as_str());
  }
  return std::optional<int64_t>(r[0].as_int());
}

Result<int64_t> SqliteEngine::AdvanceSequence(const SequenceColumn& seq, int64_t next) {
  if (seq.settable) {
    Row params = {Value::Int(next - 1), Value::Text(seq.table)};
    TANDEM_RETURN_IF_ERROR(Atomically("move sequence of", seq.table, [&]() -> Status {
      TANDEM_ASSIGN_OR_RETURN(int64_t raised, db_.Execute(RaiseSqliteSequenceSql(), params));
      if (raised > 0) return Ok();
      TANDEM_ASSIGN_OR_RETURN(int64_t added, db_.Execute(InsertSqliteSequenceSql(), params));
      (void)added;
      return Ok();
    }));
  }
  TANDEM_ASSIGN_OR_RETURN(auto now, SequenceColumns(seq.table));
  for (const auto& c : now) {
    if (c.column == seq.column) return c.next;
  }
  return Fail(Code::kNotFound, "sqlite: move sequence of {}: column {} is no longer a rowid alias",
              seq.table, seq.column);
}

// ---- introspection ---------------------------------------------------------------------

Result<std::vector<TableSchema>> SqliteEngine::Introspect() {
  // pragma table_list (SQLite 3.37) tells ordinary tables from views, virtual tables and
  // their shadow tables, and says which are WITHOUT ROWID.
  TANDEM_ASSIGN_OR_RETURN(auto tables,
                          In(db_.Query("SELECT name, wr, strict FROM pragma_table_list "
                                       "WHERE schema = 'main' AND type = 'table' ORDER BY name"),
                             "introspect", ""));
  std::vector<TableSchema> out;
  for (const auto& t : tables) {
    const std::string& name = t[0].as_str();
    if (AsciiLower(name).starts_with("sqlite_") || IsOwnTable(name)) continue;
    TANDEM_ASSIGN_OR_RETURN(auto schema,
                            IntrospectTable(name, t[1].as_int() != 0, t[2].as_int() != 0));
    out.push_back(std::move(schema));
  }
  return out;
}

Result<TableSchema> SqliteEngine::IntrospectTable(const std::string& name, bool without_rowid,
                                                  bool strict) {
  auto where = [&](auto r) { return In(std::move(r), "introspect", name); };
  TableSchema t;
  t.name = name;
  t.rowid_table = !without_rowid;
  Row p = {Value::Text(name)};
  TANDEM_ASSIGN_OR_RETURN(auto cols,
                          where(db_.Query("SELECT name, type, \"notnull\", dflt_value, pk, hidden "
                                          "FROM pragma_table_xinfo(?) ORDER BY cid",
                                          p)));
  std::vector<std::pair<int64_t, std::string>> pk;
  for (const auto& r : cols) {
    Column c;
    c.name = r[0].as_str();
    c.engine_type = r[1].is_null() ? "" : r[1].as_str();
    c.type = PortableTypeFor(c.engine_type);
    c.loose_type = !strict || TakesAnyValue(c.engine_type);
    c.nullable = r[2].as_int() == 0;
    if (!r[3].is_null()) c.default_expr = r[3].as_str();
    // hidden: 2 = VIRTUAL generated, 3 = STORED generated (1 is a virtual table's hidden column).
    c.generated = r[5].as_int() >= 2;
    if (c.default_expr && !c.generated) c.default_value = ParsePortableDefault(*c.default_expr);
    if (r[4].as_int() > 0) pk.emplace_back(r[4].as_int(), c.name);
    t.columns.push_back(std::move(c));
  }
  std::sort(pk.begin(), pk.end());
  for (auto& [_, col] : pk) t.primary_key.push_back(col);
  // Key columns that cannot hold NULL although not declared NOT NULL: the rowid alias
  // (INTEGER PRIMARY KEY) and every key column of a WITHOUT ROWID table.
  bool autoincrement = false;
  if (!t.primary_key.empty()) {
    TANDEM_ASSIGN_OR_RETURN(auto sql, where(db_.Query("SELECT sql FROM sqlite_schema WHERE "
                                                      "type = 'table' AND name = ?", p)));
    autoincrement = !sql.empty() && !sql[0][0].is_null() && DeclaresAutoincrement(sql[0][0].as_str());
    for (auto& c : t.columns) {
      bool in_pk =
          std::find(t.primary_key.begin(), t.primary_key.end(), c.name) != t.primary_key.end();
      bool rowid_alias =
          !without_rowid && t.primary_key.size() == 1 && AsciiUpper(c.engine_type) == "INTEGER";
      if (in_pk && (without_rowid || rowid_alias)) c.nullable = false;
      // The rowid alias takes the next rowid when an insert gives none.
      if (in_pk && rowid_alias) {
        c.identity = true;
        c.autoincrement = autoincrement;
      }
    }
  }

  TANDEM_ASSIGN_OR_RETURN(auto indexes, where(db_.Query("SELECT name, \"unique\", origin, partial "
                                                        "FROM pragma_index_list(?) ORDER BY seq",
                                                        p)));
  for (const auto& ix : indexes) {
    if (ix[2].as_str() == "pk") {
      // The primary key's index orders by each column's collation: under NOCASE or RTRIM the
      // key order is not byte order, and key ranges would not mean the same rows elsewhere.
      TANDEM_ASSIGN_OR_RETURN(
          auto parts, where(db_.Query("SELECT name, coll FROM pragma_index_xinfo(?) WHERE key = 1",
                                      {ix[0]})));
      for (const auto& part : parts) {
        if (part[0].is_null() || part[1].is_null() || AsciiUpper(part[1].as_str()) == "BINARY") continue;
        for (auto& c : t.columns) {
          if (c.name == part[0].as_str()) c.byte_ordered = false;
        }
      }
      continue;
    }
    {
      // Every secondary index, with its parts in order; expression parts and a partial
      // predicate are taken from the CREATE INDEX text.
      Index index;
      index.name = ix[0].as_str();
      index.unique = ix[1].as_int() != 0;
      index.constraint = ix[2].as_str() == "u";
      TANDEM_ASSIGN_OR_RETURN(
          auto xparts,
          where(db_.Query("SELECT name, \"desc\" FROM pragma_index_xinfo(?) WHERE key = 1 "
                          "ORDER BY seqno",
                          {ix[0]})));
      std::vector<std::string> texts;
      TANDEM_ASSIGN_OR_RETURN(
          auto isql, where(db_.Query("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                                     {ix[0]})));
      if (!isql.empty() && isql[0][0].kind() == Kind::kText) {
        SplitIndexSql(isql[0][0].as_str(), texts, index.where);
      }
      for (size_t i = 0; i < xparts.size(); ++i) {
        IndexPart part;
        part.descending = xparts[i][1].as_int() != 0;
        if (!xparts[i][0].is_null()) {
          part.column = xparts[i][0].as_str();
        } else if (i < texts.size()) {
          std::string e = texts[i];
          std::string up = AsciiUpper(e);
          for (std::string_view suffix : {" DESC", " ASC"}) {
            if (up.ends_with(suffix)) e = std::string(TrimSpace(e.substr(0, e.size() - suffix.size())));
          }
          part.expression = e;
        }
        index.parts.push_back(std::move(part));
      }
      // sqlite_autoindex_* (a UNIQUE constraint) cannot be created under that name elsewhere.
      if (AsciiLower(index.name).starts_with("sqlite_")) {
        index.name = name;
        for (const auto& part : index.parts) index.name += "_" + part.column;
        index.name += "_key";
      }
      t.indexes.push_back(std::move(index));
    }
    if (ix[1].as_int() == 0 || ix[3].as_int() != 0) continue;
    TANDEM_ASSIGN_OR_RETURN(
        auto parts,
        where(db_.Query("SELECT name FROM pragma_index_info(?) ORDER BY seqno", {ix[0]})));
    std::vector<std::string> unique;
    bool plain = true;
    for (const auto& part : parts) {
      // An expression (or rowid) part has no column name; such an index is no key of columns.
      if (part[0].is_null())
        plain = false;
      else
        unique.push_back(part[0].as_str());
    }
    if (plain && !unique.empty()) t.unique_keys.push_back(std::move(unique));
  }
  // Report the longest-standing keys first and without duplicates (a UNIQUE constraint and
  // an identical unique index are one key).
  std::reverse(t.unique_keys.begin(), t.unique_keys.end());
  std::vector<std::vector<std::string>> uniq;
  for (auto& u : t.unique_keys) {
    if (u != t.primary_key && std::find(uniq.begin(), uniq.end(), u) == uniq.end()) {
      uniq.push_back(std::move(u));
    }
  }
  t.unique_keys = std::move(uniq);

  TANDEM_ASSIGN_OR_RETURN(auto fks,
                          where(db_.Query("SELECT id, \"table\", \"from\", \"to\", on_delete, "
                                          "on_update FROM pragma_foreign_key_list(?) ORDER BY id, seq",
                                          p)));
  // SQLite numbers foreign keys from the last declared (id 0) to the first: descending ids
  // give the declared order, which a CREATE TABLE made from this schema numbers the same way.
  std::map<int64_t, ForeignKey, std::greater<>> by_id;
  for (const auto& r : fks) {
    ForeignKey& fk = by_id[r[0].as_int()];
    fk.ref_table = r[1].as_str();
    fk.on_delete = ParseFkAction(r[4].as_str()).value_or(FkAction::kNoAction);
    fk.on_update = ParseFkAction(r[5].as_str()).value_or(FkAction::kNoAction);
    fk.columns.push_back(r[2].as_str());
    fk.ref_columns.push_back(r[3].is_null() ? "" : r[3].as_str());
  }
  for (auto& [_, fk] : by_id) {
    // REFERENCES parent without columns means the parent's primary key.
    if (std::find(fk.ref_columns.begin(), fk.ref_columns.end(), "") != fk.ref_columns.end()) {
      TANDEM_ASSIGN_OR_RETURN(
          auto ppk,
          where(db_.Query("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
                          {Value::Text(fk.ref_table)})));
      if (ppk.size() == fk.columns.size()) {
        for (size_t i = 0; i < ppk.size(); ++i) fk.ref_columns[i] = ppk[i][0].as_str();
      }
    }
    // SQLite keeps no name for a foreign key: PostgreSQL's default name.
    fk.name = name;
    for (const auto& c : fk.columns) fk.name += "_" + c;
    fk.name += "_fkey";
    t.foreign_keys.push_back(std::move(fk));
  }

  TANDEM_ASSIGN_OR_RETURN(
      auto sql,
      where(db_.Query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", p)));
  if (!sql.empty() && sql[0][0].kind() == Kind::kText) t.checks = ExtractChecks(sql[0][0].as_str());
  for (size_t i = 0; i < t.checks.size(); ++i) {
    std::string check_name = t.checks.size() == 1 ? name + "_check" : fmt::format("{}_check{}", name, i + 1);
    t.check_constraints.push_back({check_name, t.checks[i]});
  }
  return t;
}

Result<std::vector<StoredClassCounts>> SqliteEngine::StoredClasses(const TableSchema& table) {
  auto where = [&](auto r) { return In(std::move(r), "read the storage classes", table.name); };
  std::vector<StoredClassCounts> out(table.columns.size());
  if (table.columns.empty()) return out;
  // First pass, cheap (one typeof() a value): which columns hold a value of another class than
  // their declared type stores. A column with no declared type or ANY is always counted.
  auto own_classes = [](const Column& c) -> std::string {
    if (TakesAnyValue(c.engine_type)) return "";
    switch (c.type.kind) {
      case Kind::kInt:
      case Kind::kBool: return "'integer', 'null'";
      case Kind::kFloat:
      case Kind::kDecimal: return "'integer', 'real', 'null'";
      case Kind::kBytes: return "'blob', 'null'";
      default: return "'text', 'null'";
    }
  };
  std::vector<size_t> count;  // the columns to count
  std::string check;
  std::vector<size_t> checked;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    std::string own = own_classes(table.columns[i]);
    if (own.empty()) {
      count.push_back(i);
      continue;
    }
    check += fmt::format("{}max(typeof({}) NOT IN ({}))", check.empty() ? "" : ", ",
                         QuoteIdent(table.columns[i].name), own);
    checked.push_back(i);
  }
  if (!checked.empty()) {
    TANDEM_ASSIGN_OR_RETURN(auto rows,
                            where(db_.Query("SELECT " + check + " FROM " + QuoteIdent(table.name))));
    for (size_t j = 0; j < checked.size(); ++j) {
      const Value& v = rows.at(0)[j];
      if (!v.is_null() && v.as_int() != 0) count.push_back(checked[j]);
    }
  }
  if (count.empty()) return out;
  // Second pass, only over the columns that need it: five counts a column.
  std::string sql;
  for (size_t i : count) {
    std::string c = QuoteIdent(table.columns[i].name), t = "typeof(" + c + ")";
    for (const char* cls : {"integer", "real", "text", "blob"}) {
      sql += fmt::format("{}total({} = '{}')", sql.empty() ? "" : ", ", t, cls);
    }
    sql += fmt::format(
        ", total({t} = 'text' AND NOT (trim({c}) <> '' AND trim({c}) NOT GLOB '*[^0-9.eE+-]*') "
        "AND lower(trim({c})) NOT IN ('nan', 'inf', '+inf', '-inf', 'infinity', '+infinity', "
        "'-infinity'))",
        fmt::arg("t", t), fmt::arg("c", c));
  }
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          where(db_.Query("SELECT " + sql + " FROM " + QuoteIdent(table.name))));
  const Row& r = rows.at(0);
  auto n = [&](size_t k) { return static_cast<int64_t>(r[k].as_float()); };
  for (size_t j = 0; j < count.size(); ++j) {
    size_t k = 5 * j;
    out[count[j]] = {.integer = n(k), .real = n(k + 1), .text = n(k + 2), .blob = n(k + 3),
                     .text_not_number = n(k + 4)};
  }
  return out;
}

Result<std::vector<UnmigratedObject>> SqliteEngine::ListUnmigrated() {
  TANDEM_ASSIGN_OR_RETURN(
      auto rows, In(db_.Query("SELECT type, name, tbl_name FROM sqlite_master WHERE type IN "
                              "('view', 'trigger') AND name NOT LIKE '\\_tandem\\_%' ESCAPE '\\' "
                              "ORDER BY type, name"),
                    "list views and triggers", ""));
  std::vector<UnmigratedObject> out;
  for (const auto& r : rows) {
    std::string kind = r[0].as_str();
    out.push_back({kind, r[1].as_str(), kind == "trigger" ? r[2].as_str() : ""});
  }
  return out;
}

std::string SqliteEngine::CreateTableDdl(const TableSchema& table) const {
  return CreateTableSql(table);
}

std::vector<std::string> SqliteEngine::ObjectDdl(const TableSchema& table,
                                                 const SchemaObject& o) const {
  if (o.kind == SchemaObject::Kind::kIndex) return {CreateIndexSql(table.name, o.index)};
  return {};  // foreign keys and checks are part of CREATE TABLE
}

Status SqliteEngine::BuildObject(const TableSchema& table, const SchemaObject& o) {
  std::string what = fmt::format("sqlite: build {} {} on {}", o.KindName(), QuoteIdent(o.name()),
                                 QuoteIdent(table.name));
  if (o.kind == SchemaObject::Kind::kCheck) return Ok();  // checked row by row as rows land
  if (o.kind == SchemaObject::Kind::kForeignKey) {
    // Declared in CREATE TABLE and not enforced in tandem's session: look for orphans.
    const ForeignKey& fk = o.foreign_key;
    std::string cols;
    for (const auto& c : fk.columns) cols += (cols.empty() ? "" : ", ") + QuoteIdent(c);
    TANDEM_ASSIGN_OR_RETURN(
        auto orphans,
        In(db_.Query(fmt::format("SELECT DISTINCT {} FROM {} WHERE rowid IN (SELECT rowid FROM "
                                 "pragma_foreign_key_check(?) WHERE \"parent\" = ?) LIMIT 5",
                                 cols, QuoteIdent(table.name)),
                     {Value::Text(table.name), Value::Text(fk.ref_table)}),
           "check foreign key", table.name));
    if (orphans.empty()) return Ok();
    std::vector<std::vector<std::optional<std::string>>> rows;
    for (const auto& r : orphans) {
      auto& row = rows.emplace_back();
      for (const auto& v : r) row.push_back(v.is_null() ? std::nullopt : std::optional<std::string>(v.ToDisplay()));
    }
    return Fail(Code::kFailedPrecondition, "{}: rows reference no row of {}; orphan keys: {}", what,
                QuoteIdent(fk.ref_table), SampleKeysText(rows, false));
  }
  TANDEM_ASSIGN_OR_RETURN(
      auto exists, In(db_.Query("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                                {Value::Text(o.index.name)}),
                      "build index", table.name));
  if (!exists.empty()) return Ok();
  for (const auto& sql : ObjectDdl(table, o)) {
    auto st = db_.Exec(sql);
    if (st) continue;
    std::string msg = fmt::format("{}: {}", what, st.error().message);
    std::vector<std::string> cols;
    for (const auto& part : o.index.parts) cols.push_back(part.column);
    if (o.index.unique && o.index.where.empty() &&
        std::find(cols.begin(), cols.end(), "") == cols.end()) {
      SqlNames q{[](const void*, std::string_view t) { return QuoteIdent(t); },
                 [](std::string_view c) { return QuoteIdent(c); }};
      if (auto dup = db_.Query(DuplicateKeysSql(q, table.name, cols, 5)); dup && !dup->empty()) {
        std::vector<std::vector<std::optional<std::string>>> rows;
        for (const auto& r : *dup) {
          auto& row = rows.emplace_back();
          for (const auto& v : r) row.push_back(v.is_null() ? std::nullopt : std::optional<std::string>(v.ToDisplay()));
        }
        msg += "; colliding keys: " + SampleKeysText(rows, true);
      }
    }
    return Fail(Code::kFailedPrecondition, "{}", msg);
  }
  return Ok();
}

// ---- reading ---------------------------------------------------------------------------

namespace {

// A table without a key is paged by its rowid, read as a trailing column that this reader
// strips from every row.
class RowidPagedReader final : public RowReader {
 public:
  explicit RowidPagedReader(std::unique_ptr<RowReader> inner) : inner_(std::move(inner)) {}
  bool Next(std::vector<Row>& batch) override {
    for (auto& r : batch) r.emplace_back();  // room for the rowid again
    if (!inner_->Next(batch)) return false;
    for (auto& r : batch) r.pop_back();
    return true;
  }
  Status status() const override { return inner_->status(); }

 private:
  std::unique_ptr<RowReader> inner_;
};

}  // namespace

Result<std::unique_ptr<RowReader>> SqliteEngine::Scan(const ScanRequest& req) {
  if (req.key.empty() && !req.range.lower && !req.range.upper) {
    // No key (a table without one): every row, paged by rowid. Pages are not one snapshot;
    // a row changed meanwhile is set right by the change stream (docs/decisions.md).
    ScanRequest paged = req;
    paged.columns.push_back("_rowid_");
    paged.key = {"_rowid_"};
    TANDEM_ASSIGN_OR_RETURN(auto inner, Scan(paged));
    return std::unique_ptr<RowReader>(new RowidPagedReader(std::move(inner)));
  }
  TANDEM_RETURN_IF_ERROR(CheckKey("scan", req.table, req.key));
  TANDEM_RETURN_IF_ERROR(CheckRange("scan", req.table, req.key, req.range));
  std::vector<int> key_index;
  for (const auto& k : req.key) {
    auto it = std::find(req.columns.begin(), req.columns.end(), k);
    if (it == req.columns.end()) {
      return Fail(Code::kInvalidArgument,
                  "sqlite: scan {}: key column {} is not among the columns read", req.table, k);
    }
    key_index.push_back(static_cast<int>(it - req.columns.begin()));
  }
  // Prepare once now so a missing table or column fails here, not in the first Next().
  TANDEM_RETURN_IF_ERROR(In(db_.Prepare(SelectPageSql(req.table, req.columns, req.key, true, true)),
                            "scan", req.table));
  return std::unique_ptr<RowReader>(new SqliteRowReader(&db_, req, std::move(key_index)));
}

Result<std::vector<Row>> SqliteEngine::Split(const std::string& table,
                                             const std::vector<std::string>& key, int n) {
  TANDEM_RETURN_IF_ERROR(CheckKey("split", table, key));
  std::vector<Row> out;
  if (n <= 1) return out;
  // A single integer key without gaps (max - min + 1 = the rows: an autoincrement key never
  // deleted from, the common case) splits at equal steps from two lookups in the key's index
  // and a count of the smallest b-tree, instead of a walk of every key (about 30 ms a million
  // rows): the boundaries a walk that kept every key would find, exactly.
  if (key.size() == 1) {
    TANDEM_ASSIGN_OR_RETURN(auto ends, In(db_.Query(KeyEndsSql(table, key[0])), "split", table));
    const Row& e = ends.at(0);
    if (e[0].kind() == Kind::kInt && e[1].kind() == Kind::kInt && e[2].kind() == Kind::kInt) {
      int64_t lo = e[0].as_int(), count = e[2].as_int();
      if (static_cast<__int128>(e[1].as_int()) - lo + 1 == count) {
        for (int i = 1; i < n; ++i) {
          auto end = static_cast<int64_t>(static_cast<__int128>(i) * count / n) - 1;
          if (end < 0) continue;  // more chunks than rows
          Row k{Value::Int(lo + end)};
          if (out.empty() || out.back() != k) out.push_back(std::move(k));
        }
        return out;
      }
    }
  }
  // One pass over the key index, without counting the rows first (a count is a pass of its
  // own: 16 ms of 50 on 1,000,000 rows): every stride-th key is kept, and when 64 keys a chunk
  // are kept the stride doubles and every other kept key goes. kept[j] is then the key at
  // position j * stride, and a chunk's end lands at most a stride (a 32nd of a chunk) before
  // the row that makes the counts equal; exactly on it while every key is kept (a table of
  // fewer rows than 1,024, or than 64 a chunk).
  TANDEM_ASSIGN_OR_RETURN(Statement st, In(db_.Prepare(SelectKeysSql(table, key)), "split", table));
  const size_t cap = std::max<size_t>(1024, 64 * static_cast<size_t>(n));
  std::vector<Row> kept;
  int64_t stride = 1, count = 0;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool more, In(st.Step(), "split", table));
    if (!more) break;
    if (count % stride == 0) {
      kept.push_back(st.ReadRow());
      if (kept.size() >= cap) {
        for (size_t j = 0; 2 * j < kept.size(); ++j) kept[j] = std::move(kept[2 * j]);
        kept.resize((kept.size() + 1) / 2);
        stride *= 2;
      }
    }
    ++count;
  }
  st.Reset();
  // Boundary i ends the chunk of rows [(i-1)*count/n, i*count/n): the row at i*count/n - 1.
  for (int i = 1; i < n; ++i) {
    auto end = static_cast<int64_t>(static_cast<__int128>(i) * count / n) - 1;
    if (end < 0) continue;  // more chunks than rows
    Row& k = kept[static_cast<size_t>(end / stride)];
    // Several boundaries can land on one row when the table has fewer rows than chunks.
    if (out.empty() || out.back() != k) out.push_back(k);
  }
  return out;
}

Result<int64_t> SqliteEngine::Count(const std::string& table, const std::vector<std::string>& key,
                                    const KeyRange& range) {
  TANDEM_RETURN_IF_ERROR(CheckRange("count", table, key, range));
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      In(db_.Query(CountSql(table, key, range.lower.has_value(), range.upper.has_value()),
                   RangeParams(range)),
         "count", table));
  return rows.at(0).at(0).as_int();
}

Result<std::vector<Row>> SqliteEngine::Fetch(const std::string& table,
                                             const std::vector<std::string>& columns,
                                             const std::vector<std::string>& key,
                                             const std::vector<Row>& keys) {
  TANDEM_RETURN_IF_ERROR(CheckKey("fetch", table, key));
  std::vector<Row> out;
  if (keys.empty()) return out;
  // Duplicate keys would return a row twice through the VALUES join.
  std::vector<Row> unique = keys;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  for (const auto& k : unique) {
    if (k.size() != key.size()) {
      return Fail(Code::kInvalidArgument,
                  "sqlite: fetch {}: key {} has {} values for {} key columns", table, KeyText(k),
                  k.size(), key.size());
    }
  }
  const size_t group = KeyGroup(key.size());
  Statement full;  // reused for every full group
  for (size_t start = 0; start < unique.size(); start += group) {
    size_t n = std::min(group, unique.size() - start);
    Statement partial;
    Statement* st = &full;
    if (n == group) {
      if (!full.valid()) {
        TANDEM_ASSIGN_OR_RETURN(full,
                                In(db_.Prepare(FetchSql(table, columns, key, n)), "fetch", table));
      }
    } else {
      TANDEM_ASSIGN_OR_RETURN(partial,
                              In(db_.Prepare(FetchSql(table, columns, key, n)), "fetch", table));
      st = &partial;
    }
    Row params;
    params.reserve(n * key.size());
    for (size_t i = start; i < start + n; ++i) {
      params.insert(params.end(), unique[i].begin(), unique[i].end());
    }
    TANDEM_RETURN_IF_ERROR(In(st->BindAll(params), "fetch", table));
    TANDEM_ASSIGN_OR_RETURN(auto rows, In(st->ReadAll(), "fetch", table));
    std::move(rows.begin(), rows.end(), std::back_inserter(out));
  }
  return out;
}

// ---- writing ---------------------------------------------------------------------------

Status SqliteEngine::Write(const std::string& table, const std::vector<std::string>& columns,
                           const std::vector<std::string>& key, const std::vector<Row>& rows,
                           WriteMode mode) {
  if (rows.empty()) return Ok();
  if (mode != WriteMode::kInsert) TANDEM_RETURN_IF_ERROR(CheckKey("write", table, key));
  std::vector<int> key_index;
  for (const auto& k : key) {
    auto it = std::find(columns.begin(), columns.end(), k);
    if (it != columns.end()) key_index.push_back(static_cast<int>(it - columns.begin()));
  }
  return Atomically("write", table, [&]() -> Status {
    TANDEM_ASSIGN_OR_RETURN(Statement st,
                            In(db_.Prepare(InsertSql(table, columns, key, mode)), "write", table));
    for (const Row& row : rows) {
      auto fail = [&](Error e) {
        Row k;
        for (int i : key_index) k.push_back(row[i]);
        Error out = In(std::move(e), "write", table);
        if (!k.empty()) out.message += " (key " + KeyText(k) + ")";
        return std::unexpected(std::move(out));
      };
      if (row.size() != columns.size()) {
        return Fail(Code::kInternal, "sqlite: write {}: a row has {} values for {} columns", table,
                    row.size(), columns.size());
      }
      // A REAL column stores -0.0 as 0: refuse the row rather than change the value. (NaN,
      // which SQLite would store as NULL, is bound as the text 'NaN': see Statement::Bind.)
      for (size_t c = 0; c < row.size(); ++c) {
        const Value& v = row[c];
        if (v.kind() == Kind::kFloat && v.as_float() == 0 && std::signbit(v.as_float())) {
          return fail(Error{Code::kInvalidArgument,
                            fmt::format("column {}: SQLite cannot store the float -0 (a REAL "
                                        "column keeps it as 0)",
                                        columns[c])});
        }
      }
      if (auto b = st.BindAll(row); !b) return fail(std::move(b.error()));
      if (auto s = st.Step(); !s) return fail(std::move(s.error()));
      st.Reset();
    }
    return Ok();
  });
}

Status SqliteEngine::Remove(const std::string& table, const std::vector<std::string>& key,
                            const std::vector<Row>& keys) {
  TANDEM_RETURN_IF_ERROR(CheckKey("remove", table, key));
  if (keys.empty()) return Ok();
  return Atomically("remove", table, [&]() -> Status {
    TANDEM_ASSIGN_OR_RETURN(Statement st,
                            In(db_.Prepare(DeleteKeySql(table, key)), "remove", table));
    for (const Row& k : keys) {
      if (k.size() != key.size()) {
        return Fail(Code::kInvalidArgument,
                    "sqlite: remove {}: key {} has {} values for {} key columns", table, KeyText(k),
                    k.size(), key.size());
      }
      TANDEM_RETURN_IF_ERROR(In(st.BindAll(k), "remove", table));
      TANDEM_RETURN_IF_ERROR(In(st.Step(), "remove", table));
      st.Reset();
    }
    return Ok();
  });
}

// ---- pass-through ---------------------------------------------------------------------

namespace {

constexpr std::string_view kSourceSchema = "tandem_source";

}  // namespace

Result<RawShape> SqliteEngine::RawShapeOf(const std::string& table,
                                          const std::vector<std::string>& columns) {
  TANDEM_ASSIGN_OR_RETURN(
      auto declared,
      In(db_.Query("SELECT name, type FROM pragma_table_xinfo(?)", {Value::Text(table)}),
         "describe the raw form of", table));
  RawShape shape;
  shape.stream = false;
  std::string format = "sqlite INSERT ... SELECT";
  for (const auto& name : columns) {
    auto it = std::find_if(declared.begin(), declared.end(),
                           [&](const Row& r) { return r[0].as_str() == name; });
    if (it == declared.end()) {
      shape.why = fmt::format("column {} does not exist in {}", name, table);
      return shape;
    }
    format += fmt::format("; {} {}", QuoteIdent(name),
                          Affinity((*it)[1].is_null() ? "" : (*it)[1].as_str()));
  }
  shape.format = std::move(format);
  return shape;
}

Result<bool> SqliteEngine::AttachSource(const Engine& source) {
  auto* from = dynamic_cast<const SqliteEngine*>(&source);
  if (!from) return false;
  std::string file = from->db_.FileName();
  if (file.empty() || file == db_.FileName()) return false;
  if (attached_) return true;
  if (in_txn_ || db_.InTransaction()) {
    return Fail(Code::kFailedPrecondition, "sqlite: attach {}: a transaction is open", file);
  }
  // The file through a URI with mode=ro: the connection can read it and nothing else.
  TANDEM_RETURN_IF_ERROR(In(db_.Execute(fmt::format("ATTACH DATABASE ? AS {}", kSourceSchema),
                                        {Value::Text(FileUri(file, "mode=ro"))}),
                            "attach the source", file));
  attached_ = true;
  return true;
}

Status SqliteEngine::DetachSource() {
  if (!attached_) return Ok();
  TANDEM_RETURN_IF_ERROR(
      In(db_.Exec(fmt::format("DETACH DATABASE {}", kSourceSchema)), "detach the source", ""));
  attached_ = false;
  return Ok();
}

Result<bool> SqliteEngine::BeginBulkLoad() {
  if (in_txn_) return Fail(Code::kFailedPrecondition, "sqlite: bulk load: a transaction is open");
  if (bulk_) return true;
  TANDEM_ASSIGN_OR_RETURN(bulk_, db_.BeginBulkLoad());
  return bulk_;
}

Status SqliteEngine::EndBulkLoad() {
  if (!bulk_) return Ok();
  bulk_ = false;
  return db_.EndBulkLoad();
}

Result<int64_t> SqliteEngine::CopyFromAttached(const ScanRequest& req, const std::string& table,
                                               const std::vector<std::string>& columns) {
  if (!attached_) {
    return Fail(Code::kInternal, "sqlite: copy {} (pass-through): no source is attached", table);
  }
  TANDEM_RETURN_IF_ERROR(CheckRange("copy (pass-through)", req.table, req.key, req.range));
  int64_t written = 0;
  TANDEM_RETURN_IF_ERROR(Atomically("copy (pass-through)", table, [&]() -> Status {
    auto n = db_.Execute(CopyAttachedSql(kSourceSchema, req.table, req.columns, req.key,
                                         req.range.lower.has_value(), req.range.upper.has_value(),
                                         table, columns),
                         RangeParams(req.range));
    if (!n) return std::unexpected(In(n.error(), "copy (pass-through)", table));
    written = *n;
    return Ok();
  }));
  return written;
}

Status SqliteEngine::RemoveRange(const std::string& table, const std::vector<std::string>& key,
                                 const KeyRange& range) {
  TANDEM_RETURN_IF_ERROR(CheckRange("remove range", table, key, range));
  return Atomically("remove range", table, [&]() -> Status {
    auto n =
        db_.Execute(DeleteRangeSql(table, key, range.lower.has_value(), range.upper.has_value()),
                    RangeParams(range));
    if (!n) return std::unexpected(In(n.error(), "remove range", table));
    return Ok();
  });
}

namespace {

std::string ImageWhere(const std::vector<std::string>& columns) {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    out += (i ? " AND " : "") + QuoteIdent(columns[i]) + " IS ?";
  }
  return out.empty() ? "1" : out;
}

}  // namespace

Result<std::vector<int64_t>> SqliteEngine::CountImages(const std::string& table,
                                                       const std::vector<std::string>& columns,
                                                       const std::vector<Row>& images) {
  std::vector<int64_t> out;
  if (images.empty()) return out;
  TANDEM_ASSIGN_OR_RETURN(
      Statement st, In(db_.Prepare("SELECT count(*) FROM " + QuoteIdent(table) + " WHERE " +
                                   ImageWhere(columns)),
                       "count images", table));
  for (const Row& image : images) {
    TANDEM_RETURN_IF_ERROR(In(st.BindAll(image), "count images", table));
    TANDEM_ASSIGN_OR_RETURN(auto rows, In(st.ReadAll(), "count images", table));
    out.push_back(rows.at(0).at(0).as_int());
    st.Reset();
  }
  return out;
}

Status SqliteEngine::RemoveImage(const std::string& table, const std::vector<std::string>& columns,
                                 const Row& image, int64_t n) {
  if (n <= 0) return Ok();
  Row params = image;
  params.push_back(Value::Int(n));
  auto done = db_.Execute("DELETE FROM " + QuoteIdent(table) + " WHERE rowid IN (SELECT rowid FROM " +
                              QuoteIdent(table) + " WHERE " + ImageWhere(columns) + " LIMIT ?)",
                          params);
  if (!done) return std::unexpected(In(done.error(), "remove image", table));
  return Ok();
}

Status SqliteEngine::CreateTable(const TableSchema& table) {
  if (table.columns.empty()) {
    return Fail(Code::kInvalidArgument, "sqlite: create table {}: no columns", table.name);
  }
  if (auto st = db_.Exec(CreateTableSql(table)); !st) {
    return std::unexpected(In(st.error(), "create table", table.name));
  }
  return Ok();
}

Result<std::vector<Column>> SqliteEngine::DescribeColumns(const std::string& table) {
  TANDEM_ASSIGN_OR_RETURN(auto found,
                          In(db_.Query("SELECT wr, strict FROM pragma_table_list WHERE "
                                       "schema = 'main' AND type = 'table' AND name = ?1",
                                       {Value::Text(table)}),
                             "describe", table));
  if (found.empty()) return Fail(Code::kNotFound, "sqlite: table {} not found", table);
  TANDEM_ASSIGN_OR_RETURN(auto schema, IntrospectTable(table, found[0][0].as_int() != 0,
                                                       found[0][1].as_int() != 0));
  return std::move(schema.columns);
}

Status SqliteEngine::AddColumn(const std::string& table, const Column& column) {
  if (auto st = db_.Exec(AddColumnSql(table, column)); !st) {
    return std::unexpected(In(st.error(), "add column " + column.name + " to", table));
  }
  return Ok();
}

}  // namespace sqlite
}  // namespace tandem
