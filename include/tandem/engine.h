// The Engine interface: the one seam between tandem and a database (DESIGN.md).
// An Engine is one connection, shaped for bulk work. It is not thread-safe: use one per
// thread. Nothing above src/engines/ sees a driver header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tandem/schema.h"
#include "tandem/value.h"

namespace tandem {

// A half-open-or-closed range of keys in key order. An absent bound is open-ended.
// Rows with lower < key <= upper are in the range (lower exclusive, upper inclusive), which
// lets consecutive chunks share boundaries without overlap.
struct KeyRange {
  std::optional<Row> lower;  // exclusive
  std::optional<Row> upper;  // inclusive
  bool Contains(const Row& key) const;
};

// Splits the whole key space at `bounds` (ascending): n bounds give n+1 ranges, the first and
// last open-ended, so a key outside what was seen when planning still has a range.
std::vector<KeyRange> RangesBetween(const std::vector<Row>& bounds);

// Plans ranges of about `range_rows` rows for a table: counts it, then splits at key bounds.
class Engine;
Result<std::vector<KeyRange>> PlanRanges(Engine& engine, const std::string& table,
                                         const std::vector<std::string>& key, int64_t range_rows);

// From this many rows (by the server's statistics) a table's size for planning is the
// statistics' estimate rather than a count (Engine::EstimateRows).
inline constexpr int64_t kEstimateRowsFrom = 200000;

// The default cap of one batch in bytes (options.batch_bytes): with a few batches queued per
// job, memory stays bounded by jobs x queue whatever the row size.
inline constexpr size_t kDefaultBatchBytes = 8u << 20;
// What the batches of all jobs together may hold (source rows, mapped rows, queued and spare
// batches): each job's batch cap is the smaller of batch_bytes and its share of this, so peak
// memory stays about the same at every --jobs value (docs/decisions.md, "Jobs").
inline constexpr size_t kBatchMemory = 160u << 20;

// About the memory a row's values hold: the heap buffer of each text-like value plus the
// Values themselves. Cheap (no allocation); what the byte caps of batches count.
size_t RowBytes(const Row& row);

// Filling a batch in place (RowReader::Next), with somewhere to keep the rows it no longer
// needs. `spare` may be null: rows past the end are then freed.
// The row at position `n` of the batch being filled: the one already there, else one taken
// from `spare` (its buffers kept), else a new one.
Row& BatchRowAt(std::vector<Row>& batch, size_t n, std::vector<Row>* spare);
// Ends the batch at `n` rows; the rows past it move to `spare`.
void EndBatchAt(std::vector<Row>& batch, size_t n, std::vector<Row>* spare);

struct ScanRequest {
  std::string table;
  std::vector<std::string> columns;  // the columns to read, in this order
  std::vector<std::string> key;      // key columns; rows come in ascending key order
  KeyRange range;
  size_t batch_rows = 10000;
  // The caller promises to make no other call on this engine until the reader has returned
  // false or is destroyed. The engine may then stream the whole range as one statement
  // (PostgreSQL: one COPY ... TO STDOUT) instead of one query per page.
  bool exclusive = false;
  // A batch also ends once its rows hold at least this many bytes (RowBytes); a single row
  // larger than this travels alone. 0: no byte cap.
  size_t batch_bytes = kDefaultBatchBytes;
  // Where a reader keeps the rows it takes off a batch (past a batch shorter than the one
  // before, or all of them at the end) and takes rows from when a batch grows. Handing one
  // vector to every scan of a job makes a scan of many ranges refill the same rows, buffers
  // and all, instead of freeing them at every short batch and range end and building them
  // again. Not owned; used only from inside Next(); null: rows past a batch are freed.
  // (A reader may ignore it and build each row anew.)
  std::vector<Row>* spare_rows = nullptr;
};

// Counts the rows of a batch being filled against ScanRequest's two caps, rows and bytes:
// written once here, used by every engine's reader loop.
class BatchLimit {
 public:
  BatchLimit(size_t max_rows, size_t max_bytes)
      : max_rows_(std::max<size_t>(max_rows, 1)), max_bytes_(max_bytes) {}
  explicit BatchLimit(const ScanRequest& req) : BatchLimit(req.batch_rows, req.batch_bytes) {}

  // A new batch: nothing counted yet.
  void Start() { rows_ = bytes_ = 0; }
  // Counts a row just put in the batch; true when the batch is full now (by rows or bytes).
  bool Add(const Row& row) {
    size_t b = RowBytes(row);
    ++rows_;
    bytes_ += b;
    if (b > widest_) widest_ = b;
    return Full();
  }
  bool Full() const { return rows_ >= max_rows_ || (max_bytes_ > 0 && bytes_ >= max_bytes_); }
  size_t rows() const { return rows_; }
  size_t bytes() const { return bytes_; }

  // For a reader whose server sends a whole page before it is decoded (a LIMIT query whose
  // result the client library stores): how many rows to ask for next so that a page stays
  // within the byte cap, judged by the widest row seen so far. Before any row is seen, a
  // small first page (a table of 1 MB rows must not arrive 10,000 at a time).
  size_t PageRows() const {
    if (max_bytes_ == 0) return max_rows_;
    if (widest_ == 0) return std::min<size_t>(max_rows_, kFirstPageRows);
    return std::clamp<size_t>(max_bytes_ / widest_, 1, max_rows_);
  }

 private:
  static constexpr size_t kFirstPageRows = 256;
  size_t max_rows_, max_bytes_;
  size_t rows_ = 0, bytes_ = 0;
  size_t widest_ = 0;  // the widest row seen by this reader, in bytes
};

// Streams rows in batches. After Next() returns false, status() tells whether the stream
// ended cleanly (like leveldb's Iterator::status()).
class RowReader {
 public:
  virtual ~RowReader() = default;
  // Fills `batch` with up to batch_rows rows, fewer once they hold batch_bytes (at least one
  // row, however large). Rows already in `batch` are overwritten in place
  // (keeping their buffers: hand the same vector back for a steady scan that allocates
  // nothing) and any left over are removed. Returns false at the end or on error; check
  // status() then.
  virtual bool Next(std::vector<Row>& batch) = 0;
  virtual Status status() const = 0;
};

// Pass-through (docs/decisions.md, "Pass-through"): a chunk's rows in an engine's own bulk
// wire form (PostgreSQL: binary COPY), read by one engine and written by another of the same
// kind without a value being decoded. Engine::RawShape tells when two tables can exchange it.
//
// What the raw bulk path of an engine would carry for some columns of a table.
struct RawShape {
  // Equal for two tables exactly when the raw rows of one can be written into the other as
  // they are: the form's name and each column's name and exact type. Empty when the columns
  // cannot travel raw (then `why` names the column and the reason).
  std::string format;
  std::string why;
  // The rows travel as a stream (Engine::ScanRaw into Engine::WriteRaw). False: the engine's
  // only raw path is the target reading the source itself (Engine::AttachSource).
  bool stream = true;
};

// Streams the rows of a scan in the raw form. After Next() returns false, status() tells
// whether the stream ended cleanly.
class RawReader {
 public:
  virtual ~RawReader() = default;
  // Replaces `piece` with the next bytes of the stream: whole rows (the first piece also
  // carries the form's header, the last its trailer), about the scan's batch_bytes at most,
  // at least one row however large. Returns false at the end (nothing more to write) or on
  // error; check status() then.
  virtual bool Next(std::string& piece) = 0;
  virtual Status status() const = 0;
  // The rows in the pieces returned so far.
  virtual int64_t rows() const = 0;
};

enum class WriteMode {
  kInsert,          // fails on a duplicate key
  kUpsert,          // replaces the row with the same key
  kInsertIfAbsent,  // keeps the row already there
};

// The inserts of one chunk, batch after batch (Engine::OpenInsert). Rows given to Add land as
// Write(kInsert) would put them, but the engine may keep one bulk statement open across the
// batches: each PostgreSQL COPY costs its server a start (docs/decisions.md, "Speed"): 1M rows
// sent as 100 COPYs of 10,000 took its backend a third more CPU than as one COPY.
class BulkInsert {
 public:
  virtual ~BulkInsert() = default;  // an unfinished insert is abandoned (its statement fails)
  // Inserts `rows` (values in the columns' order), possibly not before Finish.
  virtual Status Add(const std::vector<Row>& rows) = 0;
  // Ends the insert: every row added has landed, or the error is returned.
  virtual Status Finish() = 0;
};

// A column whose value the database picks when an insert leaves it out, with the counter
// behind it (DESIGN.md: at `switch writes` every identity and sequence on new is moved past
// the highest value in use on either side).
enum class SequenceKind {
  kIdentity,             // PostgreSQL GENERATED ... AS IDENTITY
  kSerial,               // PostgreSQL serial: a sequence owned by the column, nextval() default
  kSequenceDefault,      // PostgreSQL DEFAULT nextval('a standalone sequence')
  kAutoIncrement,        // MariaDB AUTO_INCREMENT
  kRowid,                // SQLite INTEGER PRIMARY KEY without AUTOINCREMENT: max(rowid)+1
  kSqliteAutoincrement,  // SQLite AUTOINCREMENT: max(sqlite_sequence, max(rowid))+1
};
std::string_view SequenceKindName(SequenceKind k);

struct SequenceColumn {
  std::string table;
  std::string column;
  SequenceKind kind = SequenceKind::kAutoIncrement;
  // The counter, for messages and for AdvanceSequence: PostgreSQL the sequence's schema and
  // name ("public.orders_id_seq", unquoted parts joined by '.'); MariaDB and SQLite the table.
  std::string sequence_schema;  // PostgreSQL only
  std::string sequence;
  int64_t increment = 1;
  // The value the next insert without this column would get, read when the list was made.
  int64_t next = 1;
  // False when nothing can be moved because the engine always takes max+1 (SQLite rowid
  // aliases): such a column cannot collide once its table holds every row.
  bool settable = true;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // "sqlite", "postgres" or "mysql".
  virtual std::string_view kind() const = 0;
  // The URI without its password, for messages.
  virtual std::string Describe() const = 0;

  // Lists the user tables with columns, keys and constraints. Tandem's own tables (named
  // "_tandem_...") are not listed.
  virtual Result<std::vector<TableSchema>> Introspect() = 0;

  // Reads `req.columns` of the rows in `req.range` in key order, `batch_rows` at a time,
  // with keyset pagination (never OFFSET) and constant memory.
  // REQUIRES: req.key is non-empty and every key column is among req.columns.
  virtual Result<std::unique_ptr<RowReader>> Scan(const ScanRequest& req) = 0;

  // Returns up to n-1 ascending key boundaries that split `table` into n chunks of about
  // equal row counts. Fewer boundaries when the table is small; none when empty.
  virtual Result<std::vector<Row>> Split(const std::string& table,
                                         const std::vector<std::string>& key, int n) = 0;

  // Counts rows of `table` in `range`.
  virtual Result<int64_t> Count(const std::string& table, const std::vector<std::string>& key,
                                const KeyRange& range) = 0;

  // Whether an exact count of a large table is faster in key ranges on several connections
  // than as one statement (InnoDB's COUNT(*) walks the whole clustered index on one thread;
  // PostgreSQL parallelises its own count, SQLite counts the smallest index).
  virtual bool CountsFasterInRanges() const { return false; }

  // About how many rows `table` holds, for planning and progress: exact for a small table,
  // the server's statistics for a large one (counting a large table can take longer than a
  // chunk of the copy). Never used where exactness matters.
  // Engines estimate from kEstimateRowsFrom rows on (PostgreSQL also splits such tables
  // from a sample).
  virtual Result<int64_t> EstimateRows(const std::string& table, const std::vector<std::string>& key) {
    return Count(table, key, KeyRange{});
  }

  // Reads the current rows for `keys` (any order); keys that are gone are absent.
  virtual Result<std::vector<Row>> Fetch(const std::string& table,
                                         const std::vector<std::string>& columns,
                                         const std::vector<std::string>& key,
                                         const std::vector<Row>& keys) = 0;

  // Writes `rows` (values in `columns` order) with the engine's fastest bulk path.
  // On failure nothing of this call is visible unless a surrounding transaction commits.
  // `key` is needed for kUpsert and kInsertIfAbsent.
  virtual Status Write(const std::string& table, const std::vector<std::string>& columns,
                       const std::vector<std::string>& key, const std::vector<Row>& rows,
                       WriteMode mode) = 0;
  // Inserts the rows of several Write(kInsert) calls as one, inside the caller's transaction.
  // Nothing else may use this engine until the insert is finished or destroyed. When Add or
  // Finish fails, rows of earlier Adds may have failed with it: the caller rolls its
  // transaction back. The default writes each batch with Write.
  virtual Result<std::unique_ptr<BulkInsert>> OpenInsert(const std::string& table,
                                                         const std::vector<std::string>& columns,
                                                         const std::vector<std::string>& key);
  // Deletes the rows with these keys; absent keys are ignored.
  virtual Status Remove(const std::string& table, const std::vector<std::string>& key,
                        const std::vector<Row>& keys) = 0;
  // Deletes every row whose key lies in `range`.
  virtual Status RemoveRange(const std::string& table, const std::vector<std::string>& key,
                             const KeyRange& range) = 0;

  // Creates a table from a portable description (engine types derived from portable ones),
  // with each column's default_value, identity and (where the engine keeps them only in
  // CREATE TABLE, as SQLite does) its checks and foreign keys. Indexes are not created here.
  virtual Status CreateTable(const TableSchema& table) = 0;

  // The columns of one table as Introspect() would list them (names, engine and portable
  // types, nullability, generated), read cheaply from the catalog alone: the follower calls it
  // to notice a table whose columns changed under the migration. kNotFound when the table is
  // gone. Engines that cache a table's columns refresh that cache here.
  virtual Result<std::vector<Column>> DescribeColumns(const std::string& table);

  // Adds `column` to `table` (ALTER TABLE ... ADD COLUMN) with the engine type for its portable
  // type, always nullable and without a default: rows already there get NULL until they are
  // copied again. On failure nothing changed. REQUIRES: no open transaction (DDL commits one
  // on MariaDB).
  virtual Status AddColumn(const std::string& table, const Column& column) {
    return Fail(Code::kInternal, "{}: adding column {}.{} is not supported", kind(), table,
                column.name);
  }

  // The application's schema beyond tables (DESIGN.md, "The new side is a database the
  // application can run on").
  //
  // What tandem does not move, by kind and name: views, triggers other than tandem's own,
  // routines, events, materialized views, standalone sequences. Never tandem's own objects.
  virtual Result<std::vector<UnmigratedObject>> ListUnmigrated() {
    return std::vector<UnmigratedObject>{};
  }
  // How many values of each storage class each column holds, for an engine whose declared
  // types do not bind them (SQLite outside STRICT tables: a column declared DATETIME may hold
  // integers, a column with no declared type anything). One entry per column of `table`, in
  // its order, counted only where some value is of another class than the declared type
  // stores (all zero otherwise: nothing to say); empty when the declared types bind the
  // values. Reads every row: `tandem init` drafts the target type from what is stored.
  virtual Result<std::vector<StoredClassCounts>> StoredClasses(const TableSchema& table) {
    return std::vector<StoredClassCounts>{};
  }
  // Why this engine would refuse `v` (already cast to `type`) when written into a column of
  // that portable type, for the limits of its types that CastTo does not know (PostgreSQL: NUL
  // in text, dates before 4713 BC; MariaDB: NaN and Infinity, years past 9999; SQLite: the
  // float -0). The Error's problem says which (kControlCharacter, kOutOfRange) and its message
  // why. nullopt when the value fits. No connection needed: `tandem assess` asks for every value.
  virtual std::optional<Error> ValueRefusal(const Value& v, const PortableType& type) const {
    return std::nullopt;
  }
  // The statement CreateTable(table) runs, for `tandem schema` (no connection needed).
  virtual std::string CreateTableDdl(const TableSchema& table) const { return ""; }
  // The statements BuildObject(table, object) runs when the object is missing, in order
  // (PostgreSQL: a foreign key or check is added NOT VALID, then validated). Empty when the
  // object lives in CREATE TABLE on this engine (SQLite foreign keys and checks).
  virtual std::vector<std::string> ObjectDdl(const TableSchema& table,
                                             const SchemaObject& object) const {
    return {};
  }
  // Builds one object of `table` after its rows are in, unless an object of that name is
  // already there (so a re-run only builds what is missing or failed). SQLite foreign keys
  // declared in CREATE TABLE are checked instead (pragma foreign_key_check). On failure
  // (kFailedPrecondition): the message names the table, the object, the server's words and up
  // to 5 colliding keys (a unique index) or orphan keys (a foreign key); nothing half-built
  // stays behind. REQUIRES: no open transaction.
  virtual Status BuildObject(const TableSchema& table, const SchemaObject& object) {
    return Fail(Code::kInternal, "{}: building {} {} is not supported", kind(),
                object.KindName(), object.name());
  }

  // Connection loss. A call that fails because the connection is gone returns kUnavailable;
  // the engine then reports ConnectionLost() until Reconnect() succeeds.
  //
  // True when this engine saw its connection fail (a kUnavailable error came from it) and has
  // not re-opened it since. A killed connection that has not been used since is not known to
  // be lost yet: the next call finds out.
  virtual bool ConnectionLost() const { return false; }
  // Re-opens the connection from the URI (and password) the engine was opened with and
  // re-applies every session setting it had: the engine's fixed session settings (time zone,
  // formats, sql_mode, foreign-key checks...) and SetCaptureSuppressed's last value. Readers
  // from Scan() made before the call must not be used again. An open transaction is gone: its
  // work was never committed (a unit of work that failed with kUnavailable is redone whole).
  // On success the engine is as freshly opened, with the same settings. On failure (kUnavailable
  // while the server is still away) the engine stays lost and Reconnect() may be called again.
  // SQLite has no connection to lose: a no-op.
  // REQUIRES: no call on this engine is running in another thread.
  virtual Status Reconnect() { return Ok(); }

  // Sequences (identity, serial, nextval() defaults, AUTO_INCREMENT, SQLite rowid).
  //
  // The columns of `table` whose values the database picks, each with its counter's next
  // value now. Empty when the table has none. kNotFound when the table does not exist.
  // Engines that do not implement this fail with kFailedPrecondition.
  virtual Result<std::vector<SequenceColumn>> SequenceColumns(const std::string& table) {
    return Fail(Code::kFailedPrecondition, "{}: sequences are not supported", Describe());
  }
  // The highest value of `column` in `table`; nullopt when the table has no non-NULL value.
  // kInvalidArgument when a value is not an integer (a text key mapped onto a serial).
  virtual Result<std::optional<int64_t>> MaxInteger(const std::string& table,
                                                    const std::string& column) {
    return Fail(Code::kFailedPrecondition, "{}: sequences are not supported", Describe());
  }
  // Moves the counter of `seq` (as SequenceColumns returned it) so that the next insert that
  // leaves the column out gets at least `next`. Never backwards: when the counter is already
  // at or past `next` (read again now, not from `seq.next`) nothing changes. Returns the next
  // value after the call. Idempotent, so it is safe to repeat after a crash.
  // For a column that is not settable (SQLite rowid) nothing changes and the value returned
  // is max(rowid)+1.
  // REQUIRES: nothing else inserts into the table meanwhile (the caller has frozen or not yet
  // opened it to the application), or the returned value may already be taken.
  virtual Result<int64_t> AdvanceSequence(const SequenceColumn& seq, int64_t next) {
    return Fail(Code::kFailedPrecondition, "{}: sequences are not supported", Describe());
  }

  // Tables without a key (`key: none`): the whole row is the identity, and duplicates are
  // kept (docs/decisions.md, "Tables without a key"). Scan, Count and RemoveRange also take
  // an empty key with an unbounded range: the whole table, read in one consistent pass in no
  // particular order (SQLite pages by rowid).
  //
  // How many rows of `table` equal each of `images` (values in `columns` order; NULL equals
  // NULL), in the order of `images`.
  virtual Result<std::vector<int64_t>> CountImages(const std::string& table,
                                                   const std::vector<std::string>& columns,
                                                   const std::vector<Row>& images) {
    return Fail(Code::kFailedPrecondition, "{}: tables without a key are not supported",
                Describe());
  }
  // Deletes up to `n` rows of `table` equal to `image` (NULL-safe), one matching row per
  // statement; the rows left are duplicates of each other, so which ones go does not matter.
  virtual Status RemoveImage(const std::string& table, const std::vector<std::string>& columns,
                             const Row& image, int64_t n) {
    return Fail(Code::kFailedPrecondition, "{}: tables without a key are not supported",
                Describe());
  }

  // Pass-through (RawShape, RawReader). Engines without a raw path keep these defaults.
  //
  // The raw form `columns` of `table` take in this engine's bulk path (see RawShape). An
  // empty format when the engine has none, or a column cannot travel raw.
  virtual Result<RawShape> RawShapeOf(const std::string& table,
                                      const std::vector<std::string>& columns) {
    return RawShape{"", fmt::format("{} has no raw bulk path", kind())};
  }
  // Reads `req.columns` of the rows in `req.range` in key order, in the raw form, as one
  // statement. REQUIRES: req.exclusive (nothing else uses the engine until the reader has
  // returned false or is destroyed); RawShapeOf(req.table, req.columns) gave a format.
  virtual Result<std::unique_ptr<RawReader>> ScanRaw(const ScanRequest& req) {
    return Fail(Code::kInternal, "{}: no raw bulk path", kind());
  }
  // Inserts every row `from` gives into `columns` of `table`, as they are: the caller checked
  // that this table's RawShapeOf(table, columns) equals the one `from` was read with. Returns
  // the rows written. On failure (a row the target refuses: kInvalidArgument with the server's
  // words) nothing of this call is visible, and a surrounding transaction stays usable, as
  // with Write; a read error of `from` is returned as it is.
  virtual Result<int64_t> WriteRaw(const std::string& table,
                                   const std::vector<std::string>& columns, RawReader& from) {
    return Fail(Code::kInternal, "{}: no raw bulk path", kind());
  }

  // In-database pass-through, an optional capability: a target that can read the source's
  // database over its own connection (SQLite: it attaches the source file, read-only) copies
  // a chunk in one statement, no row leaving the database.
  //
  // Makes `source` readable from this connection. False when it cannot be (another engine,
  // a database in memory, this very database). Outside any transaction; again when attached
  // is a no-op.
  virtual Result<bool> AttachSource(const Engine& source) { return false; }
  // Undoes AttachSource (a no-op when nothing is attached). Outside any transaction.
  virtual Status DetachSource() { return Ok(); }
  // Inserts into `columns` of `table` the rows of the attached source's `req.table` in
  // `req.range` (`req.columns`, in key order), each value as it is stored, and returns the
  // rows written. Inside or outside a transaction, with WriteRaw's failure contract.
  // REQUIRES: AttachSource(source) returned true; both sides' RawShapeOf agree.
  virtual Result<int64_t> CopyFromAttached(const ScanRequest& req, const std::string& table,
                                           const std::vector<std::string>& columns) {
    return Fail(Code::kInternal, "{}: no in-database pass-through", kind());
  }

  // Bulk load, an optional capability: cheaper writing while a backfill is the only writer of
  // this database and nothing but tandem reads it (SQLite: the rollback journal instead of
  // WAL). BeginBulkLoad returns whether anything changed; EndBulkLoad undoes it (a no-op
  // when nothing did). Both outside any transaction.
  virtual Result<bool> BeginBulkLoad() { return false; }
  virtual Status EndBulkLoad() { return Ok(); }

  // In-database range digests: an optional capability, verify's fast path for a table whose
  // mapping is the identity between two databases of one engine (docs/decisions.md, "Verify").
  // Engines that do not offer it keep both defaults.
  //
  // What decides the bytes `columns` of `table` are digested from, in this engine's words:
  // the digest method, and per column (in the order given) its exact declared type and
  // whatever else changes a value's bytes (character set, the database's encoding). Two
  // connections whose forms are equal and non-empty digest equal rows alike, so their
  // DigestRange results may be compared. "" when the engine does not offer digests, or not
  // for one of these columns' types. kNotFound when the table is gone.
  virtual Result<std::string> DigestForm(const std::string& table,
                                         const std::vector<std::string>& columns) {
    return std::string();
  }
  // The digest of `columns` of the rows of `table` in `range`, computed by the server.
  // The contract verify relies on: ranges holding the same rows (same keys, and values that
  // verify's record-by-record comparison calls equal, field by field) digest alike; ranges
  // whose rows differ in any way that comparison would report (a missing or extra row, NULL
  // against '', 'a' against 'a ', 0.0 against -0.0 where the engine keeps the sign, a
  // microsecond of a timestamp) digest differently, but for 64-bit hash collisions. Rows in
  // any order. REQUIRES: DigestForm(table, columns) is non-empty; key is the table's key.
  struct RangeDigest {
    int64_t rows = 0;
    std::string digest;
    bool operator==(const RangeDigest&) const = default;
  };
  virtual Result<RangeDigest> DigestRange(const std::string& table,
                                          const std::vector<std::string>& columns,
                                          const std::vector<std::string>& key,
                                          const KeyRange& range) {
    return Fail(Code::kInternal, "{}: range digests are not offered", Describe());
  }

  // Caps the memory this connection keeps for itself (SQLite: its page cache) at about
  // `bytes`: each of several jobs gets a share, so peak memory does not grow with --jobs.
  // Engines without such a cache ignore it.
  virtual Status LimitCache(size_t bytes) { return Ok(); }

  // Transactions. Nested Begin() is an error.
  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual Status Rollback() = 0;

  // Change capture is not here: see ChangeSource (tandem/change_source.h).
};

// Opens a connection from a URI: sqlite:///abs/path.db, sqlite:rel.db, postgres://...,
// mysql://... A password may come from `password_env` (e.g. TANDEM_SOURCE_PASSWORD) when the
// URI has none. `base_dir` resolves relative sqlite paths. A SQLite file that does not exist
// is created (kCreate, for a target) or refused with kNotFound naming the path (kFail, for a
// source: an empty new file would pass for a database without tables).
enum class IfMissing { kCreate, kFail };
Result<std::unique_ptr<Engine>> OpenEngine(const std::string& uri, const std::string& base_dir,
                                           const std::string& password_env = "",
                                           IfMissing if_missing = IfMissing::kCreate);

// The file path of a sqlite: URI (relative paths resolved against `base_dir`); nullopt for
// other engines.
std::optional<std::string> SqlitePath(const std::string& uri, const std::string& base_dir);

// "sqlite", "postgres" or "mysql" for a URI, "" when unknown (no connection is made).
std::string EngineKindOfUri(const std::string& uri);
// The column type `engine_kind` declares for a portable type when tandem creates a table.
std::string EngineTypeName(std::string_view engine_kind, const PortableType& type);

// The URI without its password (for files tandem writes); `removed` tells whether it had one.
std::string StripPassword(const std::string& uri, bool* removed = nullptr);

// Removes the password from a URI for display.
std::string RedactUri(const std::string& uri);

}  // namespace tandem
