#include "engines/mysql/mysql_connection.h"

#include <mutex>
#include <optional>

#include "core/text.h"
#include "core/uri.h"

namespace tandem::mysql {

namespace {

// Connector/C initialises global state lazily in mysql_init(), which is not thread-safe;
// engines are opened from several worker threads, so initialise once up front.
void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

}  // namespace

std::string MysqlUri::Redacted() const {
  std::string host_part = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return fmt::format("mysql://{}@{}:{}/{}", user, host_part, port, database);
}

Result<MysqlUri> ParseMysqlUri(std::string_view uri, std::string_view fallback_password) {
  auto parsed = ParseUri(uri);
  if (!parsed) return std::unexpected(parsed.error());
  if (parsed->scheme != "mysql" && parsed->scheme != "mariadb") {
    return Fail(Code::kInvalidArgument, "MariaDB URI must start with mysql:// (got {}:)",
                parsed->scheme);
  }
  MysqlUri out;
  out.user = parsed->user;
  out.password = parsed->password.value_or(std::string(fallback_password));
  out.host = parsed->host.empty() ? "127.0.0.1" : parsed->host;
  if (parsed->port) out.port = *parsed->port;
  out.database = parsed->database;
  if (out.database.empty()) {
    return Fail(Code::kInvalidArgument, "MariaDB URI names no database: {}", out.Redacted());
  }
  for (const auto& param : parsed->params) {
    std::string key = AsciiLower(param.key);
    const std::string& value = param.value;
    if (key == "ssl-mode" || key == "sslmode" || key == "ssl_mode") {
      std::string mode = AsciiUpper(value);
      for (char& c : mode) {
        if (c == '-') c = '_';
      }
      if (mode != "DISABLED" && mode != "PREFERRED" && mode != "REQUIRED" && mode != "VERIFY_CA" &&
          mode != "VERIFY_IDENTITY") {
        return Fail(Code::kInvalidArgument,
                    "MariaDB URI: ssl-mode '{}' is not one of DISABLED, PREFERRED, REQUIRED, "
                    "VERIFY_CA, VERIFY_IDENTITY",
                    value);
      }
      out.ssl_mode = mode;
    } else if (key == "ssl-ca" || key == "sslrootcert" || key == "ssl_ca") {
      out.ssl_ca = value;
    } else if (key == "socket") {
      out.socket = value;
    } else if (key == "password") {
      out.password = value;
    } else {
      return Fail(Code::kInvalidArgument,
                  "MariaDB URI: unknown parameter '{}' (expected ssl-mode, ssl-ca or socket)", key);
    }
  }
  return out;
}

Code CodeForMysqlError(unsigned err) {
  switch (err) {
    // Retry the unit of work: the server rolled back a statement or transaction.
    case 1205:  // ER_LOCK_WAIT_TIMEOUT
    case 1213:  // ER_LOCK_DEADLOCK
    case 1020:  // ER_CHECKREAD: record changed since last read (snapshot isolation)
    case 1614:  // ER_XA_RBDEADLOCK
      return Code::kAborted;
    // Connection lost or refused: reconnect with backoff.
    case 1040:  // ER_CON_COUNT_ERROR: too many connections
    case 1053:  // ER_SERVER_SHUTDOWN
    case 1152:  // ER_ABORTING_CONNECTION
    case 1158:  // ER_NET_READ_ERROR
    case 1159:  // ER_NET_READ_INTERRUPTED
    case 1160:  // ER_NET_ERROR_ON_WRITE
    case 1161:  // ER_NET_WRITE_INTERRUPTED
    case 1927:  // ER_CONNECTION_KILLED
    case 1317:  // ER_QUERY_INTERRUPTED
    case 4031:  // ER_NET_IDLE_TIMEOUT (idle transaction timeout)
    case 2002:  // CR_CONNECTION_ERROR (socket)
    case 2003:  // CR_CONN_HOST_ERROR
    case 2005:  // CR_UNKNOWN_HOST
    case 2006:  // CR_SERVER_GONE_ERROR
    case 2013:  // CR_SERVER_LOST
    case 2055:  // CR_SERVER_LOST_EXTENDED
      return Code::kUnavailable;
    case 1146:  // ER_NO_SUCH_TABLE
    case 1049:  // ER_BAD_DB_ERROR
    case 1051:  // ER_BAD_TABLE_ERROR
    case 1054:  // ER_BAD_FIELD_ERROR
    case 1360:  // ER_TRG_DOES_NOT_EXIST
      return Code::kNotFound;
    // The user must change something: credentials, privileges, server settings.
    case 1044:  // ER_DBACCESS_DENIED_ERROR
    case 1045:  // ER_ACCESS_DENIED_ERROR
    case 1142:  // ER_TABLEACCESS_DENIED_ERROR
    case 1143:  // ER_COLUMNACCESS_DENIED_ERROR
    case 1227:  // ER_SPECIFIC_ACCESS_DENIED_ERROR
    case 1370:  // ER_PROCACCESS_DENIED_ERROR
    case 1419:  // ER_BINLOG_CREATE_ROUTINE_NEED_SUPER (triggers with binary logging)
    case 1698:  // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
    case 1050:  // ER_TABLE_EXISTS_ERROR
    case 1290:  // ER_OPTION_PREVENTS_STATEMENT (--read-only...)
    case 1148:  // ER_NOT_ALLOWED_COMMAND (LOAD DATA LOCAL disabled)
    case 2026:  // CR_SSL_CONNECTION_ERROR
    case 2068:  // CR_LOAD_DATA_LOCAL_INFILE_REJECTED
    case 1235:  // ER_NOT_SUPPORTED_YET
      return Code::kFailedPrecondition;
    // The data does not fit: the caller turns these into rejects.
    case 1048:  // ER_BAD_NULL_ERROR
    case 1062:  // ER_DUP_ENTRY
    case 1022:  // ER_DUP_KEY
    case 1169:  // ER_DUP_UNIQUE
    case 1586:  // ER_DUP_ENTRY_WITH_KEY_NAME
    case 1859:  // ER_DUP_UNKNOWN_IN_INDEX
    case 1263:  // ER_WARN_NULL_TO_NOTNULL
    case 1264:  // ER_WARN_DATA_OUT_OF_RANGE
    case 1265:  // WARN_DATA_TRUNCATED
    case 1292:  // ER_TRUNCATED_WRONG_VALUE
    case 1300:  // ER_INVALID_CHARACTER_STRING
    case 1364:  // ER_NO_DEFAULT_FOR_FIELD
    case 1366:  // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
    case 1367:  // ER_ILLEGAL_VALUE_FOR_TYPE
    case 1406:  // ER_DATA_TOO_LONG
    case 1411:  // ER_WRONG_VALUE_FOR_TYPE
    case 1416:  // ER_CANT_CREATE_GEOMETRY_OBJECT
    case 1451:  // ER_ROW_IS_REFERENCED_2
    case 1452:  // ER_NO_REFERENCED_ROW_2
    case 1525:  // ER_WRONG_VALUE
    case 1690:  // ER_DATA_OUT_OF_RANGE
    case 1906:  // ER_WARNING_NON_DEFAULT_VALUE_FOR_GENERATED_COLUMN
    case 3140:  // ER_INVALID_JSON_TEXT (MySQL)
    case 3819:  // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
    case 4025:  // ER_CONSTRAINT_FAILED (MariaDB CHECK)
    case 1071:  // ER_TOO_LONG_KEY (a table that cannot be created as described)
    case 1118:  // ER_TOO_BIG_ROWSIZE
    case 1005:  // ER_CANT_CREATE_TABLE
      return Code::kInvalidArgument;
    default:
      return Code::kInternal;
  }
}

Error MakeMysqlError(unsigned err, std::string_view sqlstate, std::string_view message,
                     std::string_view what) {
  return Error{CodeForMysqlError(err),
               fmt::format("{}: MariaDB error {} ({}): {}", what, err, sqlstate, message)};
}

// ---- MysqlResult ----------------------------------------------------------------------

MysqlResult& MysqlResult::operator=(MysqlResult&& o) noexcept {
  if (this != &o) {
    if (res_) mysql_free_result(res_);
    res_ = std::exchange(o.res_, nullptr);
  }
  return *this;
}

MysqlResult::~MysqlResult() {
  if (res_) mysql_free_result(res_);
}

// ---- MysqlStmt ------------------------------------------------------------------------

MysqlStmt& MysqlStmt::operator=(MysqlStmt&& o) noexcept {
  if (this != &o) {
    if (stmt_) mysql_stmt_close(stmt_);
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}

MysqlStmt::~MysqlStmt() {
  if (stmt_) mysql_stmt_close(stmt_);
}

Error MysqlStmt::LastError(std::string_view what) const {
  return MakeMysqlError(mysql_stmt_errno(stmt_), mysql_stmt_sqlstate(stmt_),
                        mysql_stmt_error(stmt_), what);
}

Result<MysqlStmt> MysqlStmt::Prepare(MYSQL* conn, std::string_view sql, std::string_view what) {
  MYSQL_STMT* raw = mysql_stmt_init(conn);
  if (!raw) return Fail(Code::kInternal, "{}: mysql_stmt_init failed (out of memory)", what);
  MysqlStmt stmt(raw);
  if (mysql_stmt_prepare(raw, sql.data(), sql.size()) != 0) {
    return std::unexpected(stmt.LastError(what));
  }
  return stmt;
}

Result<uint64_t> MysqlStmt::Execute(const std::vector<Param>& params, std::string_view what) {
  if (mysql_stmt_param_count(stmt_) != params.size()) {
    return Fail(Code::kInternal, "{}: statement takes {} parameters, {} given", what,
                mysql_stmt_param_count(stmt_), params.size());
  }
  std::vector<MYSQL_BIND> binds(params.size());
  std::vector<unsigned long> lengths(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    MYSQL_BIND& b = binds[i];
    if (const int64_t* n = std::get_if<int64_t>(&params[i])) {
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = const_cast<int64_t*>(n);
    } else {
      const std::string& s = std::get<std::string>(params[i]);
      lengths[i] = s.size();
      b.buffer_type = MYSQL_TYPE_STRING;
      b.buffer = const_cast<char*>(s.data());
      b.buffer_length = s.size();
      b.length = &lengths[i];
    }
  }
  if (!params.empty() && mysql_stmt_bind_param(stmt_, binds.data()))
    return std::unexpected(LastError(what));
  if (mysql_stmt_execute(stmt_) != 0) return std::unexpected(LastError(what));
  return mysql_stmt_affected_rows(stmt_);
}

// ---- MysqlConnection ------------------------------------------------------------------

MysqlConnection& MysqlConnection::operator=(MysqlConnection&& o) noexcept {
  if (this != &o) {
    if (conn_) mysql_close(conn_);
    conn_ = std::exchange(o.conn_, nullptr);
    lost_ = std::exchange(o.lost_, false);
  }
  return *this;
}

MysqlConnection::~MysqlConnection() {
  if (conn_) mysql_close(conn_);
}

Result<MysqlConnection> MysqlConnection::Connect(const MysqlUri& uri) {
  InitLibraryOnce();
  MYSQL* raw = mysql_init(nullptr);
  if (!raw) return Fail(Code::kInternal, "connect {}: mysql_init failed", uri.Redacted());
  MysqlConnection conn(raw);

  unsigned connect_timeout = 10;
  // Reads wait for whole statements (a long DELETE, a Split over a big table), so the read
  // timeout is generous; it exists so a silently dead peer still ends in kUnavailable.
  unsigned io_timeout = 3600;
  unsigned local_infile = 1;
  unsigned protocol = uri.socket.empty() ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET;
  mysql_optionsv(raw, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_optionsv(raw, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
  mysql_optionsv(raw, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  mysql_optionsv(raw, MYSQL_OPT_LOCAL_INFILE, &local_infile);
  // TCP even for "localhost", which Connector/C would otherwise turn into the default socket.
  mysql_optionsv(raw, MYSQL_OPT_PROTOCOL, &protocol);
  mysql_optionsv(raw, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (uri.ssl_mode == "REQUIRED" || uri.ssl_mode == "VERIFY_CA" ||
      uri.ssl_mode == "VERIFY_IDENTITY") {
    my_bool on = 1;
    mysql_optionsv(raw, MYSQL_OPT_SSL_ENFORCE, &on);
    if (uri.ssl_mode != "REQUIRED") mysql_optionsv(raw, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
  }
  if (!uri.ssl_ca.empty()) mysql_optionsv(raw, MYSQL_OPT_SSL_CA, uri.ssl_ca.c_str());

  if (!mysql_real_connect(raw, uri.socket.empty() ? uri.host.c_str() : nullptr, uri.user.c_str(),
                          uri.password.c_str(), uri.database.c_str(), uri.port,
                          uri.socket.empty() ? nullptr : uri.socket.c_str(), 0)) {
    return std::unexpected(conn.LastError(fmt::format("connect to {}", uri.Redacted())));
  }
  return conn;
}

Error MysqlConnection::LastError(std::string_view what) const {
  Error e = MakeMysqlError(mysql_errno(conn_), mysql_sqlstate(conn_), mysql_error(conn_), what);
  if (e.code == Code::kUnavailable) lost_ = true;
  return e;
}

Result<uint64_t> MysqlConnection::Exec(std::string_view sql, std::string_view what) {
  if (mysql_real_query(conn_, sql.data(), sql.size()) != 0) {
    return std::unexpected(LastError(what));
  }
  // A statement may still return rows (SELECT, CALL): drain them.
  if (mysql_field_count(conn_) > 0) {
    MysqlResult r(mysql_store_result(conn_));
    if (r.empty()) return std::unexpected(LastError(what));
    return 0;
  }
  return mysql_affected_rows(conn_);
}

Result<MysqlResult> MysqlConnection::Query(std::string_view sql, std::string_view what) {
  if (mysql_real_query(conn_, sql.data(), sql.size()) != 0) {
    return std::unexpected(LastError(what));
  }
  MYSQL_RES* res = mysql_store_result(conn_);
  if (!res) {
    if (mysql_field_count(conn_) == 0) {
      return Fail(Code::kInternal, "{}: statement returned no result set", what);
    }
    return std::unexpected(LastError(what));
  }
  return MysqlResult(res);
}

Result<MysqlResult> MysqlConnection::Stream(std::string_view sql, std::string_view what) {
  if (mysql_real_query(conn_, sql.data(), sql.size()) != 0) {
    return std::unexpected(LastError(what));
  }
  MYSQL_RES* res = mysql_use_result(conn_);
  if (!res) {
    if (mysql_field_count(conn_) == 0) {
      return Fail(Code::kInternal, "{}: statement returned no result set", what);
    }
    return std::unexpected(LastError(what));
  }
  return MysqlResult(res);
}

Status MysqlConnection::StreamStatus(std::string_view what) const {
  if (mysql_errno(conn_) != 0) return std::unexpected(LastError(what));
  return Ok();
}

void MysqlConnection::AppendQuoted(std::string& out, std::string_view s) const {
  size_t start = out.size();
  out.resize(start + 2 * s.size() + 3);
  out[start] = '\'';
  unsigned long n = mysql_real_escape_string(conn_, out.data() + start + 1, s.data(), s.size());
  out[start + 1 + n] = '\'';
  out.resize(start + n + 2);
}

}  // namespace tandem::mysql
