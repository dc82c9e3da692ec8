// A small RAII layer over the SQLite C API, shared by the SQLite engine and the state store
// (src/state). It owns the connection and statement handles and converts between SQLite storage
// classes and tandem Values; it knows nothing about migrations.
//
// Reading reports what SQLite stored (INTEGER -> Int, REAL -> Float, TEXT -> Text,
// BLOB -> Bytes, NULL -> Null), never a conversion by declared type. Binding turns each Value
// kind into the storage class that keeps it (see Statement::Bind).
//
// Errors carry "sqlite: <sqlite3_errmsg>" (callers add what they were doing) and a Code derived
// from the result code: SQLITE_BUSY/LOCKED/INTERRUPT -> kAborted (retry the unit of work),
// constraint and type mismatches -> kInvalidArgument, "no such table/column" -> kNotFound,
// read-only or full disk -> kFailedPrecondition, I/O errors -> kUnavailable, corruption ->
// kDataLoss, the rest kInternal.
//
// Not thread-safe: one Database (and its Statements) per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/error.h"
#include "tandem/value.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tandem::sqlite {

// One prepared statement. Move-only; finalizes its handle. A Statement borrows the connection
// of the Database that prepared it.
// REQUIRES: the Database outlives every Statement it prepared.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  bool valid() const { return stmt_ != nullptr; }

  // Binds parameter `index` (1-based). Bool -> integer 0/1; Int -> int64; Float -> double
  // (NaN as the text 'NaN', since SQLite would store NULL); Decimal -> its digits as text (the
  // column affinity converts); Text/Json -> text; Bytes -> blob; Date/Time/Timestamp ->
  // ISO text; TimestampTz -> 'YYYY-MM-DD HH:MM:SS[.ffffff]+00:00'; Uuid -> 8-4-4-4-12 text.
  Status Bind(int index, const Value& v);
  // The number of parameters (the largest index) and the name of parameter `index` (1-based)
  // as written, ":name" or "?7"; "" for a bare `?`. For statements built around user SQL (the
  // mapping's expressions), which bind each parameter by what it names.
  int ParameterCount() const;
  std::string ParameterName(int index) const;

  // Binds params[i] to parameter i+1.
  Status BindAll(const Row& params);
  // Binds params[i] to parameter first+i (1-based `first`).
  Status BindFrom(int first, const Row& params);

  // Runs one step: true when a row is ready to read, false when the statement is done.
  Result<bool> Step();
  // Resets the statement for another run and clears its bindings. Releases the read snapshot
  // a half-read SELECT holds.
  void Reset();

  int ColumnCount() const;
  // The value of column `i` (0-based) of the current row, as stored.
  Value Column(int i) const;
  // All columns of the current row.
  Row ReadRow() const;
  // The same, into existing Values (keeping their string buffers).
  void ColumnInto(int i, Value& out) const;
  void ReadRowInto(Row& row) const;

  // Steps to the end collecting every row, then resets.
  Result<std::vector<Row>> ReadAll();

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  Error Failure(int rc, std::string_view step) const;

  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
};

// One connection to a database file. Move-only; closes the connection.
class Database {
 public:
  // Opens (creating it when missing) the database file at `path` with WAL journaling,
  // a 10-second busy timeout and extended result codes. The parent directory must exist.
  static Result<Database> Open(const std::string& path);

  Database() = default;
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  bool valid() const { return db_ != nullptr; }
  const std::string& path() const { return path_; }
  // The main database's file as SQLite resolved it (an absolute path); "" for a database in
  // memory or a temporary one.
  std::string FileName() const;

  // Runs one or more statements without parameters or results (DDL, BEGIN, pragmas).
  Status Exec(std::string_view sql);
  // Prepares one statement for repeated use.
  Result<Statement> Prepare(std::string_view sql);
  // Runs one statement with `params` bound to ?1..?n and returns every row.
  Result<std::vector<Row>> Query(std::string_view sql, const Row& params = {});
  // Runs one statement with `params` and returns the number of rows it changed.
  Result<int64_t> Execute(std::string_view sql, const Row& params = {});
  // Bulk load (docs/decisions.md, "SQLite -> SQLite"): while a backfill alone writes the
  // file and nothing but tandem reads it, the rollback journal instead of WAL, which writes
  // every page twice (the log, then the checkpoint). BeginBulkLoad: false, with nothing
  // changed, when another connection has the file open (leaving WAL needs it alone). While it
  // lasts a marker beside the file (its name and "-tandem-bulk", holding this process's id)
  // tells tandem's other connections, which then open the file as it is instead of waiting to
  // switch it back to WAL; reads wait for the load's commits (the busy timeout). EndBulkLoad:
  // WAL again, the marker removed. A load killed before its end leaves a marker whose process
  // is gone: the next Open removes it and switches the file to WAL as always.
  Result<bool> BeginBulkLoad();
  Status EndBulkLoad();
  // The rowid of the last successful INSERT on this connection.
  int64_t LastInsertRowid() const;
  // True when a transaction is open (BEGIN without COMMIT/ROLLBACK, or SQLite has not
  // rolled it back by itself after an error).
  bool InTransaction() const;

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Error Failure(int rc, std::string_view step) const;
  // PRAGMA journal_mode=<mode>: the mode in effect after it (SQLite keeps the old one when it
  // cannot switch).
  Result<std::string> JournalMode(std::string_view mode);

  sqlite3* db_ = nullptr;
  std::string path_;
};

// Maps a SQLite result code to what the caller should do next (see the top of this file).
Code CodeForSqlite(int rc, std::string_view message);

}  // namespace tandem::sqlite
