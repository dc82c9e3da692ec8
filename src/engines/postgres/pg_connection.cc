#include "engines/postgres/pg_connection.h"

#include <cstring>
#include <memory>

#include "core/text.h"
#include "core/uri.h"
#include "tandem/engine.h"

namespace tandem::pg {

namespace {

void DropNotice(void*, const char*) {}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Code CodeForSqlState(std::string_view s) {
  auto cls = s.substr(0, 2);
  if (cls == "40" || s == "25P02" || s == "55P03" || s == "57014") return Code::kAborted;
  if (cls == "08" || cls == "53" || s == "57P01" || s == "57P02" || s == "57P03") {
    return Code::kUnavailable;
  }
  if (s == "42P01" || s == "42703" || s == "3D000" || s == "3F000" || s == "42883") {
    return Code::kNotFound;
  }
  if (cls == "23" || cls == "22") return Code::kInvalidArgument;
  if (s == "42501" || cls == "28" || s == "42P10" || cls == "55" || s == "0A000") {
    return Code::kFailedPrecondition;
  }
  return Code::kInternal;
}

Result<PgConnection> PgConnection::Open(const std::string& uri, const std::string& password) {
  // The URI is parsed by tandem's one parser (not libpq's, which stops the password at the
  // first '/' or '@') and handed to libpq as keywords. A password written in the URI wins over
  // `password`, and `application_name` is only a default.
  auto parsed = ParseUri(uri);
  if (!parsed) return std::unexpected(parsed.error());
  if (parsed->scheme != "postgres" && parsed->scheme != "postgresql") {
    return Fail(Code::kInvalidArgument, "PostgreSQL URI must start with postgres:// (got {}:)",
                parsed->scheme);
  }
  std::vector<std::pair<std::string, std::string>> settings;  // later entries win
  auto set = [&](std::string key, std::string value) {
    for (auto& [k, v] : settings) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    settings.emplace_back(std::move(key), std::move(value));
  };
  set("application_name", "tandem");
  if (!password.empty()) set("password", password);
  if (!parsed->host.empty()) set("host", parsed->host);
  if (parsed->port) set("port", std::to_string(*parsed->port));
  if (!parsed->user.empty()) set("user", parsed->user);
  if (parsed->password) set("password", *parsed->password);
  if (!parsed->database.empty()) set("dbname", parsed->database);
  for (const auto& p : parsed->params) set(AsciiLower(p.key), p.value);
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : settings) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);

  PgConnection c;
  c.conn_ = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0);
  for (const auto& [k, v] : settings) {
    if (k == "password") c.secret_ = v;
  }
  if (!c.conn_) return Fail(Code::kUnavailable, "connect {}: out of memory", RedactUri(uri));
  if (PQstatus(c.conn_) != CONNECTION_OK) {
    std::string msg = c.Scrub(Trim(PQerrorMessage(c.conn_)));
    Code code = Code::kUnavailable;
    if (msg.find("authentication failed") != std::string::npos ||
        msg.find("no password supplied") != std::string::npos ||
        msg.find("permission denied") != std::string::npos) {
      code = Code::kFailedPrecondition;
    } else if (msg.find("does not exist") != std::string::npos) {
      code = Code::kNotFound;
    }
    return std::unexpected(Error{code, "connect " + RedactUri(uri) + ": " + msg});
  }
  PQsetNoticeProcessor(c.conn_, DropNotice, nullptr);
  return c;
}

std::string PgConnection::Scrub(std::string message) const {
  if (secret_.size() < 2) return message;  // a one-character password would scrub at random
  for (size_t p; (p = message.find(secret_)) != std::string::npos;) {
    message.replace(p, secret_.size(), "***");
  }
  return message;
}

Error PgConnection::ErrorFrom(std::string_view what, const PGresult* res) const {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  std::string msg;
  if (primary) {
    msg = primary;
    if (detail) msg += std::string(" (") + detail + ")";
  } else {
    msg = Trim(res ? PQresultErrorMessage(res) : "");
    if (msg.empty()) msg = Trim(PQerrorMessage(conn_));
  }
  Code code;
  if (state) {
    code = CodeForSqlState(state);
    msg += std::string(" [SQLSTATE ") + state + "]";
  } else {
    // No SQLSTATE: libpq itself failed, which means the connection is gone or unusable.
    code = Code::kUnavailable;
  }
  if (PQstatus(conn_) == CONNECTION_BAD) code = Code::kUnavailable;
  if (code == Code::kUnavailable) lost_ = true;
  return Error{code, Scrub(std::string(what) + ": " + msg)};
}

Result<PgResult> PgConnection::Exec(std::string_view what, const std::string& sql) {
  PgResult res(PQexec(conn_, sql.c_str()));
  auto st = PQresultStatus(res.get());
  if (res.get() && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) return res;
  return std::unexpected(ErrorFrom(what, res.get()));
}

Result<PgResult> PgConnection::ExecParams(std::string_view what, const std::string& sql,
                                          const std::vector<Param>& params) {
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i] ? params[i]->c_str() : nullptr;
    lengths[i] = params[i] ? static_cast<int>(params[i]->size()) : 0;
  }
  PgResult res(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                            values.data(), lengths.data(), nullptr, /*resultFormat=*/0));
  auto st = PQresultStatus(res.get());
  if (res.get() && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) return res;
  return std::unexpected(ErrorFrom(what, res.get()));
}

Status PgConnection::BeginCopyIn(std::string_view what, const std::string& sql) {
  PgResult res(PQexec(conn_, sql.c_str()));
  if (res.get() && PQresultStatus(res.get()) == PGRES_COPY_IN) return Ok();
  return std::unexpected(ErrorFrom(what, res.get()));
}

Status PgConnection::PutCopyData(std::string_view what, std::string_view data) {
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) == 1) return Ok();
  return std::unexpected(ErrorFrom(what, nullptr));
}

Status PgConnection::EndCopyIn(std::string_view what) {
  if (PQputCopyEnd(conn_, nullptr) != 1) return std::unexpected(ErrorFrom(what, nullptr));
  return CopyResult(what);
}

void PgConnection::AbortCopyIn(std::string_view reason) {
  std::string msg(reason);
  if (PQputCopyEnd(conn_, msg.c_str()) == 1) (void)CopyResult(msg);
}

Status PgConnection::CopyResult(std::string_view what) {
  // The COPY's own result, then NULL; keep the first error.
  std::optional<Error> err;
  while (PGresult* r = PQgetResult(conn_)) {
    PgResult res(r);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && !err) err = ErrorFrom(what, r);
  }
  if (err) return std::unexpected(std::move(*err));
  return Ok();
}

Status PgConnection::BeginCopyOut(std::string_view what, const std::string& sql) {
  PgResult res(PQexec(conn_, sql.c_str()));
  if (res.get() && PQresultStatus(res.get()) == PGRES_COPY_OUT) return Ok();
  return std::unexpected(ErrorFrom(what, res.get()));
}

bool PgConnection::GetCopyRow(std::string_view what, std::string_view& row, Status& status) {
  FreeCopyBuffer();
  int n = PQgetCopyData(conn_, &copy_buf_, /*async=*/0);
  if (n > 0) {
    row = std::string_view(copy_buf_, static_cast<size_t>(n));
    return true;
  }
  if (n == -2) {
    status = std::unexpected(ErrorFrom(what, nullptr));
    return false;
  }
  status = CopyResult(what);  // n == -1: the COPY ended; its result says whether it ended well
  return false;
}

void PgConnection::CancelCopyOut() {
  FreeCopyBuffer();
  if (PQisBusy(conn_) == 0 && PQtransactionStatus(conn_) != PQTRANS_ACTIVE) return;
  if (PGcancel* cancel = PQgetCancel(conn_)) {
    char errbuf[256];
    (void)PQcancel(cancel, errbuf, sizeof errbuf);
    PQfreeCancel(cancel);
  }
  // Read what was already sent, up to the (cancelled) COPY's end, then its result.
  char* buf = nullptr;
  while (PQgetCopyData(conn_, &buf, 0) > 0) PQfreemem(buf);
  while (PGresult* r = PQgetResult(conn_)) PQclear(r);
}

bool PgConnection::in_transaction() const {
  auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

bool PgConnection::transaction_failed() const {
  return PQtransactionStatus(conn_) == PQTRANS_INERROR;
}

}  // namespace tandem::pg
