// Move-only owners of MariaDB Connector/C handles (MYSQL*, MYSQL_RES*, MYSQL_STMT*), the
// mysql:// URI, and the mapping from server and client error numbers to tandem's codes.
// Internal to src/engines/mysql/.
#pragma once

#include <mysql.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "tandem/error.h"

namespace tandem::mysql {

// What a mysql:// (or mariadb://) URI says. Parsing is pure: no connection is made.
struct MysqlUri {
  std::string user;
  std::string password;
  std::string host;
  unsigned port = 3306;
  std::string database;
  std::string socket;    // ?socket=/path: connect over a unix socket instead of TCP
  std::string ssl_mode;  // ?ssl-mode=: DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY
  std::string ssl_ca;    // ?ssl-ca=/path/ca.pem

  // mysql://user@host:port/db, for messages: never the password.
  std::string Redacted() const;
};

// Parses mysql://user[:pass]@host[:port]/db[?ssl-mode=...&ssl-ca=...&socket=...] with
// percent-decoding of every part. `fallback_password` is used when the URI has none.
// Errors are kInvalidArgument and never quote the password.
Result<MysqlUri> ParseMysqlUri(std::string_view uri, std::string_view fallback_password);

// What the caller should do after server or client error `err` (see STYLE.md): deadlocks and
// lock wait timeouts are kAborted, lost connections kUnavailable, a missing table kNotFound,
// bad data (too long, out of range, duplicate key...) kInvalidArgument, missing privileges
// kFailedPrecondition, anything else (syntax: a bug) kInternal.
Code CodeForMysqlError(unsigned err);

// "<what>: MariaDB error <err> (<sqlstate>): <server words>".
Error MakeMysqlError(unsigned err, std::string_view sqlstate, std::string_view message,
                     std::string_view what);

// Owns a MYSQL_RES*. Rows come from the stored result (mysql_store_result) or stream from
// the server (mysql_use_result); a streamed result must be read to the end or freed before
// the connection runs another statement (freeing drains it).
class MysqlResult {
 public:
  MysqlResult() = default;
  explicit MysqlResult(MYSQL_RES* res) : res_(res) {}
  MysqlResult(MysqlResult&& o) noexcept : res_(std::exchange(o.res_, nullptr)) {}
  MysqlResult& operator=(MysqlResult&& o) noexcept;
  MysqlResult(const MysqlResult&) = delete;
  MysqlResult& operator=(const MysqlResult&) = delete;
  ~MysqlResult();

  // The next row, or nullptr at the end (or on a streaming error: check the connection).
  MYSQL_ROW Next() { return res_ ? mysql_fetch_row(res_) : nullptr; }
  // Byte lengths of the fields of the row Next() returned last.
  const unsigned long* lengths() const { return mysql_fetch_lengths(res_); }
  unsigned num_fields() const { return res_ ? mysql_num_fields(res_) : 0; }
  uint64_t num_rows() const { return res_ ? mysql_num_rows(res_) : 0; }
  bool empty() const { return res_ == nullptr; }

 private:
  MYSQL_RES* res_ = nullptr;
};

// Owns a MYSQL_STMT*: a server-side prepared statement whose parameters are bound, never
// pasted. Only what tandem needs: integer and string parameters, no result set.
class MysqlStmt {
 public:
  using Param = std::variant<int64_t, std::string>;

  MysqlStmt() = default;
  MysqlStmt(MysqlStmt&& o) noexcept : stmt_(std::exchange(o.stmt_, nullptr)) {}
  MysqlStmt& operator=(MysqlStmt&& o) noexcept;
  MysqlStmt(const MysqlStmt&) = delete;
  MysqlStmt& operator=(const MysqlStmt&) = delete;
  ~MysqlStmt();

  [[nodiscard]] static Result<MysqlStmt> Prepare(MYSQL* conn, std::string_view sql,
                                                 std::string_view what);
  // Binds `params` (one per `?`, in order) and executes; returns the affected row count.
  [[nodiscard]] Result<uint64_t> Execute(const std::vector<Param>& params, std::string_view what);

 private:
  explicit MysqlStmt(MYSQL_STMT* stmt) : stmt_(stmt) {}
  Error LastError(std::string_view what) const;

  MYSQL_STMT* stmt_ = nullptr;
};

// Owns a MYSQL* connection. Not thread-safe (one per thread, like Engine).
class MysqlConnection {
 public:
  MysqlConnection() = default;
  MysqlConnection(MysqlConnection&& o) noexcept
      : conn_(std::exchange(o.conn_, nullptr)), lost_(std::exchange(o.lost_, false)) {}
  MysqlConnection& operator=(MysqlConnection&& o) noexcept;
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;
  ~MysqlConnection();

  // Connects over TCP (or the URI's socket) with utf8mb4, LOCAL INFILE enabled and TLS as
  // the URI asks. Errors name the redacted URI and the server's words.
  [[nodiscard]] static Result<MysqlConnection> Connect(const MysqlUri& uri);

  MYSQL* get() const { return conn_; }

  // Runs a statement and discards any result. Returns the affected row count.
  [[nodiscard]] Result<uint64_t> Exec(std::string_view sql, std::string_view what);
  // Runs a query and stores its whole result client-side (for bounded results).
  [[nodiscard]] Result<MysqlResult> Query(std::string_view sql, std::string_view what);
  // Runs a query whose rows stream from the server as they are read (constant memory).
  [[nodiscard]] Result<MysqlResult> Stream(std::string_view sql, std::string_view what);
  // After a streamed result's Next() returned nullptr: the error, if the stream broke.
  [[nodiscard]] Status StreamStatus(std::string_view what) const;

  // Appends 's' as a quoted SQL string literal, escaped by the driver for the connection's
  // character set and sql_mode (NO_BACKSLASH_ESCAPES is honoured).
  void AppendQuoted(std::string& out, std::string_view s) const;
  std::string Quoted(std::string_view s) const {
    std::string out;
    AppendQuoted(out, s);
    return out;
  }

  Error LastError(std::string_view what) const;
  unsigned last_errno() const { return mysql_errno(conn_); }
  unsigned warning_count() const { return mysql_warning_count(conn_); }
  // True once an error of this connection was kUnavailable (server gone, connection lost or
  // killed): only a new connection helps then.
  bool lost() const { return lost_; }

 private:
  explicit MysqlConnection(MYSQL* conn) : conn_(conn) {}

  MYSQL* conn_ = nullptr;
  mutable bool lost_ = false;  // set by LastError on a kUnavailable error
};

}  // namespace tandem::mysql
