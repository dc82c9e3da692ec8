// Trigger-based change capture for MariaDB.
//
// AFTER INSERT/UPDATE/DELETE triggers on each captured table append (seq, table, op, key) to
// _tandem_changes, where seq is an AUTO_INCREMENT. Sessions that set @tandem_capture_off = 1
// (tandem's own writers, SetCaptureSuppressed) are not recorded.
//
// Sequence gaps. A seq is allocated when the row is inserted but becomes visible when its
// transaction commits, so seq 5 can appear after seq 6 has been read; a rolled-back
// transaction leaves a gap that never fills. ReadChanges therefore stops before the first gap
// and moves past it only once the gap is proven dead:
//   1. The gap is seen: every missing seq below the highest seq read (the horizon) had already
//      been allocated, so whichever transaction holds it was open at that moment.
//   2. After `gap_settle_` (1 s: information_schema.INNODB_TRX is a cache refreshed every
//      100 ms) the engine takes the set of open transactions that have written rows. Any
//      transaction holding a missing seq is in that set or has already ended.
//   3. Once none of that set is still open, every transaction that could hold a missing seq
//      has committed or rolled back; the next read sees all that committed, and what is still
//      missing below the horizon is dead.
// Reading INNODB_TRX needs the PROCESS privilege. Without it the engine falls back to a
// timeout (`gap_fallback_`, 10 s after the gap was seen), which skips a change only if a
// transaction stays open longer than that after writing it: documented, not proven.
#include <nlohmann/json.hpp>

#include "engines/mysql/mysql_dialect.h"
#include "engines/mysql/mysql_engine.h"

namespace tandem::mysql {

Status MysqlEngine::InstallCapture(const std::vector<CaptureTable>& tables) {
  std::string what = "install capture";
  if (in_txn_) {
    return Fail(Code::kFailedPrecondition,
                "{}: DDL would commit the open transaction; install outside Begin()", what);
  }
  TANDEM_RETURN_IF_ERROR(conn_.Exec(CreateChangeTableSql(), what));
  TANDEM_RETURN_IF_ERROR(conn_.Exec(CreateCaptureTableSql(), what));
  for (const CaptureTable& t : tables) {
    std::string twhat = fmt::format("install capture on {}", QuoteIdent(t.table));
    if (t.key.empty()) {
      return Fail(Code::kFailedPrecondition, "{}: no key columns to record", twhat);
    }
    TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, Table(t.table));
    std::vector<CaptureKeyColumn> key;
    nlohmann::json names = nlohmann::json::array();
    for (const auto& k : t.key) {
      int i = info->IndexOf(k);
      if (i < 0) {
        return Fail(Code::kNotFound, "{}: key column {} not found", twhat, QuoteIdent(k));
      }
      key.push_back({info->columns[i].name, info->codecs[i]});
      names.push_back(info->columns[i].name);
    }
    std::string table_literal = conn_.Quoted(t.table);
    TANDEM_RETURN_IF_ERROR(conn_.Exec(
        fmt::format("REPLACE INTO {} (`tbl`, `key_columns`) VALUES ({}, {})",
                    QuoteIdent(kCaptureTable), table_literal, conn_.Quoted(names.dump())),
        twhat));
    for (char op : {'I', 'U', 'D'}) {
      // MariaDB replaces a trigger atomically; elsewhere there is a short window without one,
      // acceptable because capture is installed before the backfill starts reading.
      if (!is_mariadb_) {
        TANDEM_RETURN_IF_ERROR(conn_.Exec(
            fmt::format("DROP TRIGGER IF EXISTS {}", QuoteIdent(TriggerName(t.table, op))), twhat));
      }
      TANDEM_RETURN_IF_ERROR(
          conn_.Exec(TriggerSql(t.table, table_literal, op, key, is_mariadb_), twhat));
    }
    capture_keys_[t.table] = std::move(key);
  }
  return Ok();
}

Result<const std::vector<CaptureKeyColumn>*> MysqlEngine::CaptureKey(const std::string& table) {
  if (auto it = capture_keys_.find(table); it != capture_keys_.end()) return &it->second;
  std::string what = "read capture keys";
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res,
                          conn_.Query(fmt::format("SELECT `key_columns` FROM {} WHERE `tbl` = {}",
                                                  QuoteIdent(kCaptureTable), conn_.Quoted(table)),
                                      what));
  std::vector<CaptureKeyColumn> key;
  if (MYSQL_ROW row = res.Next()) {
    auto names = nlohmann::json::parse(std::string(row[0], res.lengths()[0]), nullptr, false);
    auto info = Table(table);
    if (!names.is_array()) {
      return Fail(Code::kDataLoss, "{}: bad key list for {}", what, QuoteIdent(table));
    }
    for (const auto& n : names) {
      CaptureKeyColumn c;
      c.name = n.is_string() ? n.get<std::string>() : "";
      // A table dropped since capture began decodes its keys as text.
      if (info) {
        if (int i = (*info)->IndexOf(c.name); i >= 0) c.codec = (*info)->codecs[i];
      }
      key.push_back(std::move(c));
    }
  }
  return &(capture_keys_[table] = std::move(key));
}

Result<std::set<std::string>> MysqlEngine::OpenWriters() {
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res,
                          conn_.Query("SELECT trx_id FROM information_schema.INNODB_TRX "
                                      "WHERE trx_mysql_thread_id <> CONNECTION_ID() "
                                      "AND (trx_rows_modified > 0 OR trx_state = 'LOCK WAIT')",
                                      "list open transactions"));
  std::set<std::string> out;
  while (MYSQL_ROW row = res.Next()) {
    if (row[0]) out.emplace(row[0], res.lengths()[0]);
  }
  return out;
}

Status MysqlEngine::AdvanceGapProof() {
  if (!gap_) return Ok();
  auto waited = std::chrono::steady_clock::now() - gap_->seen_at;
  if (waited < gap_settle_) return Ok();
  auto writers = OpenWriters();
  if (!writers) {
    if (writers.error().code != Code::kFailedPrecondition) return std::unexpected(writers.error());
    if (waited >= gap_fallback_) {  // no PROCESS privilege: the documented timeout
      dead_upto_ = std::max(dead_upto_, gap_->horizon);
      gap_.reset();
    }
    return Ok();
  }
  if (!gap_->writers) {
    gap_->writers = std::move(*writers);
  } else {
    std::erase_if(*gap_->writers, [&](const std::string& id) { return !writers->contains(id); });
  }
  if (gap_->writers->empty()) {
    dead_upto_ = std::max(dead_upto_, gap_->horizon);
    gap_.reset();
  }
  return Ok();
}

Result<std::vector<Change>> MysqlEngine::ReadChanges(int64_t after, size_t limit) {
  std::vector<Change> out;
  if (limit == 0) return out;
  std::string what = "read changes";
  // Proof first, read second: what the proof clears must be judged on a read taken after it.
  TANDEM_RETURN_IF_ERROR(AdvanceGapProof());
  auto res = conn_.Query(fmt::format("SELECT `seq`, `tbl`, `op`, `k`, "
                                     "CAST(UNIX_TIMESTAMP(`at`) * 1000000 AS SIGNED) "
                                     "FROM {} WHERE `seq` > {} "
                                     "ORDER BY `seq` LIMIT {}",
                                     QuoteIdent(kChangeTable), after, limit),
                         what);
  if (!res) {
    if (res.error().code == Code::kNotFound) {
      return Fail(Code::kFailedPrecondition, "{}: change capture is not installed in {}", what,
                  uri_.Redacted());
    }
    return std::unexpected(res.error());
  }
  struct RawChange {
    int64_t seq;
    std::string table;
    char op;
    std::string key;
    int64_t at_micros;
  };
  std::vector<RawChange> raw;
  while (MYSQL_ROW row = res->Next()) {
    const unsigned long* len = res->lengths();
    RawChange r{.seq = std::stoll(row[0]),
                .table = std::string(row[1], len[1]),
                .op = len[2] ? row[2][0] : 'U',
                .key = std::string(row[3], len[3]),
                .at_micros = row[4] ? std::stoll(row[4]) : 0};
    raw.push_back(std::move(r));
  }
  int64_t expected = after + 1;
  for (RawChange& r : raw) {
    if (r.seq != expected && r.seq - 1 > dead_upto_) {
      if (!gap_) {
        gap_.emplace();
        gap_->horizon = raw.back().seq;
        gap_->seen_at = std::chrono::steady_clock::now();
      }
      break;
    }
    TANDEM_ASSIGN_OR_RETURN(const std::vector<CaptureKeyColumn>* key, CaptureKey(r.table));
    auto parsed = nlohmann::json::parse(r.key, nullptr, false);
    if (!parsed.is_array()) {
      return Fail(Code::kDataLoss, "{}: change {} of {} has a malformed key {}", what, r.seq,
                  QuoteIdent(r.table), r.key);
    }
    Change c;
    c.seq = r.seq;
    c.table = std::move(r.table);
    c.op = r.op;
    c.at_micros = r.at_micros;
    for (size_t i = 0; i < parsed.size(); ++i) {
      const auto& el = parsed[i];
      if (el.is_null()) {
        c.key.push_back(Value::Null());
      } else {
        std::string s = el.is_string() ? el.get<std::string>() : el.dump();
        ColumnCodec codec = i < key->size() ? (*key)[i].codec : ColumnCodec{};
        c.key.push_back(DecodeCaptured(s, codec));
      }
    }
    out.push_back(std::move(c));
    expected = r.seq + 1;
  }
  return out;
}

Result<int64_t> MysqlEngine::LastChangeSeq() {
  std::string what = "read last change";
  auto res = conn_.Query(fmt::format("SELECT MAX(`seq`) FROM {}", QuoteIdent(kChangeTable)), what);
  if (!res) {
    if (res.error().code == Code::kNotFound) return 0;
    return std::unexpected(res.error());
  }
  MYSQL_ROW row = res->Next();
  if (row && row[0]) return std::stoll(row[0]);
  // Everything pruned: the counter still knows how far it got (persisted since MariaDB 10.2).
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult ai,
      conn_.Query(fmt::format("SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                              "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                              conn_.Quoted(kChangeTable)),
                  what));
  MYSQL_ROW r = ai.Next();
  if (r && r[0]) return std::max<int64_t>(0, std::stoll(r[0]) - 1);
  return 0;
}

Status MysqlEngine::PruneChanges(int64_t upto) {
  std::string what = "prune changes";
  auto stmt = MysqlStmt::Prepare(
      conn_.get(),
      fmt::format("DELETE FROM {} WHERE `seq` <= ? LIMIT 10000", QuoteIdent(kChangeTable)), what);
  if (!stmt) {
    if (stmt.error().code == Code::kNotFound) return Ok();  // nothing was ever captured
    return std::unexpected(stmt.error());
  }
  // Bounded deletes keep each transaction (and its undo log) small on a busy change table.
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(uint64_t n, stmt->Execute({upto}, what));
    if (n < 10000) break;
  }
  return Ok();
}

Status MysqlEngine::RemoveCapture() {
  std::string what = "remove capture";
  if (in_txn_) {
    return Fail(Code::kFailedPrecondition,
                "{}: DDL would commit the open transaction; remove outside Begin()", what);
  }
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res,
                          conn_.Query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                                      "WHERE TRIGGER_SCHEMA = DATABASE()",
                                      what));
  std::vector<std::string> triggers;
  while (MYSQL_ROW row = res.Next()) {
    std::string name(row[0], res.lengths()[0]);
    if (name.starts_with("_tandem_")) triggers.push_back(std::move(name));
  }
  for (const auto& t : triggers) {
    TANDEM_RETURN_IF_ERROR(
        conn_.Exec(fmt::format("DROP TRIGGER IF EXISTS {}", QuoteIdent(t)), what));
  }
  TANDEM_RETURN_IF_ERROR(
      conn_.Exec(fmt::format("DROP TABLE IF EXISTS {}, {}", QuoteIdent(kChangeTable),
                             QuoteIdent(kCaptureTable)),
                 what));
  capture_keys_.clear();
  gap_.reset();
  dead_upto_ = 0;
  return Ok();
}

}  // namespace tandem::mysql
