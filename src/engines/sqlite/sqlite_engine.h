// The SQLite engine: tandem's Engine interface over one SQLite connection (database.h).
//
// SQLite types are loose, and this engine reports what is stored: an INTEGER column holding
// the text 'abc' reads back as Text, and the mapping's CastTo decides whether that fits.
// Writes use one prepared statement per call in one transaction; scans use keyset pages with
// row values ("(a, b) > (?, ?)"), which SQLite answers from the key's index.
//
// Capture (sqlite_capture.h) uses triggers that append to _tandem_changes. SQLite has one writer at a time, so
// sequence numbers are assigned in commit order and a reader never sees a gap fill in later;
// and a connection suppresses its own capture by keeping a row in _tandem_capture_off for the
// length of each of its write transactions, deleted again before COMMIT, so no other
// connection ever sees it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engines/sqlite/database.h"
#include "engines/sqlite/sqlite_dialect.h"
#include "tandem/engine.h"

namespace tandem::sqlite {

// Rewrites "sqlite: <words>" as "sqlite: <op> <table>: <words>".
inline Error In(Error e, std::string_view op, std::string_view table) {
  std::string_view words = e.message;
  if (words.starts_with("sqlite: ")) words.remove_prefix(8);
  if (table.empty()) {
    e.message = fmt::format("sqlite: {}: {}", op, words);
  } else {
    e.message = fmt::format("sqlite: {} {}: {}", op, table, words);
  }
  return e;
}

template <typename T>
Result<T> In(Result<T> r, std::string_view op, std::string_view table) {
  if (!r) return std::unexpected(In(std::move(r.error()), op, table));
  return r;
}

class SqliteEngine final : public Engine {
 public:
  // Opens (creating when missing) the database file at `path`.
  static Result<std::unique_ptr<SqliteEngine>> Open(const std::string& path);

  std::string_view kind() const override { return "sqlite"; }
  Status LimitCache(size_t bytes) override;
  std::string Describe() const override { return "sqlite:" + db_.path(); }

  Result<std::vector<TableSchema>> Introspect() override;
  // The reader borrows this connection. REQUIRES: the engine outlives the reader.
  Result<std::unique_ptr<RowReader>> Scan(const ScanRequest& req) override;
  Result<std::vector<Row>> Split(const std::string& table, const std::vector<std::string>& key,
                                 int n) override;
  Result<int64_t> Count(const std::string& table, const std::vector<std::string>& key,
                        const KeyRange& range) override;
  Result<std::vector<Row>> Fetch(const std::string& table, const std::vector<std::string>& columns,
                                 const std::vector<std::string>& key,
                                 const std::vector<Row>& keys) override;
  // Inside an open transaction a failed call is undone to a savepoint and the transaction
  // stays usable; outside one, the call is its own transaction.
  Status Write(const std::string& table, const std::vector<std::string>& columns,
               const std::vector<std::string>& key, const std::vector<Row>& rows,
               WriteMode mode) override;
  Status Remove(const std::string& table, const std::vector<std::string>& key,
                const std::vector<Row>& keys) override;
  Status RemoveRange(const std::string& table, const std::vector<std::string>& key,
                     const KeyRange& range) override;
  Result<std::vector<int64_t>> CountImages(const std::string& table,
                                           const std::vector<std::string>& columns,
                                           const std::vector<Row>& images) override;
  // DELETE ... WHERE rowid IN (SELECT rowid ... LIMIT n).
  Status RemoveImage(const std::string& table, const std::vector<std::string>& columns,
                     const Row& image, int64_t n) override;
  Status CreateTable(const TableSchema& table) override;
  Result<std::vector<Column>> DescribeColumns(const std::string& table) override;
  Status AddColumn(const std::string& table, const Column& column) override;
  Result<std::vector<UnmigratedObject>> ListUnmigrated() override;
  Result<std::vector<StoredClassCounts>> StoredClasses(const TableSchema& table) override;
  std::string CreateTableDdl(const TableSchema& table) const override;
  std::optional<Error> ValueRefusal(const Value& v, const PortableType& type) const override {
    return sqlite::ValueRefusal(v, type);
  }
  std::vector<std::string> ObjectDdl(const TableSchema& table,
                                     const SchemaObject& object) const override;
  Status BuildObject(const TableSchema& table, const SchemaObject& object) override;
  // The rowid alias (INTEGER PRIMARY KEY), if any: settable only with AUTOINCREMENT, whose
  // counter lives in sqlite_sequence. A plain rowid table takes max(rowid)+1 by itself, so
  // AdvanceSequence changes nothing there and says what the next value is.
  Result<std::vector<SequenceColumn>> SequenceColumns(const std::string& table) override;
  Result<std::optional<int64_t>> MaxInteger(const std::string& table,
                                            const std::string& column) override;
  Result<int64_t> AdvanceSequence(const SequenceColumn& seq, int64_t next) override;

  // Pass-through inside SQLite (docs/decisions.md, "Pass-through"): the target attaches the
  // source file read-only and copies a chunk with INSERT ... SELECT. A column's raw form is
  // its affinity (it alone decides how SQLite stores a value), so equal forms store every
  // value alike; there is no stream (RawShape::stream is false).
  Result<RawShape> RawShapeOf(const std::string& table,
                              const std::vector<std::string>& columns) override;
  // Attached as schema `tandem_source`, opened with mode=ro: a transaction of this
  // connection, BEGIN IMMEDIATE included, only ever reads the source (never takes its write
  // lock, so the application's writes to it go on).
  Result<bool> AttachSource(const Engine& source) override;
  Status DetachSource() override;
  Result<int64_t> CopyFromAttached(const ScanRequest& req, const std::string& table,
                                   const std::vector<std::string>& columns) override;

  // Database::BeginBulkLoad / EndBulkLoad on this connection.
  Result<bool> BeginBulkLoad() override;
  Status EndBulkLoad() override;

  // BEGIN IMMEDIATE: the write lock is taken at once, so a transaction never fails half-way
  // with SQLITE_BUSY on its first write. Rollback without an open transaction is a no-op.
  Status Begin() override;
  Status Commit() override;
  Status Rollback() override;

  // Marks this connection's writes as tandem's own so capture does not record them (see
  // the top of this file); called by SqliteTriggerCapture::SuppressOwnWrites.
  Status SetCaptureSuppressed(bool suppressed);

 private:
  // The trigger capture shares this connection and its transaction state.
  friend class SqliteTriggerCapture;

  explicit SqliteEngine(Database db) : db_(std::move(db)) {}

  // Runs `body` atomically: inside the open transaction under a savepoint, or in a
  // transaction of its own. Errors are reported as "sqlite: <op> <table>: ...".
  template <typename Body>
  Status Atomically(std::string_view op, std::string_view table, Body&& body);
  Status AtomicallyFn(std::string_view op, std::string_view table,
                      const std::function<Status()>& body);
  // Inserts (on) or deletes (off) this connection's row in _tandem_capture_off, when that
  // table exists. REQUIRES: a transaction is open.
  Status SetCaptureMarker(bool on);
  Result<bool> TableExists(std::string_view name);
  // `without_rowid` and `strict` as pragma_table_list says (its `wr` and `strict`).
  Result<TableSchema> IntrospectTable(const std::string& name, bool without_rowid, bool strict);

  Database db_;
  bool in_txn_ = false;      // Begin() succeeded and neither Commit() nor Rollback() ran
  bool suppressed_ = false;  // SetCaptureSuppressed(true)
  bool marker_ = false;      // the open transaction holds a _tandem_capture_off row
  int savepoints_ = 0;       // for unique savepoint names
  bool attached_ = false;    // AttachSource attached a source as tandem_source
  bool bulk_ = false;        // BeginBulkLoad switched the file out of WAL
};

}  // namespace tandem::sqlite
