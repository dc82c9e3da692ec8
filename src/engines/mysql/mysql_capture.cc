#include <nlohmann/json.hpp>

#include "engines/mysql/mysql_dialect.h"
#include "engines/factories.h"
#include "engines/mysql/mysql_capture.h"
#include "engines/mysql/mysql_engine.h"

namespace tandem {

Result<std::unique_ptr<ChangeSource>> OpenMysqlTriggers(Engine& engine) {
  auto* e = dynamic_cast<mysql::MysqlEngine*>(&engine);
  if (!e) {
    return Fail(Code::kInvalidArgument, "mysql triggers: {} is not a MariaDB engine",
                engine.Describe());
  }
  return std::unique_ptr<ChangeSource>(new mysql::MysqlTriggerCapture(*e));
}

namespace mysql {

Status MysqlTriggerCapture::Install(const std::vector<CaptureTable>& tables) {
  std::string what = "install capture";
  // Without PROCESS no gap could ever be proven dead (mysql_capture.h): refuse up front.
  TANDEM_RETURN_IF_ERROR(OpenWriters());
  MysqlConnection& conn_ = e_.conn_;
  if (e_.in_txn_) {
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
    TANDEM_ASSIGN_OR_RETURN(const TableInfo* info, e_.Table(t.table));
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
      if (!e_.is_mariadb_) {
        TANDEM_RETURN_IF_ERROR(conn_.Exec(
            fmt::format("DROP TRIGGER IF EXISTS {}", QuoteIdent(TriggerName(t.table, op))), twhat));
      }
      TANDEM_RETURN_IF_ERROR(
          conn_.Exec(TriggerSql(t.table, table_literal, op, key, e_.is_mariadb_), twhat));
    }
    capture_keys_[t.table] = std::move(key);
  }
  return Ok();
}

Result<std::vector<MissingGrant>> MysqlTriggerCapture::MissingGrants(
    const std::vector<std::string>& tables) {
  (void)tables;  // every privilege below is needed on the database: the change tables need it
  std::string what = "mysql privileges";
  MysqlConnection& conn_ = e_.conn_;
  std::string user, database;
  {
    TANDEM_ASSIGN_OR_RETURN(MysqlResult me, conn_.Query("SELECT CURRENT_USER(), DATABASE()", what));
    if (MYSQL_ROW row = me.Next()) {
      if (row[0]) user = row[0];
      if (row[1]) database = row[1];
    }
  }
  auto at = user.rfind('@');
  std::string name = user.substr(0, at), host = at == std::string::npos ? "" : user.substr(at + 1);
  // information_schema spells the grantee 'name'@'host'; a quote in either is doubled.
  auto single = [](const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  };
  std::string grantee = single(name) + "@" + single(host);
  std::string who = conn_.Quoted(name) + "@" + conn_.Quoted(host);
  // Direct grants of the connecting account, global or on this database (privileges held
  // through a role are not seen here: grant them to the account itself).
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult res,
      conn_.Query(fmt::format("SELECT 'global', PRIVILEGE_TYPE FROM "
                              "information_schema.USER_PRIVILEGES WHERE GRANTEE = {0} "
                              "UNION ALL SELECT 'db', PRIVILEGE_TYPE FROM "
                              "information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = {0} "
                              "AND TABLE_SCHEMA = DATABASE()",
                              conn_.Quoted(grantee)),
                  what));
  std::set<std::string> global, db;
  while (MYSQL_ROW row = res.Next()) {
    if (!row[0] || !row[1]) continue;
    (std::string_view(row[0]) == "global" ? global : db).insert(row[1]);
  }
  std::vector<MissingGrant> out;
  if (!global.contains("PROCESS")) {
    out.push_back({"PROCESS (capture reads information_schema.INNODB_TRX to prove a gap in the "
                   "change sequence dead)",
                   fmt::format("GRANT PROCESS ON *.* TO {};", who)});
  }
  std::string missing;
  for (const char* p : {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "TRIGGER"}) {
    if (!global.contains(p) && !db.contains(p)) {
      missing += (missing.empty() ? "" : ", ") + std::string(p);
    }
  }
  if (!missing.empty()) {
    out.push_back({fmt::format("{} on database {} (to create and drop the capture triggers and "
                               "change tables, copy, apply changes and verify)",
                               missing, QuoteIdent(database)),
                   fmt::format("GRANT {} ON {}.* TO {};", missing, QuoteIdent(database), who)});
  }
  return out;
}

Result<const std::vector<CaptureKeyColumn>*> MysqlTriggerCapture::CaptureKey(
    const std::string& table) {
  MysqlConnection& conn_ = e_.conn_;
  if (auto it = capture_keys_.find(table); it != capture_keys_.end()) return &it->second;
  std::string what = "read capture keys";
  TANDEM_ASSIGN_OR_RETURN(MysqlResult res,
                          conn_.Query(fmt::format("SELECT `key_columns` FROM {} WHERE `tbl` = {}",
                                                  QuoteIdent(kCaptureTable), conn_.Quoted(table)),
                                      what));
  std::vector<CaptureKeyColumn> key;
  if (MYSQL_ROW row = res.Next()) {
    auto names = nlohmann::json::parse(std::string(row[0], res.lengths()[0]), nullptr, false);
    auto info = e_.Table(table);
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

Result<std::set<std::string>> MysqlTriggerCapture::OpenWriters() {
  MysqlConnection& conn_ = e_.conn_;
  auto listed = conn_.Query("SELECT trx_id FROM information_schema.INNODB_TRX "
                                      "WHERE trx_mysql_thread_id <> CONNECTION_ID() "
                                      "AND (trx_rows_modified > 0 OR trx_state = 'LOCK WAIT')",
                                      "list open transactions");
  if (!listed) {
    if (listed.error().code != Code::kFailedPrecondition) return std::unexpected(listed.error());
    std::string who = "the tandem user";
    if (auto me = conn_.Query("SELECT CURRENT_USER()", "current user")) {
      if (MYSQL_ROW row = me->Next(); row && row[0]) {
        std::string u(row[0]);
        auto at = u.rfind('@');
        who = at == std::string::npos
                  ? conn_.Quoted(u)
                  : conn_.Quoted(u.substr(0, at)) + "@" + conn_.Quoted(u.substr(at + 1));
      }
    }
    return Fail(Code::kFailedPrecondition,
                "mysql capture on {}: proving a gap in the change sequence dead needs the PROCESS "
                "privilege (to read information_schema.INNODB_TRX), without it a change could be "
                "skipped; run: GRANT PROCESS ON *.* TO {} ({})",
                e_.uri_.Redacted(), who, listed.error().message);
  }
  MysqlResult& res = *listed;
  std::set<std::string> out;
  while (MYSQL_ROW row = res.Next()) {
    if (row[0]) out.emplace(row[0], res.lengths()[0]);
  }
  return out;
}

Status MysqlTriggerCapture::AdvanceGapProof() {
  if (!gap_) return Ok();
  auto waited = std::chrono::steady_clock::now() - gap_->seen_at;
  if (waited < gap_settle_) return Ok();
  // No proof without the open-transaction list: the gap waits and the caller is told why.
  TANDEM_ASSIGN_OR_RETURN(auto writers, OpenWriters());
  if (!gap_->writers) {
    gap_->writers = std::move(writers);
  } else {
    std::erase_if(*gap_->writers, [&](const std::string& id) { return !writers.contains(id); });
  }
  if (gap_->writers->empty()) {
    dead_upto_ = std::max(dead_upto_, gap_->horizon);
    gap_.reset();
  }
  return Ok();
}

Result<ChangeBatch> MysqlTriggerCapture::Read(const Position& after, size_t limit) {
  std::string what = "read changes";
  TANDEM_ASSIGN_OR_RETURN(int64_t from, SeqOf(after, what));
  ChangeBatch out{.upto = after};
  if (limit == 0) return out;
  MysqlConnection& conn_ = e_.conn_;
  // Proof first, read second: what the proof clears must be judged on a read taken after it.
  // Without the PROCESS privilege there is no proof; that is an error only if the gap still
  // holds the read back (it may have filled meanwhile).
  std::optional<Error> no_proof;
  if (auto st = AdvanceGapProof(); !st) {
    if (st.error().code != Code::kFailedPrecondition) return std::unexpected(st.error());
    no_proof = std::move(st.error());
  }
  auto res = conn_.Query(fmt::format("SELECT `seq`, `tbl`, `op`, `k`, "
                                     "CAST(UNIX_TIMESTAMP(`at`) * 1000000 AS SIGNED) "
                                     "FROM {} WHERE `seq` > {} "
                                     "ORDER BY `seq` LIMIT {}",
                                     QuoteIdent(kChangeTable), from, limit),
                         what);
  if (!res) {
    if (res.error().code == Code::kNotFound) {
      return Fail(Code::kFailedPrecondition, "{}: change capture is not installed in {}", what,
                  e_.uri_.Redacted());
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
  auto watch = [&](int64_t horizon) {
    if (gap_) return;
    gap_.emplace();
    gap_->horizon = horizon;
    gap_->seen_at = std::chrono::steady_clock::now();
  };
  // Seqs below `expected` are returned or proven dead.
  int64_t expected = std::max(from, dead_upto_) + 1;
  bool blocked = false;
  for (RawChange& r : raw) {
    if (r.seq != expected && r.seq > dead_upto_) {
      watch(raw.back().seq);
      blocked = true;
      break;
    }
    TANDEM_ASSIGN_OR_RETURN(const std::vector<CaptureKeyColumn>* key, CaptureKey(r.table));
    auto parsed = nlohmann::json::parse(r.key, nullptr, false);
    if (!parsed.is_array()) {
      return Fail(Code::kDataLoss, "{}: change {} of {} has a malformed key {}", what, r.seq,
                  QuoteIdent(r.table), r.key);
    }
    Change c;
    c.position = SeqPosition(r.seq);
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
    out.changes.push_back(std::move(c));
    expected = std::max(r.seq, dead_upto_) + 1;
  }
  if (out.changes.size() >= limit) {
    out.upto = out.changes.back().position;  // more may follow: upto must not pass them
    return out;
  }
  out.upto = SeqPosition(std::max(from, expected - 1));
  bool held = blocked;
  if (!blocked) {
    // Seqs handed out after the last visible one (open or rolled back): a gap at the tail.
    TANDEM_ASSIGN_OR_RETURN(int64_t last, LastSeq());
    held = last > expected - 1;
    if (held) watch(last);
  }
  if (!held) {
    gap_.reset();  // nothing is missing any more
  } else if (no_proof && out.changes.empty()) {
    return std::unexpected(no_proof->Context(
        fmt::format("{}: changes after seq {} wait on a gap", what, std::max(from, expected - 1))));
  }
  return out;
}

Result<int64_t> MysqlTriggerCapture::LastSeq() {
  std::string what = "read last change";
  MysqlConnection& conn_ = e_.conn_;
  auto res = conn_.Query(fmt::format("SELECT MAX(`seq`) FROM {}", QuoteIdent(kChangeTable)), what);
  if (!res) {
    if (res.error().code == Code::kNotFound) return 0;
    return std::unexpected(res.error());
  }
  int64_t last = 0;
  if (MYSQL_ROW row = res->Next(); row && row[0]) last = std::stoll(row[0]);
  // The counter knows what it handed out beyond the visible rows: open or rolled-back
  // transactions, or rows already pruned (persisted since MariaDB 10.2).
  TANDEM_ASSIGN_OR_RETURN(
      MysqlResult ai,
      conn_.Query(fmt::format("SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                              "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                              conn_.Quoted(kChangeTable)),
                  what));
  MYSQL_ROW r = ai.Next();
  if (r && r[0]) last = std::max<int64_t>(last, std::stoll(r[0]) - 1);
  return last;
}

Result<Position> MysqlTriggerCapture::Last() {
  TANDEM_ASSIGN_OR_RETURN(int64_t last, LastSeq());
  return SeqPosition(last);
}

Result<int64_t> MysqlTriggerCapture::Pending(const Position& after) {
  std::string what = "count pending changes";
  TANDEM_ASSIGN_OR_RETURN(int64_t from, SeqOf(after, what));
  auto res = e_.conn_.Query(
      fmt::format("SELECT COUNT(*) FROM {} WHERE `seq` > {}", QuoteIdent(kChangeTable), from),
      what);
  if (!res) {
    if (res.error().code == Code::kNotFound) return int64_t{0};
    return std::unexpected(res.error());
  }
  MYSQL_ROW row = res->Next();
  return row && row[0] ? std::stoll(row[0]) : int64_t{0};
}

Status MysqlTriggerCapture::Prune(const Position& upto) {
  std::string what = "prune changes";
  TANDEM_ASSIGN_OR_RETURN(int64_t seq, SeqOf(upto, what));
  auto stmt = MysqlStmt::Prepare(
      e_.conn_.get(),
      fmt::format("DELETE FROM {} WHERE `seq` <= ? LIMIT 10000", QuoteIdent(kChangeTable)), what);
  if (!stmt) {
    if (stmt.error().code == Code::kNotFound) return Ok();  // nothing was ever captured
    return std::unexpected(stmt.error());
  }
  // Bounded deletes keep each transaction (and its undo log) small on a busy change table.
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(uint64_t n, stmt->Execute({seq}, what));
    if (n < 10000) break;
  }
  return Ok();
}

Status MysqlTriggerCapture::Remove() {
  std::string what = "remove capture";
  MysqlConnection& conn_ = e_.conn_;
  if (e_.in_txn_) {
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

}  // namespace mysql
}  // namespace tandem
