// The MariaDB (and MySQL) engine on MariaDB Connector/C. Internal to src/engines/mysql/;
// everything above sees only tandem::Engine through OpenEngine().
//
// Reads use the text protocol: keyset pages of `batch_rows` rows, each page fetched with
// mysql_store_result (memory bounded by one page; no statement stays open between Next()
// calls, so the same engine can run other statements while a reader is alive).
// Writes: kInsert of 64 rows or more goes through LOAD DATA LOCAL INFILE fed from memory
// (measured 1.2-1.35x the rows/s of multi-row INSERT on 200k rows); because LOCAL demotes
// duplicate keys and bad values to warnings, any warning above Note level fails the call and
// it runs under a transaction or savepoint, so nothing of a failed call stays. Upserts, small
// batches and servers that refuse LOCAL use multi-row INSERT statements of up to
// max_allowed_packet/2 (capped at 4 MiB), values escaped by the driver.
// Sessions run with time_zone '+00:00', sql_mode STRICT_ALL_TABLES (a too-long or
// out-of-range value is an error, never a truncation), NO_BACKSLASH_ESCAPES,
// NO_AUTO_VALUE_ON_ZERO (a copied id 0 stays 0), NO_ZERO_DATE..., and foreign_key_checks=0
// (a child row may land before its parent, DESIGN.md).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engines/mysql/mysql_connection.h"
#include "engines/mysql/mysql_dialect.h"
#include "engines/mysql/mysql_types.h"
#include "tandem/engine.h"

namespace tandem::mysql {

// A table's columns as this engine reads them, cached per connection.
struct TableInfo {
  std::string name;
  std::vector<ColumnInfo> columns;
  std::vector<ColumnCodec> codecs;  // parallel to columns

  // Index of `column` (exact name first, then ASCII case-insensitive as MariaDB matches
  // column names); -1 when absent.
  int IndexOf(std::string_view column) const;
};

class MysqlEngine : public Engine {
 public:
  // Connects and prepares the session. Errors never contain the password.
  [[nodiscard]] static Result<std::unique_ptr<MysqlEngine>> Open(const MysqlUri& uri);

  std::string_view kind() const override { return "mysql"; }
  std::string Describe() const override { return uri_.Redacted(); }

  Result<std::vector<TableSchema>> Introspect() override;
  Result<std::vector<UnmigratedObject>> ListUnmigrated() override;
  std::string CreateTableDdl(const TableSchema& table) const override;
  std::optional<Error> ValueRefusal(const Value& v, const PortableType& type) const override {
    return mysql::ValueRefusal(v, type);
  }
  std::vector<std::string> ObjectDdl(const TableSchema& table,
                                     const SchemaObject& object) const override;
  Status BuildObject(const TableSchema& table, const SchemaObject& object) override;
  Result<std::unique_ptr<RowReader>> Scan(const ScanRequest& req) override;
  Result<std::vector<Row>> Split(const std::string& table, const std::vector<std::string>& key,
                                 int n) override;
  Result<int64_t> EstimateRows(const std::string& table, const std::vector<std::string>& key) override;
  bool CountsFasterInRanges() const override { return true; }
  Result<int64_t> Count(const std::string& table, const std::vector<std::string>& key,
                        const KeyRange& range) override;
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
  Status Remove(const std::string& table, const std::vector<std::string>& key,
                const std::vector<Row>& keys) override;
  Status RemoveRange(const std::string& table, const std::vector<std::string>& key,
                     const KeyRange& range) override;
  Result<std::vector<int64_t>> CountImages(const std::string& table,
                                           const std::vector<std::string>& columns,
                                           const std::vector<Row>& images) override;
  // DELETE ... WHERE every column <=> its value LIMIT n.
  Status RemoveImage(const std::string& table, const std::vector<std::string>& columns,
                     const Row& image, int64_t n) override;
  Status CreateTable(const TableSchema& table) override;
  Result<std::vector<Column>> DescribeColumns(const std::string& table) override;
  Status AddColumn(const std::string& table, const Column& column) override;
  // The table's AUTO_INCREMENT column, if any, with information_schema.TABLES.AUTO_INCREMENT
  // (MariaDB reads it from the engine, so it is current).
  Result<std::vector<SequenceColumn>> SequenceColumns(const std::string& table) override;
  Result<std::optional<int64_t>> MaxInteger(const std::string& table,
                                            const std::string& column) override;
  // ALTER TABLE ... AUTO_INCREMENT = next when next is ahead of the counter. The ALTER
  // commits any open transaction (MariaDB DDL does). REQUIRES: no transaction is open.
  Result<int64_t> AdvanceSequence(const SequenceColumn& seq, int64_t next) override;
  Status Begin() override;
  Status Commit() override;
  Status Rollback() override;
  // Marks this session's writes as tandem's own (@tandem_capture_off, which the capture
  // triggers check); called by MysqlTriggerCapture::SuppressOwnWrites.
  Status SetCaptureSuppressed(bool suppressed);
  bool ConnectionLost() const override { return conn_.lost(); }
  // Connects again with the URI of Open, then PrepareSession (time zone, sql_mode,
  // foreign_key_checks, character set) and the last SetCaptureSuppressed.
  Status Reconnect() override;

  // Exposed for tests and benchmarks; not part of the Engine seam.
  MysqlConnection& connection() { return conn_; }
  bool is_mariadb() const { return is_mariadb_; }
  // kInsert goes through LOAD DATA LOCAL (measured faster) unless this is false; the
  // benchmark turns it off to measure multi-row INSERT.
  void set_load_data(bool on) { load_data_ = on; }
  // Decodes one text-protocol field; public so the reader can share it.
  Value Decode(const char* data, unsigned long len, const ColumnCodec& codec) const;
  // Renders `v` as a SQL literal (text escaped by the driver).
  Status AppendValue(std::string& out, const Value& v) const;
  Result<std::vector<std::string>> Literals(const Row& values) const;
  // The key-range predicate for `range` ("" when open on both ends).
  Result<std::string> RangePredicate(const std::vector<std::string>& key, const KeyRange& range);
  Result<const TableInfo*> Table(const std::string& table);
  // NULL-safe equality of every column of `table` with `image` (literals escaped by the driver).
  Result<std::string> ImagePredicate(const std::string& table,
                                     const std::vector<std::string>& columns, const Row& image);

 private:
  // The trigger capture shares this connection (mysql_capture.h).
  friend class MysqlTriggerCapture;

  MysqlEngine(MysqlUri uri, MysqlConnection conn);
  Status PrepareSession();
  Result<std::map<std::string, TableInfo>> LoadColumns(const std::string* only_table);
  Result<std::vector<const ColumnCodec*>> Codecs(const TableInfo& info,
                                                 const std::vector<std::string>& columns);
  // Runs `statements` atomically: inside the caller's transaction when there is one,
  // otherwise in a transaction of its own (rolled back on failure).
  template <typename F>
  Status Atomically(std::string_view what, F&& body);
  Error WriteError(const std::vector<std::string>& key, const std::vector<Row>& rows,
                   size_t first_row, const std::vector<int>& key_pos, WriteMode mode,
                   std::string_view what);
  // Fails when the last statement left a warning above Note level, naming the row when the
  // server does ("at row N" counted from rows[first_row]).
  Status CheckWarnings(const std::vector<Row>& rows, size_t first_row,
                       const std::vector<int>& key_pos, std::string_view what);
  // The two bulk paths behind Write(); both run inside Atomically().
  Status InsertRows(const std::string& table, const std::vector<std::string>& columns,
                    const std::vector<std::string>& key, const std::vector<Row>& rows,
                    const std::vector<int>& key_pos, WriteMode mode, std::string_view what);
  Status LoadRows(const std::string& table, const std::vector<std::string>& columns,
                  const std::vector<Row>& rows, const std::vector<int>& key_pos,
                  std::string_view what);
  static bool LoadDataRefused(unsigned err);
  // InnoDB's TABLE_ROWS for `table` (-1 when unknown): an estimate, never a count.
  Result<int64_t> StatisticsRows(const std::string& table);
  // Split without reading the table: for a large table with one integer key whose values
  // fill at least half of [MIN, MAX], boundaries at equal widths (a streamed pass over an
  // InnoDB primary key reads the whole clustered index: 0.85 s of a 1M-row copy). nullopt
  // when the table does not qualify: the caller splits by the streamed pass.
  Result<std::optional<std::vector<Row>>> SplitEvenly(const std::string& table,
                                                      const std::vector<std::string>& key,
                                                      const ColumnCodec& codec, int n);

  MysqlUri uri_;
  MysqlConnection conn_;
  bool is_mariadb_ = true;
  unsigned long server_version_ = 0;  // e.g. 101119
  size_t max_statement_bytes_ = 1 << 20;
  QuoteFn quote_;  // the driver's escaping, for AppendLiteral
  bool in_txn_ = false;
  bool suppressed_ = false;  // SetCaptureSuppressed's last value, re-applied by Reconnect
  bool load_data_ = true;                    // false once the server refused LOAD DATA LOCAL
  std::map<std::string, TableInfo> tables_;  // column cache, cleared by DDL through this engine
};

}  // namespace tandem::mysql
