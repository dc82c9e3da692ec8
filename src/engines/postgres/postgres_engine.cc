#include "engines/postgres/postgres_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <numeric>
#include <nlohmann/json.hpp>

#include "engines/factories.h"
#include "engines/postgres/pg_dialect.h"

namespace tandem {

Result<std::unique_ptr<Engine>> OpenPostgres(const std::string& uri, const std::string& password) {
  auto e = pg::PostgresEngine::Open(uri, password);
  if (!e) return std::unexpected(std::move(e.error()));
  return std::unique_ptr<Engine>(std::move(*e));
}

namespace pg {

namespace {

// Keys per statement for Fetch and Remove: well under the protocol's 65535 parameters, and
// small enough that the planner's IN-list handling stays cheap.
constexpr size_t kParamsPerStatement = 10000;
// COPY data goes to libpq in pieces of about this size, so a batch is never held twice.
constexpr size_t kCopyPiece = 1 << 20;
// A binary COPY is sent in pieces of this size as it is encoded: small enough that the
// server starts parsing soon after the batch starts, large enough to amortise the calls.
constexpr size_t kStreamPiece = 128 << 10;

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::vector<Param> KeyParams(const Row& key) {
  std::vector<Param> out;
  out.reserve(key.size());
  for (const auto& v : key) out.push_back(ParamText(v));
  return out;
}

void AppendRange(const KeyRange& range, std::vector<Param>& params) {
  if (range.lower) {
    for (const auto& v : *range.lower) params.push_back(ParamText(v));
  }
  if (range.upper) {
    for (const auto& v : *range.upper) params.push_back(ParamText(v));
  }
}

Status CheckRange(std::string_view what, const std::vector<std::string>& key,
                  const KeyRange& range) {
  if (key.empty()) return Fail(Code::kInvalidArgument, "{}: no key columns given", what);
  if ((range.lower && range.lower->size() != key.size()) ||
      (range.upper && range.upper->size() != key.size())) {
    return Fail(Code::kInvalidArgument, "{}: a range bound has {} values for {} key columns", what,
                range.lower ? range.lower->size() : range.upper->size(), key.size());
  }
  return Ok();
}

// Row `r` of `res` into `row`, refilling its Values in place.
void DecodeRowInto(const PgResult& res, int r, Row& row) {
  int cols = res.cols();
  row.resize(static_cast<size_t>(cols));
  for (int c = 0; c < cols; ++c) {
    if (res.is_null(r, c)) {
      row[c].SetNull();
    } else {
      DecodeTextInto(res.type(c), res.value(r, c), row[c]);
    }
  }
}

Row DecodeRow(const PgResult& res, int r) {
  Row row;
  DecodeRowInto(res, r, row);
  return row;
}

// Positions of `names` within `columns`, or an error naming the first one missing.
Result<std::vector<size_t>> Positions(std::string_view what, const std::vector<std::string>& names,
                                      const std::vector<std::string>& columns) {
  std::vector<size_t> out;
  for (const auto& n : names) {
    auto it = std::find(columns.begin(), columns.end(), n);
    if (it == columns.end()) {
      return Fail(Code::kInvalidArgument, "{}: key column '{}' is not among the columns", what, n);
    }
    out.push_back(static_cast<size_t>(it - columns.begin()));
  }
  return out;
}

// Pages through one key range with keyset pagination (see postgres_engine.h).
class PgRowReader final : public RowReader {
 public:
  PgRowReader(PgConnection* conn, std::string what, std::string table, ScanRequest req,
              std::vector<size_t> key_pos)
      : conn_(conn),
        what_(std::move(what)),
        table_(std::move(table)),
        req_(std::move(req)),
        key_pos_(std::move(key_pos)),
        limit_(req_.batch_rows == 0 ? 10000 : req_.batch_rows, req_.batch_bytes) {
    if (req_.range.lower) after_ = KeyParams(*req_.range.lower);
    if (req_.range.upper) upper_ = KeyParams(*req_.range.upper);
  }

  // A batch ends at batch_rows or at the byte cap, even inside a page (the rest of the page
  // is the next batch); a page that ends first is followed by the next page, so only the
  // last batch is short by rows without being full by bytes.
  bool Next(std::vector<Row>& batch) override {
    size_t n = 0;
    if (!status_) {
      EndBatchAt(batch, 0, req_.spare_rows);
      return false;
    }
    limit_.Start();
    while (!limit_.Full()) {
      if (!page_) {
        if (done_) break;
        std::vector<Param> params;
        if (after_) params = *after_;
        params.insert(params.end(), upper_.begin(), upper_.end());
        // The whole page arrives before it is decoded: its size follows the widest row seen.
        page_limit_ = limit_.PageRows();
        std::string sql = SelectPageSql(table_, req_.columns, req_.key, after_.has_value(),
                                        req_.range.upper.has_value(), page_limit_);
        auto res = conn_->ExecParams(what_, sql, params);
        if (!res) {
          status_ = std::unexpected(std::move(res.error()));
          EndBatchAt(batch, 0, req_.spare_rows);
          return false;
        }
        page_ = std::move(*res);
        page_row_ = 0;
        // A short page is the last one: no need to ask again.
        if (static_cast<size_t>(page_->rows()) < page_limit_) done_ = true;
      }
      int rows = page_->rows();
      while (page_row_ < rows && !limit_.Full()) {
        Row& row = BatchRowAt(batch, n++, req_.spare_rows);
        DecodeRowInto(*page_, page_row_++, row);
        limit_.Add(row);
      }
      if (page_row_ > 0) {
        std::vector<Param> last;
        for (size_t p : key_pos_) {
          int c = static_cast<int>(p);
          if (page_->is_null(page_row_ - 1, c)) {
            last.push_back(std::nullopt);
          } else {
            last.emplace_back(std::string(page_->value(page_row_ - 1, c)));
          }
        }
        after_ = std::move(last);
      }
      if (page_row_ >= rows) page_.reset();
    }
    EndBatchAt(batch, n, req_.spare_rows);
    return !batch.empty();
  }

  Status status() const override { return status_; }

 private:
  PgConnection* conn_;
  std::string what_;
  std::string table_;
  ScanRequest req_;
  std::vector<size_t> key_pos_;
  std::optional<std::vector<Param>> after_;  // the last key read, in the server's text form
  std::vector<Param> upper_;
  BatchLimit limit_;                // rows and bytes of a batch
  std::optional<PgResult> page_;    // the page being read, while rows of it are left
  size_t page_limit_ = 0;           // the LIMIT it was asked with
  int page_row_ = 0;                // its next row
  bool done_ = false;
  Status status_;
};

// The bound parameters for keys[start, start + count), each key checked for its width.
Result<std::vector<Param>> KeyBatchParams(const std::string& what, size_t width,
                                     const std::vector<Row>& keys, size_t start, size_t count) {
  std::vector<Param> params;
  params.reserve(count * width);
  for (size_t i = start; i < start + count; ++i) {
    if (keys[i].size() != width) {
      return Fail(Code::kInvalidArgument, "{}: a key has {} values for {} key columns", what,
                  keys[i].size(), width);
    }
    for (auto& p : KeyParams(keys[i])) params.push_back(std::move(p));
  }
  return params;
}

}  // namespace

// ---- connection ---------------------------------------------------------------------------

Result<std::unique_ptr<PostgresEngine>> PostgresEngine::Open(const std::string& uri,
                                                             const std::string& password) {
  TANDEM_ASSIGN_OR_RETURN(PgConnection conn, PgConnection::Open(uri, password));
  std::unique_ptr<PostgresEngine> e(new PostgresEngine(std::move(conn), uri, password));
  TANDEM_RETURN_IF_ERROR(e->ApplySessionSettings());
  return e;
}

Status PostgresEngine::Reconnect() {
  TANDEM_ASSIGN_OR_RETURN(PgConnection fresh, PgConnection::Open(uri_, password_));
  conn_ = std::move(fresh);  // closes the lost connection; an open transaction died with it
  settings_in_txn_ = false;
  TANDEM_RETURN_IF_ERROR(ApplySessionSettings());
  // Not captured again, and replica mode (no FK checks) as before the loss.
  if (suppressed_) TANDEM_RETURN_IF_ERROR(SetCaptureSuppressed(true));
  return Ok();
}

Status PostgresEngine::ApplySessionSettings() {
  std::string what = "postgres connect " + Describe();
  // Fixed output formats, so decoding never depends on server or role defaults.
  TANDEM_RETURN_IF_ERROR(conn_.Exec(what,
                                    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                                    "SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; "
                                    "SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; "
                                    "SET standard_conforming_strings = on; "
                                    "SET client_min_messages = 'warning'"));
  TANDEM_ASSIGN_OR_RETURN(
      PgResult res,
      conn_.Exec(what,
                 "SELECT current_schema(), r.rolsuper, current_setting('server_version_num') "
                 "FROM pg_roles r WHERE r.rolname = current_user"));
  if (res.rows() != 1 || res.is_null(0, 0)) {
    return Fail(Code::kFailedPrecondition,
                "{}: the search_path names no existing schema; set one with "
                "?options=-csearch_path%3Dpublic",
                what);
  }
  schema_ = std::string(res.value(0, 0));
  can_replica_ = res.value(0, 1) == "t";
  int version = 0;
  ParseNumber(res.value(0, 2), version);
  major_version_ = version / 10000;
  if (!can_replica_ && version >= 150000) {
    // PostgreSQL 15 can grant SET on session_replication_role to an ordinary role.
    TANDEM_ASSIGN_OR_RETURN(
        PgResult priv,
        conn_.Exec(what, "SELECT has_parameter_privilege('session_replication_role', 'SET')"));
    can_replica_ = priv.rows() == 1 && priv.value(0, 0) == "t";
  }
  return Ok();
}

std::string PostgresEngine::Describe() const { return RedactUri(uri_); }

std::string PostgresEngine::Table(const std::string& name) const {
  return Qualified(schema_, name);
}

std::string PostgresEngine::What(std::string_view op, std::string_view table) const {
  return fmt::format("postgres {} {}", op, table);
}

template <typename Fn>
Status PostgresEngine::Atomically(std::string_view what, Fn&& body) {
  if (conn_.transaction_failed()) {
    return Fail(Code::kAborted, "{}: the transaction has already failed; roll it back", what);
  }
  bool outer = conn_.in_transaction();
  TANDEM_RETURN_IF_ERROR(conn_.Exec(what, outer ? "SAVEPOINT tandem_atomic" : "BEGIN"));
  Status st = body();
  if (!st) {
    // Undo only this call; the caller's transaction (if any) stays usable.
    (void)conn_.Exec(what, outer ? "ROLLBACK TO SAVEPOINT tandem_atomic; "
                                   "RELEASE SAVEPOINT tandem_atomic"
                                 : "ROLLBACK");
    return st;
  }
  if (outer) {
    TANDEM_RETURN_IF_ERROR(conn_.Exec(what, "RELEASE SAVEPOINT tandem_atomic"));
    return Ok();
  }
  TANDEM_ASSIGN_OR_RETURN(PgResult res, conn_.Exec(what, "COMMIT"));
  if (res.command_status() != "COMMIT") {
    return Fail(Code::kAborted, "{}: the server rolled the transaction back", what);
  }
  return Ok();
}

Status PostgresEngine::AtomicallyFn(std::string_view what, const std::function<Status()>& body) {
  return Atomically(what, body);
}

// ---- introspection ------------------------------------------------------------------------

Result<std::vector<TableSchema>> PostgresEngine::Introspect() {
  std::string what = fmt::format("postgres introspect schema {}", schema_);
  TANDEM_ASSIGN_OR_RETURN(PgResult cols, conn_.ExecParams(what, IntrospectColumnsSql(), {schema_}));
  std::vector<TableSchema> tables;
  std::map<std::string, size_t> index;
  auto table_of = [&](std::string_view name) -> TableSchema& {
    auto [it, added] = index.emplace(std::string(name), tables.size());
    if (added) {
      tables.emplace_back();
      tables.back().name = std::string(name);
    }
    return tables[it->second];
  };
  for (int r = 0; r < cols.rows(); ++r) {
    TableSchema& t = table_of(cols.value(r, 0));
    Column c;
    c.name = std::string(cols.value(r, 1));
    c.engine_type = std::string(cols.value(r, 2));
    c.nullable = cols.value(r, 3) != "t";
    if (!cols.is_null(r, 4)) c.default_expr = std::string(cols.value(r, 4));
    c.generated = cols.value(r, 5) == "t";
    c.byte_ordered = cols.value(r, 8) == "t";
    TypeOid oid = 0;
    int typmod = -1;
    ParseNumber(cols.value(r, 6), oid);
    ParseNumber(cols.value(r, 7), typmod);
    c.type = PortableFromPg(oid, typmod);
    c.builtin_type = cols.value(r, 10) == "t";
    // attidentity 'a'/'d', or a serial's nextval(...) default: the engine picks the value.
    c.identity = !cols.value(r, 9).empty() ||
                 (c.default_expr && c.default_expr->starts_with("nextval("));
    if (c.default_expr && !c.identity && !c.generated) {
      c.default_value = ParsePortableDefault(*c.default_expr);
    }
    t.columns.push_back(std::move(c));
  }

  TANDEM_ASSIGN_OR_RETURN(PgResult cons,
                          conn_.ExecParams(what, IntrospectConstraintsSql(), {schema_}));
  auto names = [&](int r, int c) -> Result<std::vector<std::string>> {
    if (cons.is_null(r, c)) return std::vector<std::string>{};
    try {
      return nlohmann::json::parse(cons.value(r, c)).get<std::vector<std::string>>();
    } catch (const std::exception& ex) {
      return Fail(Code::kInternal, "{}: bad column list {} in constraint {}: {}", what,
                  cons.value(r, c), cons.value(r, 6), ex.what());
    }
  };
  for (int r = 0; r < cons.rows(); ++r) {
    auto it = index.find(std::string(cons.value(r, 0)));
    if (it == index.end()) continue;  // a table that appeared between the two queries
    TableSchema& t = tables[it->second];
    std::string_view type = cons.value(r, 1);
    TANDEM_ASSIGN_OR_RETURN(std::vector<std::string> columns, names(r, 2));
    if (type == "p") {
      t.primary_key = std::move(columns);
    } else if (type == "u" || type == "i") {
      if (std::find(t.unique_keys.begin(), t.unique_keys.end(), columns) == t.unique_keys.end()) {
        t.unique_keys.push_back(std::move(columns));
      }
    } else if (type == "f") {
      TANDEM_ASSIGN_OR_RETURN(std::vector<std::string> ref_columns, names(r, 4));
      auto action = [](std::string_view a) {
        return a == "r" ? FkAction::kRestrict : a == "c" ? FkAction::kCascade
             : a == "n" ? FkAction::kSetNull : a == "d" ? FkAction::kSetDefault
                        : FkAction::kNoAction;
      };
      t.foreign_keys.push_back(ForeignKey{.columns = std::move(columns),
                                          .ref_table = std::string(cons.value(r, 3)),
                                          .ref_columns = std::move(ref_columns),
                                          .name = std::string(cons.value(r, 6)),
                                          .on_delete = action(cons.value(r, 7)),
                                          .on_update = action(cons.value(r, 8))});
    } else if (type == "c") {
      t.checks.push_back(CheckExpression(cons.value(r, 5)));
      t.check_constraints.push_back(
          Check{std::string(cons.value(r, 6)), t.checks.back()});
    }
  }

  TANDEM_ASSIGN_OR_RETURN(PgResult ixs, conn_.ExecParams(what, IntrospectIndexesSql(), {schema_}));
  for (int r = 0; r < ixs.rows(); ++r) {
    auto it = index.find(std::string(ixs.value(r, 0)));
    if (it == index.end()) continue;
    Index ix;
    ix.name = std::string(ixs.value(r, 1));
    ix.unique = ixs.value(r, 2) == "t";
    ix.constraint = ixs.value(r, 3) == "t";
    if (!ixs.is_null(r, 4)) ix.where = std::string(ixs.value(r, 4));
    if (ixs.value(r, 6) != "btree") ix.method = std::string(ixs.value(r, 6));
    try {
      for (const auto& part : nlohmann::json::parse(ixs.value(r, 5))) {
        IndexPart p;
        if (part[0].is_string()) {
          p.column = part[0].get<std::string>();
        } else {
          p.expression = part[1].get<std::string>();
        }
        p.descending = part[2].get<bool>();
        ix.parts.push_back(std::move(p));
      }
    } catch (const std::exception& ex) {
      return Fail(Code::kInternal, "{}: bad parts of index {}: {}", what, ix.name, ex.what());
    }
    tables[it->second].indexes.push_back(std::move(ix));
  }
  return tables;
}

Result<std::vector<UnmigratedObject>> PostgresEngine::ListUnmigrated() {
  std::string what = fmt::format("postgres list views, triggers and routines of schema {}", schema_);
  TANDEM_ASSIGN_OR_RETURN(PgResult res, conn_.ExecParams(what, IntrospectUnmigratedSql(), {schema_}));
  std::vector<UnmigratedObject> out;
  for (int r = 0; r < res.rows(); ++r) {
    out.push_back({std::string(res.value(r, 0)), std::string(res.value(r, 1)),
                   std::string(res.value(r, 2))});
  }
  return out;
}

std::string PostgresEngine::CreateTableDdl(const TableSchema& table) const {
  return CreateTableSql(schema_, table);
}

std::vector<std::string> PostgresEngine::ObjectDdl(const TableSchema& table,
                                                   const SchemaObject& o) const {
  switch (o.kind) {
    case SchemaObject::Kind::kIndex: return {CreateIndexSql(schema_, table.name, o.index)};
    case SchemaObject::Kind::kCheck: return AddCheckSql(schema_, table.name, o.check);
    case SchemaObject::Kind::kForeignKey: return AddForeignKeySql(schema_, table.name, o.foreign_key);
  }
  return {};
}

namespace {

std::string PgTableName(const void* schema, std::string_view table) {
  return Qualified(*static_cast<const std::string*>(schema), table);
}
std::string PgColumnName(std::string_view c) { return QuoteIdent(c); }

}  // namespace

Status PostgresEngine::BuildObject(const TableSchema& table, const SchemaObject& o) {
  std::string what = What(fmt::format("build {} {} on", o.KindName(), QuoteIdent(o.name())), table.name);
  TANDEM_ASSIGN_OR_RETURN(
      PgResult exists,
      conn_.ExecParams(what, ObjectExistsSql(), {schema_, o.name(), Qualified(schema_, table.name)}));
  if (exists.rows() == 1 && exists.value(0, 0) == "t") return Ok();
  Status failed = Ok();
  for (const auto& sql : ObjectDdl(table, o)) {
    if (auto r = conn_.Exec(what, sql); !r) {
      failed = std::unexpected(r.error());
      break;
    }
  }
  if (failed) return Ok();
  if (failed.error().code == Code::kUnavailable) return failed;
  // Nothing half-built stays: a NOT VALID constraint would pass for built on the next run.
  if (o.kind != SchemaObject::Kind::kIndex) {
    (void)conn_.Exec(what, DropConstraintSql(schema_, table.name, o.name()));
  }
  SqlNames q{&PgTableName, &PgColumnName, &schema_};
  std::string sample;
  if (o.kind == SchemaObject::Kind::kIndex && o.index.unique) {
    std::vector<std::string> cols;
    for (const auto& p : o.index.parts) {
      if (!p.column.empty()) cols.push_back(p.column);
    }
    if (!cols.empty() && cols.size() == o.index.parts.size() && o.index.where.empty()) {
      sample = DuplicateKeysSql(q, table.name, cols, 5);
    }
  } else if (o.kind == SchemaObject::Kind::kForeignKey) {
    sample = OrphanKeysSql(q, table.name, o.foreign_key, 5);
  }
  std::vector<std::vector<std::optional<std::string>>> rows;
  if (!sample.empty()) {
    if (auto res = conn_.Exec(what, sample); res) {
      for (int r = 0; r < res->rows(); ++r) {
        auto& row = rows.emplace_back();
        for (int c = 0; c < res->cols(); ++c) {
          row.push_back(res->is_null(r, c) ? std::nullopt
                                           : std::optional<std::string>(res->value(r, c)));
        }
      }
    }
  }
  std::string keys = SampleKeysText(rows, o.kind == SchemaObject::Kind::kIndex);
  std::string msg = failed.error().message;
  if (!keys.empty()) {
    msg += fmt::format("; {} keys: {}", o.kind == SchemaObject::Kind::kIndex ? "colliding" : "orphan", keys);
  }
  return Fail(Code::kFailedPrecondition, "{}", msg);
}

// ---- reading ------------------------------------------------------------------------------

// Streams one key range through a COPY ... TO STDOUT begun by Scan (ScanRequest::exclusive):
// one statement for the whole range, so the server reads the index once instead of once per
// page. Abandoning it cancels the COPY and leaves the connection usable.
class PgCopyReader final : public RowReader {
 public:
  PgCopyReader(PgConnection* conn, std::string what, std::vector<TypeOid> types,
               const ScanRequest& req, bool binary)
      : conn_(conn), what_(std::move(what)), types_(std::move(types)),
        limit_(req.batch_rows == 0 ? 10000 : req.batch_rows, req.batch_bytes),
        spare_(req.spare_rows), binary_(binary) {}
  ~PgCopyReader() override {
    if (!done_) conn_->CancelCopyOut();
  }

  bool Next(std::vector<Row>& batch) override {
    size_t n = 0;
    std::string_view line;
    limit_.Start();
    while (!done_ && !limit_.Full()) {
      if (!conn_->GetCopyRow(what_, line, status_)) {
        done_ = true;
        break;
      }
      bool trailer = false;
      bool ok = binary_ ? SplitBinaryCopyRow(line, header_seen_, fields_, trailer)
                        : SplitCopyRow(line, fields_, storage_);
      if (trailer) continue;  // the COPY's end follows
      if (!ok || fields_.size() != types_.size()) {
        Unreadable();
        break;
      }
      Row& row = BatchRowAt(batch, n++, spare_);
      row.resize(types_.size());
      for (size_t c = 0; c < types_.size() && !done_; ++c) {
        if (!fields_[c]) {
          row[c].SetNull();
        } else if (!binary_) {
          DecodeTextInto(types_[c], *fields_[c], row[c]);
        } else if (!DecodeBinaryInto(types_[c], *fields_[c], row[c])) {
          Unreadable();
        }
      }
      limit_.Add(row);
    }
    EndBatchAt(batch, n, spare_);
    if (!status_) batch.clear();
    return !batch.empty();
  }

  Status status() const override { return status_; }

 private:
  void Unreadable() {
    status_ = Fail(Code::kInternal, "{}: unreadable COPY row ({} fields, {} expected)", what_,
                   fields_.size(), types_.size());
    conn_->CancelCopyOut();
    done_ = true;
  }

  PgConnection* conn_;
  std::string what_;
  std::vector<TypeOid> types_;
  BatchLimit limit_;
  std::vector<Row>* spare_;  // ScanRequest::spare_rows
  bool binary_;
  bool header_seen_ = false;
  std::vector<std::optional<std::string_view>> fields_;
  std::string storage_;
  bool done_ = false;
  Status status_;
};

Result<std::unique_ptr<RowReader>> PostgresEngine::Scan(const ScanRequest& req) {
  std::string what = What("scan", req.table);
  // No key (a table without one): the whole table in one COPY, a consistent snapshot.
  bool whole = req.key.empty() && !req.range.lower && !req.range.upper && req.exclusive;
  if (!whole) TANDEM_RETURN_IF_ERROR(CheckRange(what, req.key, req.range));
  TANDEM_ASSIGN_OR_RETURN(std::vector<size_t> key_pos, Positions(what, req.key, req.columns));
  if (req.exclusive) {
    // COPY reports no column types: a query for no rows tells them.
    TANDEM_ASSIGN_OR_RETURN(std::vector<TypeOid> types, ColumnTypes(what, req.table, req.columns));
    std::vector<Param> lower, upper;
    if (req.range.lower) lower = KeyParams(*req.range.lower);
    if (req.range.upper) upper = KeyParams(*req.range.upper);
    // Binary when every column type has a binary reader: the server then formats no text
    // (numeric_out and timestamp_out) and tandem parses none.
    bool binary = std::all_of(types.begin(), types.end(), BinaryDecodable);
    std::string sql = CopyOutSql(Table(req.table), req.columns, req.key, lower, upper);
    if (binary) sql += " (FORMAT binary)";
    TANDEM_RETURN_IF_ERROR(conn_.BeginCopyOut(what, sql));
    return std::unique_ptr<RowReader>(
        new PgCopyReader(&conn_, std::move(what), std::move(types), req, binary));
  }
  return std::unique_ptr<RowReader>(
      new PgRowReader(&conn_, std::move(what), Table(req.table), req, std::move(key_pos)));
}

// ---- pass-through -------------------------------------------------------------------------

Result<RawShape> PostgresEngine::RawShapeOf(const std::string& table,
                                            const std::vector<std::string>& columns) {
  std::string what = What("describe the binary COPY form of", table);
  TANDEM_ASSIGN_OR_RETURN(PgResult res, conn_.ExecParams(what, RawShapeSql(),
                                                         {Table(table), TextArrayLiteral(columns)}));
  if (static_cast<size_t>(res.rows()) != columns.size()) {
    return Fail(Code::kInternal, "{}: {} rows for {} columns", what, res.rows(), columns.size());
  }
  RawShape shape;
  std::string format = fmt::format("postgres {} binary COPY", major_version_);
  for (int r = 0; r < res.rows(); ++r) {
    std::string_view name = res.value(r, 0);
    if (res.value(r, 1) != "t") {
      shape.why = fmt::format("column {} does not exist in {}", name, table);
      return shape;
    }
    std::string_view type = res.value(r, 2), collation = res.value(r, 3),
                     typtype = res.value(r, 4), bases = res.value(r, 7), labels = res.value(r, 8);
    bool builtin = res.value(r, 5) == "t", binary_io = res.value(r, 6) == "t";
    std::string_view problem;
    if (!binary_io) {
      problem = "has no binary send/receive functions";
    } else if (typtype == "c") {
      problem = "is composite (its binary form names the OIDs of its fields' types)";
    } else if (typtype != "e" && !builtin) {
      problem = "is not built in (an array of a user type names the element type's OID in its "
                "binary form, and an extension's type is read by the extension)";
    } else if (typtype != "e" && typtype != "b" && typtype != "r" && typtype != "m") {
      problem = "is not a base, range or enum type";
    }
    if (!problem.empty()) {
      shape.why = fmt::format("column {}: type {}{} {}", name, type, bases, problem);
      return shape;
    }
    format += fmt::format("; {} {}{}", QuoteIdent(name), type, bases);
    if (!collation.empty()) format += fmt::format(" COLLATE {}", collation);
    if (!labels.empty()) format += fmt::format(" ({})", labels);
  }
  shape.format = std::move(format);
  return shape;
}

namespace {

// Hands on the messages of a binary COPY ... TO STDOUT begun by ScanRaw, whole rows in pieces
// of about `piece_bytes`. Each message is checked to be one row of the expected width (the
// header and the trailer are kept in the stream): a short or garbled stream is an error here,
// not a target that loads something else. Abandoning it cancels the COPY.
class PgRawReader final : public RawReader {
 public:
  PgRawReader(PgConnection* conn, std::string what, size_t columns, size_t piece_bytes)
      : conn_(conn), what_(std::move(what)), columns_(columns), piece_bytes_(piece_bytes) {}
  ~PgRawReader() override {
    if (!done_) conn_->CancelCopyOut();
  }

  bool Next(std::string& piece) override {
    piece.clear();
    while (!done_ && piece.size() < piece_bytes_) {
      std::string_view msg;
      if (!conn_->GetCopyRow(what_, msg, status_)) {
        done_ = true;
        break;
      }
      bool trailer = false;
      if (!SplitBinaryCopyRow(msg, header_seen_, fields_, trailer) ||
          (!trailer && fields_.size() != columns_)) {
        status_ = Fail(Code::kInternal, "{}: unreadable COPY row ({} fields, {} expected)", what_,
                       fields_.size(), columns_);
        conn_->CancelCopyOut();
        done_ = true;
        break;
      }
      if (!trailer) ++rows_;
      piece.append(msg);
    }
    if (!status_) piece.clear();
    return !piece.empty();
  }
  Status status() const override { return status_; }
  int64_t rows() const override { return rows_; }

 private:
  PgConnection* conn_;
  std::string what_;
  size_t columns_;
  size_t piece_bytes_;
  bool header_seen_ = false;
  bool done_ = false;
  int64_t rows_ = 0;
  std::vector<std::optional<std::string_view>> fields_;
  Status status_;
};

}  // namespace

Result<std::unique_ptr<RawReader>> PostgresEngine::ScanRaw(const ScanRequest& req) {
  std::string what = What("scan (pass-through)", req.table);
  if (!req.exclusive) {
    return Fail(Code::kInternal, "{}: a raw scan needs the connection to itself", what);
  }
  bool whole = req.key.empty() && !req.range.lower && !req.range.upper;
  if (!whole) TANDEM_RETURN_IF_ERROR(CheckRange(what, req.key, req.range));
  TANDEM_RETURN_IF_ERROR(Positions(what, req.key, req.columns));
  std::vector<Param> lower, upper;
  if (req.range.lower) lower = KeyParams(*req.range.lower);
  if (req.range.upper) upper = KeyParams(*req.range.upper);
  TANDEM_RETURN_IF_ERROR(conn_.BeginCopyOut(
      what, CopyOutSql(Table(req.table), req.columns, req.key, lower, upper) + " (FORMAT binary)"));
  size_t piece = req.batch_bytes > 0 ? std::min(req.batch_bytes, kStreamPiece) : kStreamPiece;
  return std::unique_ptr<RawReader>(
      new PgRawReader(&conn_, std::move(what), req.columns.size(), piece));
}

Result<int64_t> PostgresEngine::WriteRaw(const std::string& table,
                                         const std::vector<std::string>& columns,
                                         RawReader& from) {
  std::string what = What("write (pass-through)", table);
  // The first piece before the COPY: a stream that fails at once, or is empty, starts none.
  if (!from.Next(copy_buf_)) {
    TANDEM_RETURN_IF_ERROR(from.status());
    return from.rows();
  }
  std::string sql = CopyFromStdinSql(Table(table), columns) + " (FORMAT binary)";
  auto body = [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(conn_.BeginCopyIn(what, sql));
    Status st;
    do {
      st = conn_.PutCopyData(what, copy_buf_);
    } while (st && from.Next(copy_buf_));
    if (st && !from.status()) {
      conn_.AbortCopyIn("tandem: reading the source failed; nothing of this COPY is kept");
      return from.status();
    }
    // End the COPY even after a failed put, so the connection leaves COPY mode. A row the
    // server refused is reported here, with its words (it reads on until the end meanwhile).
    Status end = conn_.EndCopyIn(what);
    if (!st) return st;
    return end;
  };
  Status st = conn_.in_transaction() ? Atomically(what, body) : body();
  if (copy_buf_.capacity() > (4u << 20)) std::string().swap(copy_buf_);  // a huge row
  TANDEM_RETURN_IF_ERROR(st);
  return from.rows();
}

Result<std::vector<Row>> PostgresEngine::Split(const std::string& table,
                                               const std::vector<std::string>& key, int n) {
  std::string what = What("split", table);
  if (key.empty()) return Fail(Code::kInvalidArgument, "{}: no key columns given", what);
  if (n <= 1) return std::vector<Row>{};
  // A large table is split at quantiles of a block sample (TABLESAMPLE SYSTEM): it reads a
  // few hundred pages instead of numbering every row, and chunks still come out within a few
  // percent of equal. The planner's row estimate only sizes the sample.
  TANDEM_ASSIGN_OR_RETURN(int64_t estimate, PlannerEstimate(what, table));
  if (estimate >= kEstimateRowsFrom) {
    double want = std::max(30000.0, 200.0 * n);
    double percent = std::min(100.0, 100.0 * want / static_cast<double>(estimate));
    TANDEM_ASSIGN_OR_RETURN(
        PgResult res, conn_.Exec(what, SampleKeysSql(Table(table), key, percent)));
    int64_t m = res.rows();
    if (m >= 20LL * n) {
      std::vector<Row> out;
      int64_t last = -1;
      for (int i = 1; i < n; ++i) {
        int64_t p = static_cast<int64_t>((static_cast<__int128>(i) * m) / n);
        if (p <= last || p >= m) continue;
        out.push_back(DecodeRow(res, static_cast<int>(p)));
        last = p;
      }
      return out;
    }
    // Too few sampled rows (a stale estimate): number the rows exactly instead.
  }
  TANDEM_ASSIGN_OR_RETURN(int64_t count, Count(table, key, KeyRange{}));
  // Boundary i is the key at row number floor(i * count / n) in key order: the chunks
  // (b[i-1], b[i]] then hold count/n rows each, give or take one.
  std::string positions = "{";
  int64_t last = 0;
  for (int i = 1; i < n; ++i) {
    int64_t p = static_cast<int64_t>((static_cast<__int128>(i) * count) / n);
    if (p < 1 || p >= count || p <= last) continue;
    if (last > 0) positions += ",";
    positions += std::to_string(p);
    last = p;
  }
  positions += "}";
  if (last == 0) return std::vector<Row>{};
  TANDEM_ASSIGN_OR_RETURN(PgResult res,
                          conn_.ExecParams(what, SplitSql(Table(table), key), {positions}));
  std::vector<Row> out;
  out.reserve(static_cast<size_t>(res.rows()));
  for (int r = 0; r < res.rows(); ++r) out.push_back(DecodeRow(res, r));
  return out;
}

Result<int64_t> PostgresEngine::PlannerEstimate(std::string_view what, const std::string& table) {
  TANDEM_ASSIGN_OR_RETURN(PgResult est, conn_.ExecParams(what, EstimatedRowsSql(), {Table(table)}));
  int64_t estimate = -1;
  if (est.rows() == 1 && !est.is_null(0, 0)) (void)ParseNumber(est.value(0, 0), estimate);
  return estimate;
}

Result<std::vector<SequenceColumn>> PostgresEngine::SequenceColumns(const std::string& table) {
  std::string what = What("read sequences of", table);
  TANDEM_ASSIGN_OR_RETURN(PgResult res, conn_.ExecParams(what, SequenceColumnsSql(), {schema_, table}));
  std::vector<SequenceColumn> out;
  for (int r = 0; r < res.rows(); ++r) {
    SequenceColumn c;
    c.table = table;
    c.column = std::string(res.value(r, 0));
    char how = res.value(r, 1).empty() ? 'n' : res.value(r, 1)[0];
    c.kind = how == 'i' ? SequenceKind::kIdentity
             : how == 'a' ? SequenceKind::kSerial
                          : SequenceKind::kSequenceDefault;
    c.sequence_schema = std::string(res.value(r, 2));
    c.sequence = std::string(res.value(r, 3));
    if (!ParseNumber(res.value(r, 4), c.increment)) {
      return Fail(Code::kInternal, "{}: unexpected increment '{}'", what, res.value(r, 4));
    }
    TANDEM_ASSIGN_OR_RETURN(
        PgResult state, conn_.Exec(what, SequenceStateSql(c.sequence_schema, c.sequence)));
    int64_t last = 0;
    if (state.rows() != 1 || !ParseNumber(state.value(0, 0), last)) {
      return Fail(Code::kInternal, "{}: unexpected state of sequence {}", what, c.sequence);
    }
    c.next = state.value(0, 1) == "t" ? last + c.increment : last;
    out.push_back(std::move(c));
  }
  if (out.empty()) {
    TANDEM_ASSIGN_OR_RETURN(
        PgResult exists,
        conn_.ExecParams(what, "SELECT pg_catalog.to_regclass($1)::oid", {Table(table)}));
    if (exists.rows() != 1 || exists.is_null(0, 0)) {
      return Fail(Code::kNotFound, "{}: no such table in schema {}", what, schema_);
    }
  }
  return out;
}

Result<std::optional<int64_t>> PostgresEngine::MaxInteger(const std::string& table,
                                                          const std::string& column) {
  std::string what = What(fmt::format("read max({}) of", column), table);
  TANDEM_ASSIGN_OR_RETURN(PgResult res, conn_.Exec(what, MaxValueSql(Table(table), column)));
  if (res.rows() != 1) return Fail(Code::kInternal, "{}: unexpected result", what);
  if (res.is_null(0, 0)) return std::optional<int64_t>();
  Oid type = res.type(0);
  std::string_view text = res.value(0, 0);
  int64_t v = 0;
  bool integral = type == kInt2Oid || type == kInt4Oid || type == kInt8Oid ||
                  (type == kNumericOid && text.find('.') == std::string_view::npos);
  if (!integral || !ParseNumber(text, v)) {
    return Fail(Code::kInvalidArgument, "{}: column {} is not an integer column (max is '{}')", what,
                column, text);
  }
  return std::optional<int64_t>(v);
}

Result<int64_t> PostgresEngine::AdvanceSequence(const SequenceColumn& seq, int64_t next) {
  std::string what = What(fmt::format("move sequence {}.{} of", seq.sequence_schema, seq.sequence),
                          seq.table);
  if (seq.increment <= 0) {
    return Fail(Code::kFailedPrecondition,
                "{}: the sequence counts down (increment {}); move it by hand", what, seq.increment);
  }
  std::string regclass = Qualified(seq.sequence_schema, seq.sequence);
  TANDEM_ASSIGN_OR_RETURN(
      PgResult moved,
      conn_.ExecParams(what, AdvanceSequenceSql(seq.sequence_schema, seq.sequence),
                       {regclass, std::to_string(next), std::to_string(seq.increment)}));
  (void)moved;
  TANDEM_ASSIGN_OR_RETURN(PgResult state,
                          conn_.Exec(what, SequenceStateSql(seq.sequence_schema, seq.sequence)));
  int64_t last = 0;
  if (state.rows() != 1 || !ParseNumber(state.value(0, 0), last)) {
    return Fail(Code::kInternal, "{}: unexpected state of the sequence", what);
  }
  return state.value(0, 1) == "t" ? last + seq.increment : last;
}

Result<int64_t> PostgresEngine::EstimateRows(const std::string& table,
                                             const std::vector<std::string>& key) {
  TANDEM_ASSIGN_OR_RETURN(int64_t estimate, PlannerEstimate(What("estimate rows of", table), table));
  if (estimate >= kEstimateRowsFrom) return estimate;
  return Count(table, key, KeyRange{});
}

Result<int64_t> PostgresEngine::Count(const std::string& table, const std::vector<std::string>& key,
                                      const KeyRange& range) {
  std::string what = What("count", table);
  if (range.lower || range.upper) TANDEM_RETURN_IF_ERROR(CheckRange(what, key, range));
  std::vector<Param> params;
  AppendRange(range, params);
  TANDEM_ASSIGN_OR_RETURN(
      PgResult res,
      conn_.ExecParams(
          what, CountSql(Table(table), key, range.lower.has_value(), range.upper.has_value()),
          params));
  int64_t n = 0;
  if (res.rows() != 1 || !ParseNumber(res.value(0, 0), n)) {
    return Fail(Code::kInternal, "{}: unexpected count result", what);
  }
  return n;
}

Result<std::string> PostgresEngine::DigestForm(const std::string& table,
                                               const std::vector<std::string>& columns) {
  std::string what = What("read the column types of", table);
  TANDEM_ASSIGN_OR_RETURN(PgResult res, conn_.ExecParams(what, DigestFormSql(), {Table(table)}));
  if (res.rows() == 0) return std::string();
  std::map<std::string, std::pair<std::string, std::string>, std::less<>> types;
  for (int r = 0; r < res.rows(); ++r) {
    types.emplace(res.value(r, 0), std::make_pair(std::string(res.value(r, 1)),
                                                  std::string(res.value(r, 4))));
  }
  // Each column's binary form (see DigestSql), where the server has hash_record_extended
  // (14 on) and every type a binary output; else the row's text.
  std::vector<std::string> send;
  std::string declared;
  bool binary = major_version_ >= 14;
  for (const auto& c : columns) {
    auto it = types.find(c);
    if (it == types.end()) return std::string();  // not a plain column: no digest
    const auto& [type, fn] = it->second;
    declared += " " + type + ",";
    binary &= !fn.empty() && fn != "-";
    send.push_back(fn);
  }
  if (!binary) send.clear();
  std::string form = fmt::format("postgres: bit_xor({}); encoding {}; lc_monetary {}; columns{}",
                                 binary ? "hash_record_extended(row of typsend bytes)"
                                        : "hashtextextended(row text)",
                                 res.value(0, 2), res.value(0, 3), declared);
  digest_send_[DigestKey(table, columns)] = std::move(send);
  return form;
}

std::string PostgresEngine::DigestKey(const std::string& table,
                                      const std::vector<std::string>& columns) {
  std::string k = table;
  for (const auto& c : columns) k += '\0' + c;
  return k;
}

Result<Engine::RangeDigest> PostgresEngine::DigestRange(const std::string& table,
                                                        const std::vector<std::string>& columns,
                                                        const std::vector<std::string>& key,
                                                        const KeyRange& range) {
  std::string what = What("digest", table);
  if (range.lower || range.upper) TANDEM_RETURN_IF_ERROR(CheckRange(what, key, range));
  // The form decides the digest; a job's connection that has not read it yet reads it once.
  auto known = digest_send_.find(DigestKey(table, columns));
  if (known == digest_send_.end()) {
    TANDEM_ASSIGN_OR_RETURN(std::string form, DigestForm(table, columns));
    if (form.empty()) return Fail(Code::kInternal, "{}: no digest for these columns", what);
    known = digest_send_.find(DigestKey(table, columns));
  }
  std::vector<Param> params;
  AppendRange(range, params);
  TANDEM_ASSIGN_OR_RETURN(
      PgResult res,
      conn_.ExecParams(what,
                       DigestSql(Table(table), columns, key, range.lower.has_value(),
                                 range.upper.has_value(), known->second),
                       params));
  RangeDigest d;
  if (res.rows() != 1 || !ParseNumber(res.value(0, 0), d.rows)) {
    return Fail(Code::kInternal, "{}: unexpected digest result", what);
  }
  d.digest = std::string(res.value(0, 1));
  return d;
}

Result<std::vector<Row>> PostgresEngine::Fetch(const std::string& table,
                                               const std::vector<std::string>& columns,
                                               const std::vector<std::string>& key,
                                               const std::vector<Row>& keys) {
  std::string what = What("fetch", table);
  if (key.empty()) return Fail(Code::kInvalidArgument, "{}: no key columns given", what);
  std::vector<Row> out;
  size_t per = std::max<size_t>(1, kParamsPerStatement / key.size());
  for (size_t start = 0; start < keys.size(); start += per) {
    size_t count = std::min(per, keys.size() - start);
    TANDEM_ASSIGN_OR_RETURN(auto params, KeyBatchParams(what, key.size(), keys, start, count));
    TANDEM_ASSIGN_OR_RETURN(
        PgResult res, conn_.ExecParams(what, FetchSql(Table(table), columns, key, count), params));
    for (int r = 0; r < res.rows(); ++r) out.push_back(DecodeRow(res, r));
  }
  return out;
}

// ---- writing ------------------------------------------------------------------------------

Status PostgresEngine::CopyRows(std::string_view what, const std::string& copy_sql,
                                const std::vector<Row>& rows, const std::vector<size_t>& order) {
  TANDEM_RETURN_IF_ERROR(conn_.BeginCopyIn(what, copy_sql));
  std::string buf;
  buf.reserve(kCopyPiece + 4096);
  auto put_row = [&](const Row& row) -> Status {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c) buf += '\t';
      AppendCopyField(row[c], buf);
    }
    buf += '\n';
    if (buf.size() >= kCopyPiece) {
      TANDEM_RETURN_IF_ERROR(conn_.PutCopyData(what, buf));
      buf.clear();
    }
    return Ok();
  };
  Status st;
  if (order.empty()) {
    for (const auto& row : rows) {
      if (st = put_row(row); !st) break;
    }
  } else {
    for (size_t i : order) {
      if (st = put_row(rows[i]); !st) break;
    }
  }
  if (st && !buf.empty()) st = conn_.PutCopyData(what, buf);
  // End the COPY even after a failed put, so the connection leaves COPY mode.
  Status end = conn_.EndCopyIn(what);
  if (!st) return st;
  return end;
}

Result<std::vector<TypeOid>> PostgresEngine::ColumnTypes(std::string_view what,
                                                        const std::string& table,
                                                        const std::vector<std::string>& columns) {
  // Asked on every call (one round trip per batch or range): a type remembered from before
  // an ALTER would make binary COPY misread or miswrite the column.
  TANDEM_ASSIGN_OR_RETURN(PgResult shape, conn_.Exec(what, ColumnTypesSql(Table(table), columns)));
  std::vector<TypeOid> types;
  for (int c = 0; c < shape.cols(); ++c) types.push_back(shape.type(c));
  return types;
}

bool PostgresEngine::BinaryEncodable(const std::vector<TypeOid>& types, const Row& row) {
  copy_buf_.clear();
  return AppendBinaryRow(types, row, copy_buf_);
}

Status PostgresEngine::StreamBinary(std::string_view what, const std::string& copy_sql,
                                    const std::vector<TypeOid>& types,
                                    const std::vector<Row>& rows, bool& unencodable) {
  unencodable = false;
  TANDEM_RETURN_IF_ERROR(conn_.BeginCopyIn(what, copy_sql));
  copy_buf_.clear();
  AppendBinaryCopyHeader(copy_buf_);
  Status st;
  for (const auto& row : rows) {
    if (!AppendBinaryRow(types, row, copy_buf_)) {
      unencodable = true;
      conn_.AbortCopyIn("tandem: a value has no binary COPY form; written as text instead");
      return Fail(Code::kInvalidArgument, "{}: a value has no binary COPY form", what);
    }
    if (copy_buf_.size() >= kStreamPiece) {
      if (st = conn_.PutCopyData(what, copy_buf_); !st) break;
      copy_buf_.clear();
    }
  }
  if (st) {
    AppendBinaryCopyTrailer(copy_buf_);
    st = conn_.PutCopyData(what, copy_buf_);
  }
  if (copy_buf_.capacity() > (4u <<20)) std::string().swap(copy_buf_);  // a huge row
  // End the COPY even after a failed put, so the connection leaves COPY mode.
  Status end = conn_.EndCopyIn(what);
  if (!st) return st;
  return end;
}

Status PostgresEngine::CheckWritable(std::string_view what, const std::vector<std::string>& columns,
                                     const std::vector<Row>& rows) const {
  for (const auto& row : rows) {
    if (row.size() != columns.size()) {
      return Fail(Code::kInvalidArgument, "{}: a row has {} values for {} columns", what,
                  row.size(), columns.size());
    }
    for (size_t c = 0; c < row.size(); ++c) {
      if (HasNulByte(row[c])) {
        return Fail(Code::kInvalidArgument,
                    "{}: column {}: the text contains a NUL byte, which PostgreSQL text cannot "
                    "store ({})",
                    what, columns[c], row[c].ToDisplay());
      }
    }
  }
  return Ok();
}

// The inserts of one chunk as one binary COPY (Engine::OpenInsert): every COPY costs the
// server a start that a chunk of twenty batches paid twenty times (docs/decisions.md,
// "Speed"). The column types are asked once: the COPY's lock keeps them until the chunk's
// transaction ends. A row with a value that has no binary form (an int2 out of range, say)
// ends the COPY before it; that row and the rest of its batch go as text, in a COPY of their
// own, and the next batch opens a new binary COPY.
class PgChunkCopy final : public BulkInsert {
 public:
  PgChunkCopy(PostgresEngine& pg, const std::string& table, std::vector<std::string> columns)
      : pg_(pg),
        table_(table),
        columns_(std::move(columns)),
        what_(pg.What("write", table)),
        text_sql_(CopyFromStdinSql(pg.Table(table), columns_)),
        binary_sql_(text_sql_ + " (FORMAT binary)") {}
  ~PgChunkCopy() override {
    // The server fails the COPY, and with it the caller's transaction, which it rolls back.
    if (open_) pg_.conn_.AbortCopyIn("tandem: the chunk's insert was abandoned");
  }

  Status Add(const std::vector<Row>& rows) override {
    if (rows.empty()) return Ok();
    TANDEM_RETURN_IF_ERROR(pg_.CheckWritable(what_, columns_, rows));
    if (types_.empty()) {  // before any COPY is open: the query needs the connection
      TANDEM_ASSIGN_OR_RETURN(types_, pg_.ColumnTypes(what_, table_, columns_));
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!open_ && !pg_.BinaryEncodable(types_, rows[i])) return SendRestAsText(rows, i);
      if (!open_) {
        TANDEM_RETURN_IF_ERROR(pg_.conn_.BeginCopyIn(what_, binary_sql_));
        open_ = true;
        AppendBinaryCopyHeader(buf_);
      }
      if (!AppendBinaryRow(types_, rows[i], buf_)) {
        TANDEM_RETURN_IF_ERROR(Close());
        return SendRestAsText(rows, i);
      }
      if (buf_.size() >= kStreamPiece) TANDEM_RETURN_IF_ERROR(Put());
    }
    // The batch's tail goes now: the server inserts it while the next batch is mapped.
    return Put();
  }

  Status Finish() override { return open_ ? Close() : Ok(); }

 private:
  Status Put() {
    if (buf_.empty()) return Ok();
    TANDEM_RETURN_IF_ERROR(pg_.conn_.PutCopyData(what_, buf_));
    buf_.clear();
    return Ok();
  }
  Status Close() {
    AppendBinaryCopyTrailer(buf_);
    TANDEM_RETURN_IF_ERROR(Put());
    open_ = false;
    return pg_.conn_.EndCopyIn(what_);
  }
  // Rows `from` on of `rows`, the first of which has no binary form, as one text COPY: the
  // server parses each value in its own words. (No savepoint: a failure fails the chunk.)
  Status SendRestAsText(const std::vector<Row>& rows, size_t from) {
    std::vector<size_t> rest(rows.size() - from);
    std::iota(rest.begin(), rest.end(), from);
    return pg_.CopyRows(what_, text_sql_, rows, rest);
  }

  PostgresEngine& pg_;
  std::string table_;
  std::vector<std::string> columns_;
  std::string what_;
  std::string text_sql_, binary_sql_;  // COPY ... FROM STDIN, text and binary
  std::vector<TypeOid> types_;
  std::string buf_;  // rows not yet sent, at most a piece and a row
  bool open_ = false;
};

Result<std::unique_ptr<BulkInsert>> PostgresEngine::OpenInsert(
    const std::string& table, const std::vector<std::string>& columns,
    const std::vector<std::string>& /*key*/) {
  if (!conn_.in_transaction()) {
    return Fail(Code::kInternal, "{}: OpenInsert needs a transaction", What("write", table));
  }
  return std::make_unique<PgChunkCopy>(*this, table, columns);
}

Status PostgresEngine::Write(const std::string& table, const std::vector<std::string>& columns,
                             const std::vector<std::string>& key, const std::vector<Row>& rows,
                             WriteMode mode) {
  std::string what = What("write", table);
  if (rows.empty()) return Ok();
  TANDEM_RETURN_IF_ERROR(CheckWritable(what, columns, rows));

  if (mode == WriteMode::kInsert) {
    // The binary form when every value has one (the server then parses no text: a third
    // less of its CPU on a bulk load); else text. The first row tells for the types (a
    // column type without a binary writer); a later row that has none (an int2 out of
    // range, say) abandons the binary COPY, and the rows go again as text.
    TANDEM_ASSIGN_OR_RETURN(std::vector<TypeOid> types, ColumnTypes(what, table, columns));
    std::string copy_sql = CopyFromStdinSql(Table(table), columns);
    bool unencodable = !BinaryEncodable(types, rows[0]);
    auto binary = [&] {
      return StreamBinary(what, copy_sql + " (FORMAT binary)", types, rows, unencodable);
    };
    auto text = [&] { return CopyRows(what, copy_sql, rows, {}); };
    // Outside a transaction one COPY is atomic by itself.
    bool outer = conn_.in_transaction();
    if (!unencodable) {
      Status st = outer ? Atomically(what, binary) : binary();
      if (st || !unencodable) return st;
    }
    return outer ? Atomically(what, text) : text();
  }

  if (key.empty()) return Fail(Code::kInvalidArgument, "{}: upsert needs key columns", what);
  TANDEM_ASSIGN_OR_RETURN(std::vector<size_t> key_pos, Positions(what, key, columns));
  // ON CONFLICT cannot touch one row twice in a statement, so a batch keeps one row per key:
  // the last for upsert (last write wins), the first for insert-if-absent (first one lands).
  std::map<Row, size_t> by_key;
  for (size_t i = 0; i < rows.size(); ++i) {
    Row k;
    k.reserve(key_pos.size());
    for (size_t p : key_pos) k.push_back(rows[i][p]);
    auto [it, added] = by_key.emplace(std::move(k), i);
    if (!added && mode == WriteMode::kUpsert) it->second = i;
  }
  std::vector<size_t> order;
  if (by_key.size() != rows.size()) {
    order.reserve(by_key.size());
    for (const auto& [k, i] : by_key) order.push_back(i);
    std::sort(order.begin(), order.end());
  }

  std::string target = Table(table);
  std::string stage = StageName(target, columns);
  bool outer = conn_.in_transaction();
  return Atomically(what, [&]() -> Status {
    // The stage empties at every commit; only inside a caller's transaction can an earlier
    // Write have left rows in it.
    std::string sql = CreateStageSql(stage, target, columns);
    if (outer) sql += "; TRUNCATE pg_temp." + QuoteIdent(stage);
    TANDEM_RETURN_IF_ERROR(conn_.Exec(what, sql));
    TANDEM_RETURN_IF_ERROR(
        CopyRows(what, CopyFromStdinSql("pg_temp." + QuoteIdent(stage), columns), rows, order));
    TANDEM_RETURN_IF_ERROR(conn_.Exec(what, MergeFromStageSql(target, stage, columns, key, mode)));
    return Ok();
  });
}

Status PostgresEngine::Remove(const std::string& table, const std::vector<std::string>& key,
                              const std::vector<Row>& keys) {
  std::string what = What("remove from", table);
  if (key.empty()) return Fail(Code::kInvalidArgument, "{}: no key columns given", what);
  if (keys.empty()) return Ok();
  size_t per = std::max<size_t>(1, kParamsPerStatement / key.size());
  auto run = [&]() -> Status {
    for (size_t start = 0; start < keys.size(); start += per) {
      size_t count = std::min(per, keys.size() - start);
      TANDEM_ASSIGN_OR_RETURN(auto params, KeyBatchParams(what, key.size(), keys, start, count));
      TANDEM_RETURN_IF_ERROR(
          conn_.ExecParams(what, DeleteKeysSql(Table(table), key, count), params));
    }
    return Ok();
  };
  if (keys.size() <= per && !conn_.in_transaction()) return run();
  return Atomically(what, run);
}

Status PostgresEngine::RemoveRange(const std::string& table, const std::vector<std::string>& key,
                                   const KeyRange& range) {
  std::string what = What("remove range from", table);
  if (range.lower || range.upper) TANDEM_RETURN_IF_ERROR(CheckRange(what, key, range));
  std::vector<Param> params;
  AppendRange(range, params);
  TANDEM_RETURN_IF_ERROR(conn_.ExecParams(
      what, DeleteRangeSql(Table(table), key, range.lower.has_value(), range.upper.has_value()),
      params));
  return Ok();
}

namespace {

std::vector<bool> JsonColumns(const std::vector<TypeOid>& types) {
  std::vector<bool> out;
  for (TypeOid t : types) out.push_back(t == kJsonOid);
  return out;
}

}  // namespace

Result<std::vector<int64_t>> PostgresEngine::CountImages(const std::string& table,
                                                         const std::vector<std::string>& columns,
                                                         const std::vector<Row>& images) {
  std::string what = What("count rows equal to images in", table);
  std::vector<int64_t> out;
  if (images.empty()) return out;
  TANDEM_ASSIGN_OR_RETURN(std::vector<TypeOid> types, ColumnTypes(what, table, columns));
  std::string sql = CountImageSql(Table(table), columns, JsonColumns(types));
  for (const Row& image : images) {
    if (image.size() != columns.size()) {
      return Fail(Code::kInvalidArgument, "{}: an image has {} values for {} columns", what,
                  image.size(), columns.size());
    }
    TANDEM_ASSIGN_OR_RETURN(PgResult res, conn_.ExecParams(what, sql, KeyParams(image)));
    int64_t n = 0;
    if (res.rows() != 1 || !ParseNumber(res.value(0, 0), n)) {
      return Fail(Code::kInternal, "{}: unexpected count result", what);
    }
    out.push_back(n);
  }
  return out;
}

Status PostgresEngine::RemoveImage(const std::string& table, const std::vector<std::string>& columns,
                                   const Row& image, int64_t n) {
  std::string what = What("remove rows equal to an image from", table);
  if (n <= 0) return Ok();
  if (image.size() != columns.size()) {
    return Fail(Code::kInvalidArgument, "{}: the image has {} values for {} columns", what,
                image.size(), columns.size());
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<TypeOid> types, ColumnTypes(what, table, columns));
  std::vector<Param> params = KeyParams(image);
  params.push_back(ParamText(Value::Int(n)));
  TANDEM_RETURN_IF_ERROR(
      conn_.ExecParams(what, RemoveImageSql(Table(table), columns, JsonColumns(types)), params));
  return Ok();
}

Status PostgresEngine::CreateTable(const TableSchema& table) {
  TANDEM_RETURN_IF_ERROR(
      conn_.Exec(What("create table", table.name), CreateTableSql(schema_, table)));
  return Ok();
}

// Only what notices a changed table: names, types, nullability, generated.
Result<std::vector<Column>> PostgresEngine::DescribeColumns(const std::string& table) {
  TANDEM_ASSIGN_OR_RETURN(PgResult cols, conn_.ExecParams(What("describe", table),
                                                          DescribeColumnsSql(), {schema_, table}));
  if (cols.rows() == 0) return Fail(Code::kNotFound, "postgres: table {}.{} not found", schema_, table);
  std::vector<Column> out;
  for (int r = 0; r < cols.rows(); ++r) {
    Column c;
    c.name = std::string(cols.value(r, 0));
    c.engine_type = std::string(cols.value(r, 1));
    c.nullable = cols.value(r, 2) != "t";
    c.generated = cols.value(r, 3) == "t";
    TypeOid oid = 0;
    int typmod = -1;
    ParseNumber(cols.value(r, 4), oid);
    ParseNumber(cols.value(r, 5), typmod);
    c.type = PortableFromPg(oid, typmod);
    out.push_back(std::move(c));
  }
  return out;
}

Status PostgresEngine::AddColumn(const std::string& table, const Column& column) {
  TANDEM_RETURN_IF_ERROR(conn_.Exec(What("add column " + QuoteIdent(column.name) + " to", table),
                                    AddColumnSql(schema_, table, column)));
  return Ok();
}

// ---- transactions -------------------------------------------------------------------------

Status PostgresEngine::Begin() {
  if (conn_.in_transaction()) {
    return Fail(Code::kFailedPrecondition, "postgres begin: a transaction is already open");
  }
  TANDEM_RETURN_IF_ERROR(conn_.Exec("postgres begin", "BEGIN"));
  settings_in_txn_ = false;
  return Ok();
}

Status PostgresEngine::Commit() {
  if (!conn_.in_transaction()) {
    return Fail(Code::kFailedPrecondition, "postgres commit: no transaction is open");
  }
  auto res = conn_.Exec("postgres commit", "COMMIT");
  bool committed = res && res->command_status() == "COMMIT";
  if (!committed && settings_in_txn_) (void)SetCaptureSuppressed(suppressed_);
  settings_in_txn_ = false;
  if (!res) return std::unexpected(std::move(res.error()));
  if (!committed) {
    // COMMIT of a failed transaction answers ROLLBACK instead of an error.
    return Fail(Code::kAborted, "postgres commit: the transaction had failed and was rolled back");
  }
  return Ok();
}

Status PostgresEngine::Rollback() {
  if (!conn_.in_transaction()) return Ok();  // nothing open: nothing to undo
  TANDEM_RETURN_IF_ERROR(conn_.Exec("postgres rollback", "ROLLBACK"));
  // A setting changed inside the transaction was rolled back with it; the caller asked for it
  // for the session, so set it again.
  if (settings_in_txn_) {
    settings_in_txn_ = false;
    TANDEM_RETURN_IF_ERROR(SetCaptureSuppressed(suppressed_));
  }
  return Ok();
}

// ---- capture suppression ------------------------------------------------------------------

Status PostgresEngine::SetCaptureSuppressed(bool suppressed) {
  std::string what = "postgres set capture suppressed";
  if (conn_.transaction_failed()) {
    return Fail(Code::kAborted, "{}: the transaction has already failed; roll it back", what);
  }
  // Session-wide (is_local = false); inside a transaction it still applies to the rest of it.
  std::string sql = fmt::format("SELECT set_config({}, {}, false)",
                                QuoteLiteral(kCaptureOffSetting), suppressed ? "'on'" : "'off'");
  if (can_replica_) {
    sql += suppressed ? "; SET session_replication_role = replica"
                      : "; SET session_replication_role = DEFAULT";
  }
  TANDEM_RETURN_IF_ERROR(conn_.Exec(what, sql));
  suppressed_ = suppressed;
  if (conn_.in_transaction()) settings_in_txn_ = true;
  return Ok();
}

}  // namespace pg
}  // namespace tandem
