// Owners of libpq handles (like duckdb-postgres postgres_result.hpp): a PGresult* and a
// PGconn* each live in one move-only object that frees it. Errors become tandem Errors whose
// code follows the SQLSTATE class and whose message names the operation and carries the
// server's words; no message ever contains the connection password.
#pragma once

#include <libpq-fe.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tandem/error.h"

namespace tandem::pg {

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* res) : res_(res) {}
  PgResult(PgResult&& other) noexcept : res_(std::exchange(other.res_, nullptr)) {}
  PgResult& operator=(PgResult&& other) noexcept {
    if (this != &other) {
      Reset();
      res_ = std::exchange(other.res_, nullptr);
    }
    return *this;
  }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult() { Reset(); }

  PGresult* get() const { return res_; }
  int rows() const { return PQntuples(res_); }
  int cols() const { return PQnfields(res_); }
  bool is_null(int row, int col) const { return PQgetisnull(res_, row, col) != 0; }
  std::string_view value(int row, int col) const {
    return std::string_view(PQgetvalue(res_, row, col),
                            static_cast<size_t>(PQgetlength(res_, row, col)));
  }
  Oid type(int col) const { return PQftype(res_, col); }
  // The command tag, e.g. "COMMIT" or "ROLLBACK" (what COMMIT of a failed transaction returns).
  std::string_view command_status() const { return PQcmdStatus(res_); }

 private:
  void Reset() {
    if (res_) PQclear(res_);
    res_ = nullptr;
  }
  PGresult* res_ = nullptr;
};

// A text-format statement parameter; nullopt binds SQL NULL.
using Param = std::optional<std::string>;

// The tandem error code for a SQLSTATE (see STYLE.md: the code says what to do next).
Code CodeForSqlState(std::string_view sqlstate);

class PgConnection {
 public:
  PgConnection() = default;
  PgConnection(PgConnection&& other) noexcept
      : conn_(std::exchange(other.conn_, nullptr)),
        secret_(std::move(other.secret_)),
        lost_(std::exchange(other.lost_, false)) {}
  PgConnection& operator=(PgConnection&& other) noexcept {
    if (this != &other) {
      Close();
      conn_ = std::exchange(other.conn_, nullptr);
      secret_ = std::move(other.secret_);
      lost_ = std::exchange(other.lost_, false);
    }
    return *this;
  }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  ~PgConnection() { Close(); }

  // Connects with the URI as libpq reads it; `password` is used only when the URI has none.
  // Server notices (e.g. "relation already exists, skipping") are dropped, not printed.
  static Result<PgConnection> Open(const std::string& uri, const std::string& password);

  // Runs SQL without parameters; several statements may be separated by ';'. `what` names the
  // operation for error messages ("scan orders").
  Result<PgResult> Exec(std::string_view what, const std::string& sql);
  // Runs one statement with text parameters (types inferred by the server).
  Result<PgResult> ExecParams(std::string_view what, const std::string& sql,
                              const std::vector<Param>& params);

  // COPY ... FROM STDIN: Begin, then Put data in pieces, then End (which reports the server's
  // verdict). Abort ends a started COPY without loading anything.
  Status BeginCopyIn(std::string_view what, const std::string& sql);
  Status PutCopyData(std::string_view what, std::string_view data);
  Status EndCopyIn(std::string_view what);
  // Ends a started COPY with an error, so that the server loads none of it (the statement
  // fails; inside a transaction the caller rolls back to its savepoint). Never fails itself.
  void AbortCopyIn(std::string_view reason);

  // COPY ... TO STDOUT: Begin, then GetCopyRow until it returns false (then `status` tells
  // whether the COPY ended cleanly), or CancelCopyOut to abandon it and make the connection
  // usable again. `row` points into libpq's buffer, valid until the next call.
  Status BeginCopyOut(std::string_view what, const std::string& sql);
  bool GetCopyRow(std::string_view what, std::string_view& row, Status& status);
  void CancelCopyOut();

  // True inside a transaction block (including a failed one).
  bool in_transaction() const;
  // True inside a transaction block that has failed and must be rolled back.
  bool transaction_failed() const;
  PGconn* get() const { return conn_; }
  // True once an error of this connection was kUnavailable (the server closed it, the network
  // broke, or libpq marked it CONNECTION_BAD): only a new connection helps then.
  bool lost() const { return lost_ || !conn_ || PQstatus(conn_) == CONNECTION_BAD; }

 private:
  void Close() {
    FreeCopyBuffer();
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
  }
  Error ErrorFrom(std::string_view what, const PGresult* res) const;
  // Reads the results of a COPY that has ended: the first error, or Ok.
  Status CopyResult(std::string_view what);
  std::string Scrub(std::string message) const;

  void FreeCopyBuffer() {
    if (copy_buf_) PQfreemem(copy_buf_);
    copy_buf_ = nullptr;
  }

  PGconn* conn_ = nullptr;
  char* copy_buf_ = nullptr;  // the last row GetCopyRow returned
  std::string secret_;  // the password, only to scrub it from any message that echoes it
  mutable bool lost_ = false;  // set by ErrorFrom on a kUnavailable error
};

}  // namespace tandem::pg
