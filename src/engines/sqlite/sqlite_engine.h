// The SQLite engine: tandem's Engine interface over one SQLite connection (database.h).
//
// SQLite types are loose, and this engine reports what is stored: an INTEGER column holding
// the text 'abc' reads back as Text, and the mapping's CastTo decides whether that fits.
// Writes use one prepared statement per call in one transaction; scans use keyset pages with
// row values ("(a, b) > (?, ?)"), which SQLite answers from the key's index.
//
// Capture uses triggers that append to _tandem_changes. SQLite has one writer at a time, so
// sequence numbers are assigned in commit order and a reader never sees a gap fill in later;
// and a connection suppresses its own capture by keeping a row in _tandem_capture_off for the
// length of each of its write transactions, deleted again before COMMIT, so no other
// connection ever sees it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engines/sqlite/database.h"
#include "tandem/engine.h"

namespace tandem::sqlite {

class SqliteEngine final : public Engine {
 public:
  // Opens (creating when missing) the database file at `path`.
  static Result<std::unique_ptr<SqliteEngine>> Open(const std::string& path);

  std::string_view kind() const override { return "sqlite"; }
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
  Status CreateTable(const TableSchema& table) override;

  // BEGIN IMMEDIATE: the write lock is taken at once, so a transaction never fails half-way
  // with SQLITE_BUSY on its first write. Rollback without an open transaction is a no-op.
  Status Begin() override;
  Status Commit() override;
  Status Rollback() override;

  Status InstallCapture(const std::vector<CaptureTable>& tables) override;
  Result<std::vector<Change>> ReadChanges(int64_t after, size_t limit) override;
  Result<int64_t> LastChangeSeq() override;
  Status PruneChanges(int64_t upto) override;
  Status RemoveCapture() override;
  Status SetCaptureSuppressed(bool suppressed) override;

 private:
  explicit SqliteEngine(Database db) : db_(std::move(db)) {}

  // Runs `body` atomically: inside the open transaction under a savepoint, or in a
  // transaction of its own. Errors are reported as "sqlite: <op> <table>: ...".
  template <typename Body>
  Status Atomically(std::string_view op, std::string_view table, Body&& body);
  // Inserts (on) or deletes (off) this connection's row in _tandem_capture_off, when that
  // table exists. REQUIRES: a transaction is open.
  Status SetCaptureMarker(bool on);
  Result<bool> TableExists(std::string_view name);
  Result<TableSchema> IntrospectTable(const std::string& name, bool without_rowid);

  Database db_;
  bool in_txn_ = false;      // Begin() succeeded and neither Commit() nor Rollback() ran
  bool suppressed_ = false;  // SetCaptureSuppressed(true)
  bool marker_ = false;      // the open transaction holds a _tandem_capture_off row
  int savepoints_ = 0;       // for unique savepoint names
};

}  // namespace tandem::sqlite
