#include "engines/sqlite/database.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <utility>

namespace tandem::sqlite {

Code CodeForSqlite(int rc, std::string_view message) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_INTERRUPT:
      return Code::kAborted;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return Code::kInvalidArgument;
    case SQLITE_READONLY:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Code::kFailedPrecondition;
    case SQLITE_IOERR:
    case SQLITE_PROTOCOL:
      return Code::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Code::kDataLoss;
    case SQLITE_ERROR:
      if (message.starts_with("no such table") || message.starts_with("no such column")) {
        return Code::kNotFound;
      }
      return Code::kInternal;
    default:
      return Code::kInternal;
  }
}

namespace {

Error MakeError(int rc, sqlite3* db, std::string_view step) {
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (step.empty()) return Error{CodeForSqlite(rc, msg), fmt::format("sqlite: {}", msg)};
  return Error{CodeForSqlite(rc, msg), fmt::format("sqlite: {}: {}", step, msg)};
}

// Text bound to a statement must outlive it unless copied; every payload here is either a
// temporary or owned by the caller's Row, so SQLite copies it.
int BindText(sqlite3_stmt* s, int i, const std::string& t) {
  return sqlite3_bind_text64(s, i, t.data(), t.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

}  // namespace

// ---- Statement -------------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), db_(std::exchange(other.db_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Error Statement::Failure(int rc, std::string_view step) const { return MakeError(rc, db_, step); }

Status Statement::Bind(int index, const Value& v) {
  int rc = SQLITE_OK;
  switch (v.kind()) {
    case Kind::kNull:
      rc = sqlite3_bind_null(stmt_, index);
      break;
    case Kind::kBool:
      rc = sqlite3_bind_int64(stmt_, index, v.as_bool() ? 1 : 0);
      break;
    case Kind::kInt:
      rc = sqlite3_bind_int64(stmt_, index, v.as_int());
      break;
    case Kind::kFloat:
      // sqlite3_bind_double stores NaN as NULL; the text keeps it and CastTo reads it back.
      if (std::isnan(v.as_float())) {
        rc = BindText(stmt_, index, "NaN");
      } else {
        rc = sqlite3_bind_double(stmt_, index, v.as_float());
      }
      break;
    case Kind::kDecimal:
    case Kind::kText:
    case Kind::kJson:
      rc = BindText(stmt_, index, v.as_str());
      break;
    case Kind::kBytes:
      rc =
          sqlite3_bind_blob64(stmt_, index, v.as_str().data(), v.as_str().size(), SQLITE_TRANSIENT);
      break;
    case Kind::kDate:
      rc = BindText(stmt_, index, FormatDate(static_cast<int32_t>(v.as_int())));
      break;
    case Kind::kTime:
      rc = BindText(stmt_, index, FormatTime(v.as_int()));
      break;
    case Kind::kTimestamp:
      rc = BindText(stmt_, index, FormatTimestamp(v.as_int()));
      break;
    case Kind::kTimestampTz:
      rc = BindText(stmt_, index, FormatTimestamp(v.as_int()) + "+00:00");
      break;
    case Kind::kUuid:
      rc = BindText(stmt_, index, FormatUuid(v.as_str()));
      break;
    case Kind::kUndecodable:  // never reaches a writer: every cast refuses it
      return Fail(Code::kInvalidArgument, "bind ?{}: {}", index, v.as_str());
  }
  if (rc != SQLITE_OK) return std::unexpected(Failure(rc, fmt::format("bind ?{}", index)));
  return Ok();
}

int Statement::ParameterCount() const { return sqlite3_bind_parameter_count(stmt_); }

std::string Statement::ParameterName(int index) const {
  const char* name = sqlite3_bind_parameter_name(stmt_, index);
  return name ? std::string(name) : std::string();
}

Status Statement::BindAll(const Row& params) { return BindFrom(1, params); }

Status Statement::BindFrom(int first, const Row& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(Bind(first + static_cast<int>(i), params[i]));
  }
  return Ok();
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error e = Failure(rc, "");
  // A failed statement must be reset before it can run again.
  sqlite3_reset(stmt_);
  return std::unexpected(std::move(e));
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }

Value Statement::Column(int i) const {
  switch (sqlite3_column_type(stmt_, i)) {
    case SQLITE_INTEGER:
      return Value::Int(sqlite3_column_int64(stmt_, i));
    case SQLITE_FLOAT:
      return Value::Float(sqlite3_column_double(stmt_, i));
    case SQLITE_TEXT: {
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
      int n = sqlite3_column_bytes(stmt_, i);
      return Value::Text(p ? std::string(p, n) : std::string());
    }
    case SQLITE_BLOB: {
      // A zero-length blob comes back as a null pointer.
      auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
      int n = sqlite3_column_bytes(stmt_, i);
      return Value::Bytes(p ? std::string(p, n) : std::string());
    }
    default:
      return Value::Null();
  }
}

void Statement::ColumnInto(int i, Value& out) const {
  switch (sqlite3_column_type(stmt_, i)) {
    case SQLITE_INTEGER:
      out.SetInt(Kind::kInt, sqlite3_column_int64(stmt_, i));
      return;
    case SQLITE_FLOAT:
      out.SetFloat(sqlite3_column_double(stmt_, i));
      return;
    case SQLITE_TEXT: {
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
      int n = sqlite3_column_bytes(stmt_, i);
      // Checked here, where the bytes are in cache: SQLite stores any bytes as TEXT, and the
      // mapping's cast takes a checked text as it is.
      out.SetStrAndCheck(Kind::kText, p ? std::string_view(p, n) : std::string_view());
      return;
    }
    case SQLITE_BLOB: {
      auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
      int n = sqlite3_column_bytes(stmt_, i);
      out.SetStr(Kind::kBytes, p ? std::string_view(p, n) : std::string_view());
      return;
    }
    default:
      out.SetNull();
  }
}

void Statement::ReadRowInto(Row& row) const {
  int n = ColumnCount();
  row.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ColumnInto(i, row[i]);
}

Row Statement::ReadRow() const {
  int n = ColumnCount();
  Row row;
  row.reserve(n);
  for (int i = 0; i < n; ++i) row.push_back(Column(i));
  return row;
}

Result<std::vector<Row>> Statement::ReadAll() {
  std::vector<Row> rows;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool more, Step());
    if (!more) break;
    rows.push_back(ReadRow());
  }
  Reset();
  return rows;
}

// ---- Database --------------------------------------------------------------------------

namespace {

constexpr int kBusyTimeoutMs = 10000;

std::string BulkMarker(const std::string& file) { return file + "-tandem-bulk"; }

// True when the bulk-load marker of `file` names a process that is alive; a marker whose
// process is gone (killed during a load) is removed.
bool BulkLoadUnderWay(const std::string& file) {
  if (file.empty()) return false;
  std::string marker = BulkMarker(file);
  std::ifstream in(marker);
  if (!in) return false;
  long pid = 0;
  in >> pid;
  if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) return true;
  std::error_code ec;
  std::filesystem::remove(marker, ec);
  return false;
}

}  // namespace

Result<Database> Database::Open(const std::string& path) {
  // Memory statistics take a global mutex on every allocation; with a reader and a writer
  // thread copying at once that mutex is contended. Must run before SQLite initialises.
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
  sqlite3* raw = nullptr;
  // NOMUTEX: a connection is used by one thread at a time (the Engine contract), so SQLite's
  // per-call connection mutex is pure cost: three lock/unlock pairs per column read, a tenth
  // of a copy's CPU in perf. URI: so that ATTACH takes a file: URI (the pass-through attaches
  // its source with mode=ro); a path is read as before.
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                               SQLITE_OPEN_URI,
                           nullptr);
  // sqlite3_open_v2 hands back a handle even on failure; the Database closes it either way.
  Database db(raw, path);
  if (rc != SQLITE_OK) {
    Error e = MakeError(rc, raw, "open " + path);
    return std::unexpected(std::move(e));
  }
  sqlite3_extended_result_codes(raw, 1);
  // A double-quoted name that is no column must be an error, not the string literal SQLite
  // takes it for by default: a read of a column dropped under the migration then fails (and
  // the follower holds the table) instead of returning the column's name as its value.
  sqlite3_db_config(raw, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  // Writers wait for each other instead of failing at once; 10 s covers a long chunk commit.
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  // Bulk work: a 32 MiB page cache (the default 2 MiB makes a large copy re-read pages).
  // No mmap: mapped pages count as resident memory, and bought little (measured).
  if (auto st = db.Exec("PRAGMA cache_size=-32768"); !st) {
    return std::unexpected(st.error());
  }
  // A tandem backfill is loading this file in rollback-journal mode (BeginBulkLoad): read it
  // as it is; the load switches it back to WAL when it ends.
  if (BulkLoadUnderWay(db.FileName())) return db;
  // WAL lets the application keep reading while tandem writes, and the reverse.
  // WAL is a property of the file, so this also switches the application's connections;
  // switching needs a moment without other writers, hence the busy timeout first.
  auto mode = db.JournalMode("WAL");
  if (!mode) {
    Error e = std::move(mode.error());
    e.message = fmt::format("sqlite: open {}: enable WAL: {}", path, e.message.substr(8));
    return std::unexpected(std::move(e));
  }
  // In-memory databases answer "memory"; anything else that is not WAL means the file could
  // not switch (e.g. a read-only directory).
  const std::string& got = *mode;
  if (got != "wal" && got != "memory") {
    return Fail(Code::kFailedPrecondition, "sqlite: open {}: cannot enable WAL (journal_mode={})",
                path, got);
  }
  return db;
}

Result<bool> Database::BeginBulkLoad() {
  std::string file = FileName();
  if (file.empty()) return false;
  if (InTransaction()) {
    return Fail(Code::kFailedPrecondition, "sqlite: bulk load {}: a transaction is open", path_);
  }
  std::string marker = BulkMarker(file);
  {
    std::ofstream out(marker, std::ios::trunc);
    out << ::getpid() << "\n";
    if (!out.flush()) return false;  // a directory tandem cannot write: stay in WAL
  }
  // No wait: leaving WAL needs the file to itself, and another connection holding it open is
  // the answer (stay in WAL), not something to wait for.
  sqlite3_busy_timeout(db_, 0);
  auto mode = JournalMode("DELETE");
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  if (mode && *mode == "delete") return true;
  std::error_code ec;
  std::filesystem::remove(marker, ec);
  return false;
}

Status Database::EndBulkLoad() {
  auto mode = JournalMode("WAL");
  std::error_code ec;
  std::filesystem::remove(BulkMarker(FileName()), ec);
  if (!mode) {
    Error e = std::move(mode.error());
    e.message = fmt::format("sqlite: end the bulk load of {}: enable WAL: {}", path_,
                            e.message.substr(8));
    return std::unexpected(std::move(e));
  }
  if (*mode != "wal") {
    return Fail(Code::kFailedPrecondition,
                "sqlite: end the bulk load of {}: cannot enable WAL (journal_mode={})", path_,
                *mode);
  }
  return Ok();
}

Result<std::string> Database::JournalMode(std::string_view mode) {
  TANDEM_ASSIGN_OR_RETURN(auto rows, Query("PRAGMA journal_mode=" + std::string(mode)));
  if (rows.empty() || rows[0].empty() || rows[0][0].kind() != Kind::kText) {
    return Fail(Code::kInternal, "sqlite: {}: journal_mode returned nothing", path_);
  }
  return rows[0][0].as_str();
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

// close_v2 defers the close until every statement is finalized, so a stray Statement cannot
// make the close fail and leak the handle.
Database::~Database() { sqlite3_close_v2(db_); }

Error Database::Failure(int rc, std::string_view step) const { return MakeError(rc, db_, step); }

Status Database::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return std::unexpected(Error{CodeForSqlite(rc, msg), fmt::format("sqlite: {}", msg)});
  }
  return Ok();
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return std::unexpected(Failure(rc, ""));
  }
  if (stmt == nullptr) return Fail(Code::kInternal, "sqlite: prepare: empty statement");
  return Statement(stmt, db_);
}

Result<std::vector<Row>> Database::Query(std::string_view sql, const Row& params) {
  TANDEM_ASSIGN_OR_RETURN(Statement st, Prepare(sql));
  TANDEM_RETURN_IF_ERROR(st.BindAll(params));
  return st.ReadAll();
}

Result<int64_t> Database::Execute(std::string_view sql, const Row& params) {
  TANDEM_ASSIGN_OR_RETURN(Statement st, Prepare(sql));
  TANDEM_RETURN_IF_ERROR(st.BindAll(params));
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool more, st.Step());
    if (!more) break;
  }
  return sqlite3_changes64(db_);
}

std::string Database::FileName() const {
  const char* name = db_ ? sqlite3_db_filename(db_, "main") : nullptr;
  return name ? name : "";
}

int64_t Database::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

bool Database::InTransaction() const { return db_ && !sqlite3_get_autocommit(db_); }

}  // namespace tandem::sqlite
