// The PostgreSQL engine: one libpq connection shaped for bulk work (DESIGN.md "The Engine
// interface").
//
// Choices worth knowing:
// - Tables live in the connection's current_schema() (the first existing schema of its
//   search_path, `public` by default; a URI can pick another with
//   ?options=-csearch_path%3Dname). Other schemas are not read or written.
// - The session runs with TimeZone=UTC, DateStyle=ISO and bytea_output=hex so text values
//   decode the same whatever the server's defaults.
// - Scan is keyset pagination, one `SELECT ... WHERE (k) > (last) ORDER BY k LIMIT n` per
//   batch: memory stays at one batch, the connection is free between batches (a scan may be
//   interleaved with other calls on this engine, and an abandoned reader costs nothing), and
//   each page is an index range scan. The last key is bound back in the server's own text
//   form, so paging never depends on re-encoding a value.
// - Write uses COPY FROM STDIN, in binary format when every value of the batch has a binary
//   form for its column's type (see AppendBinaryField), else in text format. Upsert and
//   insert-if-absent COPY into a session-lifetime temporary stage and merge with
//   INSERT ... ON CONFLICT. Inside a caller's
//   transaction each Write runs under a savepoint, so a failed Write leaves the transaction
//   usable and nothing of the failed call visible.
// - Capture is trigger-based (pg_capture.h, which also holds the gap rule).
// - SetCaptureSuppressed(true) marks the session as tandem's applier: capture triggers skip
//   it and, when the role may set it, session_replication_role=replica turns off ordinary
//   triggers and foreign-key checks for it (DESIGN.md: a child row may arrive before its
//   parent). The two go together because replica mode also silences capture triggers, which
//   is right only for a session whose writes must not be captured anyway.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engines/postgres/pg_connection.h"
#include "engines/postgres/pg_dialect.h"
#include "engines/postgres/pg_values.h"
#include "tandem/engine.h"

namespace tandem::pg {

class PostgresEngine final : public Engine {
 public:
  static Result<std::unique_ptr<PostgresEngine>> Open(const std::string& uri,
                                                      const std::string& password);

  std::string_view kind() const override { return "postgres"; }
  std::string Describe() const override;

  Result<std::vector<TableSchema>> Introspect() override;
  // REQUIRES: the engine outlives the reader.
  Result<std::unique_ptr<RowReader>> Scan(const ScanRequest& req) override;
  Result<std::vector<Row>> Split(const std::string& table, const std::vector<std::string>& key,
                                 int n) override;
  Result<int64_t> Count(const std::string& table, const std::vector<std::string>& key,
                        const KeyRange& range) override;
  Result<int64_t> EstimateRows(const std::string& table, const std::vector<std::string>& key) override;
  Result<std::string> DigestForm(const std::string& table,
                                 const std::vector<std::string>& columns) override;
  Result<RangeDigest> DigestRange(const std::string& table, const std::vector<std::string>& columns,
                                  const std::vector<std::string>& key,
                                  const KeyRange& range) override;
  Result<std::vector<Row>> Fetch(const std::string& table, const std::vector<std::string>& columns,
                                 const std::vector<std::string>& key,
                                 const std::vector<Row>& keys) override;
  Status Write(const std::string& table, const std::vector<std::string>& columns,
               const std::vector<std::string>& key, const std::vector<Row>& rows,
               WriteMode mode) override;
  // One binary COPY for all the batches of a chunk (see PgChunkCopy).
  Result<std::unique_ptr<BulkInsert>> OpenInsert(const std::string& table,
                                                 const std::vector<std::string>& columns,
                                                 const std::vector<std::string>& key) override;
  Status Remove(const std::string& table, const std::vector<std::string>& key,
                const std::vector<Row>& keys) override;
  Status RemoveRange(const std::string& table, const std::vector<std::string>& key,
                     const KeyRange& range) override;
  Result<std::vector<int64_t>> CountImages(const std::string& table,
                                           const std::vector<std::string>& columns,
                                           const std::vector<Row>& images) override;
  // DELETE ... WHERE ctid IN (SELECT ctid ... LIMIT n).
  Status RemoveImage(const std::string& table, const std::vector<std::string>& columns,
                     const Row& image, int64_t n) override;
  Status CreateTable(const TableSchema& table) override;
  Result<std::vector<Column>> DescribeColumns(const std::string& table) override;
  Status AddColumn(const std::string& table, const Column& column) override;
  // Identity columns, serial columns and nextval() defaults of the table's schema. With
  // CACHE > 1, a session that fetched values before a move may still hand them out: setval
  // does not recall them (the application's sessions are gone while writes are frozen).
  Result<std::vector<SequenceColumn>> SequenceColumns(const std::string& table) override;
  Result<std::optional<int64_t>> MaxInteger(const std::string& table,
                                            const std::string& column) override;
  // setval(seq, next, false) in one statement that also checks it moves forward.
  Result<int64_t> AdvanceSequence(const SequenceColumn& seq, int64_t next) override;

  // Pass-through between PostgreSQL databases: binary COPY passed on as the server sent it
  // (docs/decisions.md, "Pass-through"). A column travels raw when its type, or a domain's
  // innermost base type, is an enum (its binary form is the label) or a built-in type with
  // binary I/O that is not composite (an array of a user type or a composite names type OIDs
  // in its binary form, which differ between databases). The format names the server's major
  // version, and each column's name, format_type with typmod, domain bases, collation and enum
  // labels.
  Result<RawShape> RawShapeOf(const std::string& table,
                              const std::vector<std::string>& columns) override;
  // COPY (SELECT ... ORDER BY key) TO STDOUT (FORMAT binary), its messages handed on in pieces
  // of up to 128 KiB (or batch_bytes, when smaller). REQUIRES: the engine outlives the reader.
  Result<std::unique_ptr<RawReader>> ScanRaw(const ScanRequest& req) override;
  // COPY ... FROM STDIN (FORMAT binary) of every piece, under a savepoint inside a caller's
  // transaction (see Write). A stream that fails on the reading side is abandoned
  // (PQputCopyEnd with an error: nothing of it lands).
  Result<int64_t> WriteRaw(const std::string& table, const std::vector<std::string>& columns,
                           RawReader& from) override;

  Status Begin() override;
  Status Commit() override;
  Status Rollback() override;

  // Marks the session as tandem's applier (see the top of this file); called by
  // PgTriggerCapture::SuppressOwnWrites. It lasts for the session: a rollback that undoes
  // the setting sets it again.
  Status SetCaptureSuppressed(bool suppressed);
  bool ConnectionLost() const override { return conn_.lost(); }
  // Opens a new connection with the URI and password of Open, then ApplySessionSettings and
  // the last SetCaptureSuppressed; the old connection is closed only once the new one works.
  Status Reconnect() override;

  Result<std::vector<UnmigratedObject>> ListUnmigrated() override;
  std::string CreateTableDdl(const TableSchema& table) const override;
  std::optional<Error> ValueRefusal(const Value& v, const PortableType& type) const override {
    return pg::ValueRefusal(v, type);
  }
  std::vector<std::string> ObjectDdl(const TableSchema& table,
                                     const SchemaObject& object) const override;
  Status BuildObject(const TableSchema& table, const SchemaObject& object) override;

  // The schema this engine reads and writes.
  const std::string& schema() const { return schema_; }

 private:
  // The trigger capture shares this connection (pg_capture.h).
  friend class PgTriggerCapture;
  // A chunk's inserts share this connection's COPY (OpenInsert).
  friend class PgChunkCopy;

  PostgresEngine(PgConnection conn, std::string uri, std::string password)
      : conn_(std::move(conn)), uri_(std::move(uri)), password_(std::move(password)) {}

  std::string Table(const std::string& name) const;
  // "postgres <op> <table>" for messages.
  std::string What(std::string_view op, std::string_view table) const;
  // Runs `body` atomically: under a savepoint inside a caller's transaction, else in its own
  // transaction. On failure everything `body` did is rolled back and its error returned.
  template <typename Fn>
  Status Atomically(std::string_view what, Fn&& body);
  Status AtomicallyFn(std::string_view what, const std::function<Status()>& body);
  // Streams rows (only those listed in `order`, or all when empty) through COPY `copy_sql`.
  Status CopyRows(std::string_view what, const std::string& copy_sql, const std::vector<Row>& rows,
                  const std::vector<size_t>& order);
  // Every row has a value for each of `columns`, and no text holds a NUL byte (PostgreSQL text
  // cannot store one): kInvalidArgument naming the column and value, before anything is sent.
  Status CheckWritable(std::string_view what, const std::vector<std::string>& columns,
                       const std::vector<Row>& rows) const;
  // The type of each of `columns` of `table`.
  Result<std::vector<TypeOid>> ColumnTypes(std::string_view what, const std::string& table,
                                           const std::vector<std::string>& columns);
  // True when every value of `row` has a binary form for its column's type.
  bool BinaryEncodable(const std::vector<TypeOid>& types, const Row& row);
  // Sends `rows` through COPY `copy_sql` (FORMAT binary), encoding a piece while the server
  // parses the one before: encoding a whole batch first left the server idle meanwhile
  // (docs/decisions.md, "Speed"). When a value has no binary form the COPY is abandoned
  // (nothing of it lands) and `unencodable` is set: the caller writes the rows as text.
  Status StreamBinary(std::string_view what, const std::string& copy_sql,
                      const std::vector<TypeOid>& types, const std::vector<Row>& rows,
                      bool& unencodable);
  // pg_class.reltuples, or -1 when the table was never analysed.
  Result<int64_t> PlannerEstimate(std::string_view what, const std::string& table);
  Status ApplySessionSettings();

  PgConnection conn_;
  std::string uri_;
  std::string password_;  // used only when the URI has none (see PgConnection::Open)
  std::string schema_;
  // Whether this role may set session_replication_role (superuser, or granted in PG 15+).
  bool can_replica_ = false;
  int major_version_ = 0;  // server_version_num / 10000, read at connect
  bool suppressed_ = false;
  // True when SetCaptureSuppressed ran inside the open transaction, whose rollback undoes it.
  bool settings_in_txn_ = false;

  std::string copy_buf_;  // a piece of a batch in COPY binary format, reused between writes
  // DigestForm's choice per table and columns (DigestKey): each column's binary output
  // function, or none for the row's text form.
  std::map<std::string, std::vector<std::string>> digest_send_;
  static std::string DigestKey(const std::string& table, const std::vector<std::string>& columns);
};

}  // namespace tandem::pg
