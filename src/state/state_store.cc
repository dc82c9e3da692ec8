#include "state/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/row_json.h"
#include "tandem/engine.h"

namespace tandem::state {

namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
  tbl TEXT NOT NULL, idx INTEGER NOT NULL, lower TEXT, upper TEXT,
  status TEXT NOT NULL DEFAULT 'pending',
  rows_read INTEGER NOT NULL DEFAULT 0, rows_written INTEGER NOT NULL DEFAULT 0,
  rows_rejected INTEGER NOT NULL DEFAULT 0, finished_at TEXT,
  PRIMARY KEY (tbl, idx));
CREATE TABLE IF NOT EXISTS rejects (
  id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, chunk INTEGER NOT NULL, key TEXT NOT NULL,
  reason TEXT NOT NULL, row TEXT NOT NULL,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  rule TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS rejects_by_chunk ON rejects (tbl, chunk);
CREATE INDEX IF NOT EXISTS rejects_by_key ON rejects (tbl, key);
CREATE TABLE IF NOT EXISTS positions (stream TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (stream TEXT PRIMARY KEY, position TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS holds (
  stream TEXT NOT NULL, tbl TEXT NOT NULL, body TEXT NOT NULL,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), PRIMARY KEY (stream, tbl));
CREATE TABLE IF NOT EXISTS held_keys (
  stream TEXT NOT NULL, tbl TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (stream, tbl, key));
CREATE TABLE IF NOT EXISTS verify_spill (
  id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));
)sql";

std::optional<Row> OptRow(const Value& v) {
  if (v.is_null()) return std::nullopt;
  auto r = RowFromJson(v.as_str());
  if (!r) return std::nullopt;
  return *r;
}

Value BoundJson(const std::optional<Row>& r) { return r ? Value::Text(RowToJson(*r)) : Value(); }

// The state file holds rejected rows whole, so only its owner may read it: it is created
// 0600 before SQLite opens it (SQLite gives its -wal, -shm and -journal files the mode of the
// database file), and a file left looser by an older version is tightened with its companions.
Status OwnerOnly(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(Code::kFailedPrecondition, "state store {}: cannot open: {}", path,
                std::strerror(errno));
  }
  struct stat st {};
  bool loose = ::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0;
  if (loose && ::fchmod(fd, 0600) != 0) {
    int err = errno;
    ::close(fd);
    return Fail(Code::kFailedPrecondition, "state store {}: cannot make it private (chmod 600): {}",
                path, std::strerror(err));
  }
  ::close(fd);
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    std::string companion = path + suffix;
    if (::stat(companion.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      ::chmod(companion.c_str(), 0600);
    }
  }
  return Ok();
}

}  // namespace

std::string_view ChunkStatusName(ChunkStatus s) {
  switch (s) {
    case ChunkStatus::kPending: return "pending";
    case ChunkStatus::kCopying: return "copying";
    case ChunkStatus::kDone: return "done";
  }
  return "?";
}

Result<StateStore> StateStore::Open(const std::string& uri, const std::string& base_dir) {
  auto path = SqlitePath(uri, base_dir);
  if (!path) {
    return Fail(Code::kInvalidArgument,
                "state store '{}': only sqlite:PATH is supported in this version", uri);
  }
  TANDEM_RETURN_IF_ERROR(OwnerOnly(*path));
  TANDEM_ASSIGN_OR_RETURN(auto db, sqlite::Database::Open(*path));
  if (auto st = db.Exec(kSchema); !st) return std::unexpected(st.error().Context("state store"));
  // A store written before rejects said their rule and kind gains the two columns; its rows
  // stay, with both empty.
  TANDEM_ASSIGN_OR_RETURN(auto cols, db.Query("SELECT name FROM pragma_table_info('rejects')"));
  bool has_rule = false, has_kind = false;
  for (const auto& c : cols) {
    has_rule |= c[0].as_str() == "rule";
    has_kind |= c[0].as_str() == "kind";
  }
  if (!has_rule) {
    TANDEM_RETURN_IF_ERROR(db.Exec("ALTER TABLE rejects ADD COLUMN rule TEXT NOT NULL DEFAULT ''"));
  }
  if (!has_kind) {
    TANDEM_RETURN_IF_ERROR(db.Exec("ALTER TABLE rejects ADD COLUMN kind TEXT NOT NULL DEFAULT ''"));
  }
  return StateStore(std::move(db));
}

Status StateStore::Put(std::string_view key, std::string_view value) {
  std::lock_guard lock(*mu_);
  auto r = db_.Execute("INSERT INTO meta(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = ?2",
                       {Value::Text(std::string(key)), Value::Text(std::string(value))});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Status StateStore::PutAndLog(std::string_view key, std::string_view value, std::string_view kind,
                             std::string_view json) {
  std::lock_guard lock(*mu_);
  TANDEM_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    TANDEM_RETURN_IF_ERROR(Put(key, value));
    TANDEM_RETURN_IF_ERROR(Log(kind, json));
    return db_.Exec("COMMIT");
  };
  auto st = body();
  if (!st) (void)db_.Exec("ROLLBACK");
  return st;
}

Result<std::optional<std::string>> StateStore::Get(std::string_view key) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          db_.Query("SELECT v FROM meta WHERE k = ?1", {Value::Text(std::string(key))}));
  if (rows.empty()) return std::optional<std::string>();
  return std::optional<std::string>(rows[0][0].as_str());
}

Result<std::vector<Chunk>> StateStore::Chunks(std::string_view table) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(
      auto rows, db_.Query("SELECT idx, lower, upper, status, rows_read, rows_written, "
                           "rows_rejected FROM chunks WHERE tbl = ?1 ORDER BY idx",
                           {Value::Text(std::string(table))}));
  std::vector<Chunk> out;
  for (const auto& r : rows) {
    Chunk c;
    c.table = table;
    c.index = static_cast<int>(r[0].as_int());
    c.range.lower = OptRow(r[1]);
    c.range.upper = OptRow(r[2]);
    const std::string& s = r[3].as_str();
    c.status = s == "done" ? ChunkStatus::kDone
               : s == "copying" ? ChunkStatus::kCopying : ChunkStatus::kPending;
    c.rows_read = r[4].as_int();
    c.rows_written = r[5].as_int();
    c.rows_rejected = r[6].as_int();
    out.push_back(std::move(c));
  }
  return out;
}

Status StateStore::SaveChunkPlan(std::string_view table, const std::vector<Chunk>& chunks) {
  std::lock_guard lock(*mu_);
  TANDEM_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    Value t = Value::Text(std::string(table));
    TANDEM_RETURN_IF_ERROR(db_.Execute("DELETE FROM chunks WHERE tbl = ?1", {t}));
    TANDEM_RETURN_IF_ERROR(db_.Execute("DELETE FROM rejects WHERE tbl = ?1 AND chunk >= 0", {t}));
    for (const auto& c : chunks) {
      TANDEM_RETURN_IF_ERROR(db_.Execute(
          "INSERT INTO chunks(tbl, idx, lower, upper) VALUES (?1, ?2, ?3, ?4)",
          {t, Value::Int(c.index), BoundJson(c.range.lower), BoundJson(c.range.upper)}));
    }
    return Ok();
  };
  if (auto st = body(); !st) {
    (void)db_.Exec("ROLLBACK");
    return st;
  }
  return db_.Exec("COMMIT");
}

Status StateStore::MarkCopying(std::string_view table, int index) {
  std::lock_guard lock(*mu_);
  auto r = db_.Execute("UPDATE chunks SET status = 'copying' WHERE tbl = ?1 AND idx = ?2",
                       {Value::Text(std::string(table)), Value::Int(index)});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Status StateStore::FinishChunk(const Chunk& c, const std::vector<Reject>& rejects) {
  std::lock_guard lock(*mu_);
  TANDEM_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    Value t = Value::Text(c.table);
    TANDEM_RETURN_IF_ERROR(
        db_.Execute("DELETE FROM rejects WHERE tbl = ?1 AND chunk = ?2", {t, Value::Int(c.index)}));
    TANDEM_ASSIGN_OR_RETURN(
        auto ins, db_.Prepare("INSERT INTO rejects(tbl, chunk, key, reason, row, rule, kind) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    for (const auto& r : rejects) {
      TANDEM_RETURN_IF_ERROR(ins.BindAll({t, Value::Int(c.index), Value::Text(RowToJson(r.key)),
                                          Value::Text(r.reason), Value::Text(r.row_json),
                                          Value::Text(r.rule), Value::Text(r.kind)}));
      TANDEM_RETURN_IF_ERROR(ins.Step());
      ins.Reset();
    }
    TANDEM_RETURN_IF_ERROR(db_.Execute(
        "UPDATE chunks SET status = 'done', rows_read = ?3, rows_written = ?4, "
        "rows_rejected = ?5, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
        "WHERE tbl = ?1 AND idx = ?2",
        {t, Value::Int(c.index), Value::Int(c.rows_read), Value::Int(c.rows_written),
         Value::Int(c.rows_rejected)}));
    return Ok();
  };
  if (auto st = body(); !st) {
    (void)db_.Exec("ROLLBACK");
    return st;
  }
  return db_.Exec("COMMIT");
}

Result<std::vector<TableTotals>> StateStore::Totals() {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      db_.Query("SELECT tbl, count(*), sum(status = 'done'), sum(rows_read), sum(rows_written), "
                "sum(rows_rejected) FROM chunks GROUP BY tbl ORDER BY tbl"));
  std::vector<TableTotals> out;
  for (const auto& r : rows) {
    out.push_back({r[0].as_str(), static_cast<int>(r[1].as_int()),
                   static_cast<int>(r[2].as_int()), r[3].as_int(), r[4].as_int(), r[5].as_int()});
  }
  return out;
}

Status StateStore::ResetBackfill() {
  std::lock_guard lock(*mu_);
  return db_.Exec("DELETE FROM chunks; DELETE FROM rejects;");
}

Status StateStore::PutStreamReject(const Reject& r) {
  std::lock_guard lock(*mu_);
  TANDEM_RETURN_IF_ERROR(ClearStreamReject(r.table, r.key));
  auto res = db_.Execute(
      "INSERT INTO rejects(tbl, chunk, key, reason, row, rule, kind) "
      "VALUES (?1, -1, ?2, ?3, ?4, ?5, ?6)",
      {Value::Text(r.table), Value::Text(RowToJson(r.key)), Value::Text(r.reason),
       Value::Text(r.row_json), Value::Text(r.rule), Value::Text(r.kind)});
  if (!res) return std::unexpected(res.error());
  return Ok();
}

Status StateStore::ClearStreamReject(std::string_view table, const Row& key) {
  std::lock_guard lock(*mu_);
  // A key that lands (or is deleted) is no longer rejected, whichever step rejected it before.
  auto res = db_.Execute("DELETE FROM rejects WHERE tbl = ?1 AND key = ?2",
                         {Value::Text(std::string(table)), Value::Text(RowToJson(key))});
  if (!res) return std::unexpected(res.error());
  return Ok();
}

namespace {

constexpr std::string_view kRejectColumns = "chunk, key, reason, row, at, rule, kind, id";

std::vector<Reject> RejectsFrom(std::string_view table, const std::vector<Row>& rows) {
  std::vector<Reject> out;
  for (const auto& r : rows) {
    Reject x;
    x.table = table;
    x.chunk = static_cast<int>(r[0].as_int());
    x.key = RowFromJson(r[1].as_str()).value_or(Row{});
    x.reason = r[2].as_str();
    x.row_json = r[3].as_str();
    x.at = r[4].as_str();
    x.rule = r[5].as_str();
    x.kind = r[6].as_str();
    x.id = r[7].as_int();
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace

Result<std::vector<Reject>> StateStore::Rejects(std::string_view table, int limit) {
  return RejectsAfter(table, 0, limit);
}

Result<std::vector<Reject>> StateStore::RejectsAfter(std::string_view table, int64_t after_id,
                                                     int limit) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(
      auto rows, db_.Query(fmt::format("SELECT {} FROM rejects WHERE tbl = ?1 AND id > ?2 "
                                       "ORDER BY id LIMIT ?3",
                                       kRejectColumns),
                           {Value::Text(std::string(table)), Value::Int(after_id), Value::Int(limit)}));
  return RejectsFrom(table, rows);
}

Result<std::vector<Reject>> StateStore::RejectsOfKey(std::string_view table, const Row& key) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(
      auto rows, db_.Query(fmt::format("SELECT {} FROM rejects WHERE tbl = ?1 AND key = ?2 "
                                       "ORDER BY id",
                                       kRejectColumns),
                           {Value::Text(std::string(table)), Value::Text(RowToJson(key))}));
  return RejectsFrom(table, rows);
}

Status StateStore::UpdateReject(const Reject& r) {
  std::lock_guard lock(*mu_);
  auto res = db_.Execute(
      "UPDATE rejects SET reason = ?2, rule = ?3, kind = ?4, row = ?5, "
      "at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1",
      {Value::Int(r.id), Value::Text(r.reason), Value::Text(r.rule), Value::Text(r.kind),
       Value::Text(r.row_json)});
  if (!res) return std::unexpected(res.error());
  return Ok();
}

Result<int64_t> StateStore::RejectCount(std::string_view table) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT count(*) FROM rejects WHERE tbl = ?1",
                                               {Value::Text(std::string(table))}));
  return rows[0][0].as_int();
}

// Positions are opaque text (checkpoints). Stores written before that kept a trigger seq as
// an integer (positions); such a seq is read back as its decimal text, which is how trigger
// sources spell their positions.
Status StateStore::PutPosition(std::string_view stream, const tandem::Position& position) {
  std::lock_guard lock(*mu_);
  auto r = db_.Execute(
      "INSERT INTO checkpoints(stream, position) VALUES (?1, ?2) "
      "ON CONFLICT(stream) DO UPDATE SET position = ?2",
      {Value::Text(std::string(stream)), Value::Text(position.text)});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Result<tandem::Position> StateStore::Position(std::string_view stream) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT position FROM checkpoints WHERE stream = ?1",
                                               {Value::Text(std::string(stream))}));
  if (!rows.empty()) return tandem::Position{rows[0][0].as_str()};
  TANDEM_ASSIGN_OR_RETURN(auto old, db_.Query("SELECT seq FROM positions WHERE stream = ?1",
                                              {Value::Text(std::string(stream))}));
  if (old.empty() || old[0][0].kind() != Kind::kInt || old[0][0].as_int() == 0) {
    return tandem::Position{};
  }
  return tandem::Position{std::to_string(old[0][0].as_int())};
}

Status StateStore::Log(std::string_view kind, std::string_view json) {
  std::lock_guard lock(*mu_);
  auto r = db_.Execute("INSERT INTO events(kind, body) VALUES (?1, ?2)",
                       {Value::Text(std::string(kind)), Value::Text(std::string(json))});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

// ---- verify ------------------------------------------------------------------------------

Status StateStore::ClearVerifySpill() {
  std::lock_guard lock(*mu_);
  return db_.Exec("DELETE FROM verify_spill");
}

Status StateStore::SpillVerifyDifferences(std::string_view table,
                                          const std::vector<std::string>& bodies) {
  std::lock_guard lock(*mu_);
  TANDEM_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    for (const auto& b : bodies) {
      auto r = db_.Execute("INSERT INTO verify_spill(tbl, body) VALUES (?1, ?2)",
                           {Value::Text(std::string(table)), Value::Text(b)});
      if (!r) return std::unexpected(r.error());
    }
    return db_.Exec("COMMIT");
  };
  auto st = body();
  if (!st) (void)db_.Exec("ROLLBACK");
  return st;
}

Result<std::vector<std::string>> StateStore::VerifySpill(std::string_view table, int limit) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT body FROM verify_spill WHERE tbl = ?1 ORDER BY id LIMIT ?2",
                                               {Value::Text(std::string(table)), Value::Int(limit)}));
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r[0].as_str());
  return out;
}

// ---- held tables ---------------------------------------------------------------------------

Status StateStore::ResetTableBackfill(std::string_view table) {
  std::lock_guard lock(*mu_);
  TANDEM_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    for (const char* sql : {"DELETE FROM chunks WHERE tbl = ?1",
                            "DELETE FROM rejects WHERE tbl = ?1 AND chunk >= 0"}) {
      auto r = db_.Execute(sql, {Value::Text(std::string(table))});
      if (!r) return std::unexpected(r.error());
    }
    return db_.Exec("COMMIT");
  };
  auto st = body();
  if (!st) (void)db_.Exec("ROLLBACK");
  return st;
}

Status StateStore::PutHold(std::string_view stream, std::string_view table, std::string_view body) {
  std::lock_guard lock(*mu_);
  auto r = db_.Execute(
      "INSERT INTO holds(stream, tbl, body) VALUES (?1, ?2, ?3) "
      "ON CONFLICT(stream, tbl) DO UPDATE SET body = ?3",
      {Value::Text(std::string(stream)), Value::Text(std::string(table)),
       Value::Text(std::string(body))});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Status StateStore::ClearHold(std::string_view stream, std::string_view table) {
  std::lock_guard lock(*mu_);
  auto r = db_.Execute("DELETE FROM holds WHERE stream = ?1 AND tbl = ?2",
                       {Value::Text(std::string(stream)), Value::Text(std::string(table))});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Result<std::vector<Hold>> StateStore::Holds(std::string_view stream) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      db_.Query("SELECT h.stream, h.tbl, h.body, h.at, (SELECT count(*) FROM held_keys k "
                "WHERE k.stream = h.stream AND k.tbl = h.tbl) FROM holds h "
                "WHERE ?1 = '' OR h.stream = ?1 ORDER BY h.stream, h.tbl",
                {Value::Text(std::string(stream))}));
  std::vector<Hold> out;
  for (const auto& r : rows) {
    out.push_back({r[0].as_str(), r[1].as_str(), r[2].as_str(), r[3].as_str(), r[4].as_int()});
  }
  return out;
}

Status StateStore::PutPositionHolding(std::string_view stream, const tandem::Position& position,
                                      const std::vector<std::pair<std::string, Row>>& held) {
  std::lock_guard lock(*mu_);
  if (held.empty()) return PutPosition(stream, position);
  TANDEM_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    for (const auto& [table, key] : held) {
      auto r = db_.Execute("INSERT OR IGNORE INTO held_keys(stream, tbl, key) VALUES (?1, ?2, ?3)",
                           {Value::Text(std::string(stream)), Value::Text(table),
                            Value::Text(RowToJson(key))});
      if (!r) return std::unexpected(r.error());
    }
    TANDEM_RETURN_IF_ERROR(PutPosition(stream, position));
    return db_.Exec("COMMIT");
  };
  auto st = body();
  if (!st) (void)db_.Exec("ROLLBACK");
  return st;
}

Result<std::vector<std::string>> StateStore::TablesWithHeldKeys(std::string_view stream) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT DISTINCT tbl FROM held_keys WHERE stream = ?1 "
                                               "ORDER BY tbl",
                                               {Value::Text(std::string(stream))}));
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r[0].as_str());
  return out;
}

Result<std::vector<Row>> StateStore::HeldKeys(std::string_view stream, std::string_view table,
                                              int limit) {
  std::lock_guard lock(*mu_);
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          db_.Query("SELECT key FROM held_keys WHERE stream = ?1 AND tbl = ?2 "
                                    "ORDER BY key LIMIT ?3",
                                    {Value::Text(std::string(stream)),
                                     Value::Text(std::string(table)), Value::Int(limit)}));
  std::vector<Row> out;
  for (const auto& r : rows) {
    auto key = RowFromJson(r[0].as_str());
    if (!key) return std::unexpected(key.error());
    out.push_back(std::move(*key));
  }
  return out;
}

Status StateStore::ReleaseHeldKeys(std::string_view stream, std::string_view table,
                                   const std::vector<Row>& keys) {
  std::lock_guard lock(*mu_);
  TANDEM_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    for (const auto& k : keys) {
      auto r = db_.Execute("DELETE FROM held_keys WHERE stream = ?1 AND tbl = ?2 AND key = ?3",
                           {Value::Text(std::string(stream)), Value::Text(std::string(table)),
                            Value::Text(RowToJson(k))});
      if (!r) return std::unexpected(r.error());
    }
    return db_.Exec("COMMIT");
  };
  auto st = body();
  if (!st) (void)db_.Exec("ROLLBACK");
  return st;
}

}  // namespace tandem::state
