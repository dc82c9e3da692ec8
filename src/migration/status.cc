// `tandem status`: phase, per-table progress, lag, rejects, the last verify, the follower,
// and an interrupted step with what the next command will do about it. What the state
// store knows is shown even when a database cannot be reached.
#include <nlohmann/json.hpp>

#include "migration/balance.h"
#include "migration/guards.h"
#include "migration/migration.h"
#include "migration/progress.h"
#include "migration/runbook.h"
#include "migration/sequences.h"

namespace tandem::migration {

using nlohmann::json;

void to_json(json& j, const MigrationState& st) {
  j = json{{"phase", PhaseName(st.phase)},
           {"capture_old", st.capture_old},
           {"capture_new", st.capture_new},
           {"frozen", st.frozen.empty() ? json(nullptr) : json(st.frozen)},
           {"step", st.step == Step::kNone ? json(nullptr) : json(StepName(st.step))},
           {"stage", st.step == Step::kNone ? json(nullptr) : json(StageName(st.stage))}};
}

namespace {

// The next value of each sequence-fed column on new and of its mapped column on old, read
// now. Best effort: an engine that cannot tell leaves the table without "sequences".
void AddSequences(Migration& m, const mapping::TableTransform& t, json& jt) {
  auto on_new = m.s().target->SequenceColumns(t.target_table());
  auto on_old = m.s().source->SequenceColumns(t.source_table());
  if (!on_new || !on_old) return;
  const mapping::TableMap* map = m.s().cfg.FindBySource(t.source_table());
  json seqs = json::array();
  auto source_of = [&](const std::string& target_column) -> std::string {
    if (!map) return "";
    for (const auto& c : map->columns) {
      if (!c.drop_reason && c.target == target_column) return c.source;
    }
    return "";
  };
  std::vector<bool> old_shown(on_old->size(), false);
  for (const auto& n : *on_new) {
    json s = {{"new_column", n.column}, {"new_kind", SequenceKindName(n.kind)}, {"new_next", n.next}};
    std::string src = source_of(n.column);
    for (size_t i = 0; i < on_old->size(); ++i) {
      if ((*on_old)[i].column != src) continue;
      s["old_column"] = src;
      s["old_kind"] = SequenceKindName((*on_old)[i].kind);
      s["old_next"] = (*on_old)[i].next;
      old_shown[i] = true;
    }
    seqs.push_back(s);
  }
  for (size_t i = 0; i < on_old->size(); ++i) {
    if (old_shown[i]) continue;
    const auto& o = (*on_old)[i];
    seqs.push_back({{"old_column", o.column}, {"old_kind", SequenceKindName(o.kind)}, {"old_next", o.next}});
  }
  if (!seqs.empty()) jt["sequences"] = seqs;
}

// The live part of the status (row counts, lag): needs both databases.
Status AddLive(Migration& m, const MigrationState& st, json& j) {
  TANDEM_ASSIGN_OR_RETURN(auto totals, m.store().Totals());
  TANDEM_ASSIGN_OR_RETURN(auto holds, m.store().Holds(""));
  // The invariant source = target + rejected is judged for every table whose copy is done (not
  // while chunks are pending, not for a held table). Not once writes go to new (write-new,
  // finalized): old then follows new, and the reverse stream's rejects are rows of new.
  std::vector<const mapping::TableTransform*> judged;
  for (const auto& t : m.s().tables) {
    bool held = false;
    for (const auto& h : holds) held |= h.table == t.source_table();
    for (const auto& x : totals) {
      if (x.table == t.source_table() && x.chunks > 0 && x.chunks_done == x.chunks && !held &&
          st.phase != Phase::kFinalized && st.phase != Phase::kWriteNew) {
        judged.push_back(&t);
      }
    }
  }
  TANDEM_ASSIGN_OR_RETURN(
      auto balances,
      CountBalances(m.s(), judged, StreamActivity(m.s(), Streaming(st.phase) && st.capture_old,
                                                  st.capture_new)));
  for (const auto& t : m.s().tables) {
    json jt = {{"table", t.source_table()}, {"target", t.target_table()}};
    for (const auto& x : totals) {
      if (x.table != t.source_table()) continue;
      jt["chunks"] = x.chunks;
      jt["chunks_done"] = x.chunks_done;
      jt["rows_copied"] = x.written;
      jt["rows_read"] = x.read;
    }
    for (const auto& b : balances) {
      if (b.table != t.source_table()) continue;
      jt["target_rows"] = b.target_rows;
      jt["balance"] = b.state == Balance::State::kHolds    ? "ok"
                      : b.state == Balance::State::kBroken ? "broken"
                                                           : "unsettled";
      if (b.state == Balance::State::kBroken) j["balance_broken"].push_back(b.table);
      if (!b.note.empty()) jt["balance_note"] = b.note;
    }
    TANDEM_ASSIGN_OR_RETURN(int64_t total, m.s().source->Count(t.source_table(), t.source_key(), {}));
    TANDEM_ASSIGN_OR_RETURN(int64_t rejects, m.store().RejectCount(t.source_table()));
    jt["source_rows"] = total;
    jt["rejects"] = rejects;
    AddSequences(m, t, jt);
    j["tables"].push_back(jt);
  }
  if (Streaming(st.phase)) {
    TANDEM_ASSIGN_OR_RETURN(auto lag, m.Lag(*m.s().source_changes, "forward"));
    j["forward"] = {{"lag_changes", lag.first}, {"lag_seconds", lag.second}};
    if (st.capture_new) {
      TANDEM_ASSIGN_OR_RETURN(auto rlag, m.Lag(*m.s().target_changes, "reverse"));
      j["reverse"] = {{"lag_changes", rlag.first}, {"lag_seconds", rlag.second}};
    }
  }
  TANDEM_ASSIGN_OR_RETURN(auto lv, LastVerify(m));
  if (lv) j["last_verify"] = *lv;
  return Ok();
}

// Without the databases: what the state store alone says; `st` gets the migration state and
// `switch_holder` the pid running a step, if any.
Result<json> StateOnly(const std::string& config_path, MigrationState& st,
                       std::optional<std::string>& switch_holder) {
  TANDEM_ASSIGN_OR_RETURN(auto cfg, mapping::LoadConfig(config_path));
  TANDEM_ASSIGN_OR_RETURN(auto store, state::StateStore::Open(cfg.state, cfg.dir));
  TANDEM_ASSIGN_OR_RETURN(st, LoadState(store));
  TANDEM_ASSIGN_OR_RETURN(switch_holder, FollowerLock::Holder(store.db().path(), ".switch.lock"));
  json j;
  j["state"] = st;
  TANDEM_ASSIGN_OR_RETURN(auto totals, store.Totals());
  for (const auto& x : totals) {
    TANDEM_ASSIGN_OR_RETURN(int64_t rejects, store.RejectCount(x.table));
    j["tables"].push_back({{"table", x.table}, {"chunks", x.chunks}, {"chunks_done", x.chunks_done},
                           {"rows_copied", x.written}, {"rows_read", x.read}, {"rejects", rejects}});
  }
  if (auto v = store.Get("last_verify"); v && *v) {
    auto lv = json::parse(**v, nullptr, false);
    if (!lv.is_discarded()) j["last_verify"] = lv;
  }
  if (auto v = store.Get(kFollowerErrorKey); v && *v && !(*v)->empty()) {
    auto fe = json::parse(**v, nullptr, false);
    if (!fe.is_discarded()) j["follower_error"] = fe;
  }
  if (auto v = store.Get(kLastReconnectKey); v && *v) {
    auto lr = json::parse(**v, nullptr, false);
    if (!lr.is_discarded()) j["last_reconnect"] = lr;
  }
  // Tables whose changes a stream holds because their columns changed.
  TANDEM_ASSIGN_OR_RETURN(auto holds, store.Holds(""));
  for (const auto& h : holds) {
    auto body = json::parse(h.body, nullptr, false);
    if (body.is_discarded()) body = json::object();
    j["held"].push_back({{"stream", h.stream}, {"table", h.table}, {"since", h.at},
                         {"held_keys", h.held_keys}, {"message", body.value("message", "")},
                         {"changes", body.value("changes", json::array())}});
  }
  if (auto v = store.Get(kLastSequenceSyncKey); v && *v) {
    auto ls = json::parse(**v, nullptr, false);
    if (!ls.is_discarded()) j["last_sequence_sync"] = ls;
  }
  // Objects that did not build on the target (`switch reads` refuses while the mapping still
  // names them): {table, kind, object, error} each.
  if (auto v = store.Get(copy::kSchemaFailuresKey); v && *v) {
    auto sf = json::parse(**v, nullptr, false);
    if (sf.is_array() && !sf.empty()) j["schema_failed"] = sf;
  }
  TANDEM_ASSIGN_OR_RETURN(auto follower, FollowerLock::Holder(store.db().path()));
  j["follower"] = follower ? json(*follower) : json(nullptr);
  return j;
}

}  // namespace

Result<int> ShowStatus(const std::string& config_path, bool as_json, FILE* out) {
  MigrationState st;
  std::optional<std::string> holder;
  TANDEM_ASSIGN_OR_RETURN(json j, StateOnly(config_path, st, holder));
  auto [reads, writes] = ReadsWrites(st.phase);
  j["phase"] = PhaseName(st.phase);
  j["reads"] = reads;
  j["writes"] = writes;
  std::string recovery = DescribeRecovery(st);
  bool switch_running = false;
  if (!recovery.empty()) {
    switch_running = holder.has_value();
    j["interrupted"] = switch_running ? json(nullptr) : json(recovery);
    if (switch_running) j["switch_running"] = *holder;
  }
  bool reachable = true;
  auto m = Migration::Open(config_path);
  if (m) {
    json live = j;
    live.erase("tables");
    if (auto ls = AddLive(**m, st, live); ls) {
      j = std::move(live);
    } else {
      reachable = false;
      j["unreachable"] = ls.error().message;
    }
  } else {
    reachable = false;
    j["unreachable"] = m.error().message;
  }
  // The invariant broken is loud, in both forms, and fails the command (kDataLoss).
  auto broken = [&]() -> Result<int> {
    std::string tables;
    for (const auto& b : j["balance_broken"]) tables += (tables.empty() ? "" : ", ") + b.get<std::string>();
    return Fail(Code::kDataLoss,
                "ROWS DO NOT ADD UP for {}: source rows != target rows + rejected rows. A row is "
                "missing or extra in the target without a reject to account for it: `tandem "
                "verify` finds it",
                tables);
  };
  if (as_json) {
    std::fprintf(out, "%s\n", j.dump(2).c_str());
    if (j.contains("balance_broken")) return broken();
    return reachable ? kExitOk : kExitProblems;
  }
  std::string follower = j["follower"].is_null()
                             ? "; no `tandem start` running"
                             : fmt::format("; followed by pid {}", j["follower"].get<std::string>());
  std::fprintf(out, "phase: %s (reads %s, writes %s)%s\n", std::string(PhaseName(st.phase)).c_str(),
               reads.c_str(), writes.c_str(), follower.c_str());
  if (!st.frozen.empty()) std::fprintf(out, "  writes on %s are frozen\n", st.frozen.c_str());
  if (j.contains("follower_error") && j["follower"].is_null()) {
    const json& fe = j["follower_error"];
    std::string when = IsoTime(fe.value("at", 0.0));
    std::fprintf(out, "  FOLLOWER STOPPED at %s (pid %lld) with an error: %s\n  (changes are not "
                      "applied until `tandem start` runs again)\n",
                 when.c_str(), static_cast<long long>(fe.value("pid", int64_t{0})), fe.value("error", "").c_str());
  }
  if (j.contains("held")) {
    for (const auto& h : j["held"]) {
      std::fprintf(out, "  HELD %s (%s stream, since %s, %lld changed keys kept): %s\n",
                   h.value("table", "").c_str(), h.value("stream", "").c_str(),
                   h.value("since", "").c_str(), static_cast<long long>(h.value("held_keys", 0LL)),
                   h.value("message", "").c_str());
    }
  }
  if (switch_running) {
    std::fprintf(out, "  pid %s is running %s (stage %s)\n", j["switch_running"].get<std::string>().c_str(),
                 std::string(StepName(st.step)).c_str(), std::string(StageName(st.stage)).c_str());
  } else if (!recovery.empty()) {
    std::fprintf(out, "  INTERRUPTED: %s\n", recovery.c_str());
  }
  if (!reachable) {
    std::fprintf(out, "  databases not reachable, showing what the state store knows: %s\n",
                 j["unreachable"].get<std::string>().c_str());
  }
  for (const auto& t : j["tables"]) {
    std::string name = t.value("table", "");
    if (t.contains("target")) name += " -> " + t["target"].get<std::string>();
    std::string of = t.contains("source_rows") ? std::to_string(t["source_rows"].get<int64_t>()) : "?";
    std::fprintf(out, "  %-28s %10lld / %-10s rows copied  chunks %d/%d  rejects %lld\n", name.c_str(),
                 static_cast<long long>(t.value("rows_read", 0LL)), of.c_str(), t.value("chunks_done", 0),
                 t.value("chunks", 0), static_cast<long long>(t.value("rejects", 0LL)));
    if (t.contains("balance")) {
      std::string b = t["balance"].get<std::string>();
      int64_t src = t.value("source_rows", int64_t{0}), tgt = t.value("target_rows", int64_t{0}),
              rej = t.value("rejects", int64_t{0});
      if (b == "ok") {
        std::fprintf(out, "    source %lld = target %lld + rejected %lld: ok\n",
                     static_cast<long long>(src), static_cast<long long>(tgt), static_cast<long long>(rej));
      } else if (b == "broken") {
        std::fprintf(out, "    !!! BROKEN: source %lld != target %lld + rejected %lld (%lld row(s) %s)\n",
                     static_cast<long long>(src), static_cast<long long>(tgt), static_cast<long long>(rej),
                     static_cast<long long>(std::llabs(src - tgt - rej)),
                     src > tgt + rej ? "missing from the target" : "too many in the target");
      } else {
        std::fprintf(out, "    source = target + rejected: not judged now (%s)\n",
                     t.value("balance_note", "").c_str());
      }
    }
    for (const auto& q : t.value("sequences", json::array())) {
      auto side = [&](const char* col, const char* kind, const char* next) {
        if (!q.contains(col)) return std::string("none");
        return fmt::format("{} {} ({})", q[col].get<std::string>(), q[next].get<int64_t>(),
                           q[kind].get<std::string>());
      };
      std::fprintf(out, "    next value: old %s, new %s\n",
                   side("old_column", "old_kind", "old_next").c_str(),
                   side("new_column", "new_kind", "new_next").c_str());
    }
  }
  if (j.contains("schema_failed")) {
    std::fprintf(out, "  SCHEMA OBJECTS NOT BUILT on the target (switch reads refuses until they "
                      "are fixed or deleted from the mapping):\n");
    for (const auto& f : j["schema_failed"]) {
      std::fprintf(out, "    %s %s on %s: %s\n", f.value("kind", "?").c_str(),
                   f.value("object", "?").c_str(), f.value("table", "?").c_str(),
                   f.value("error", "").c_str());
    }
  }
  if (j.contains("last_sequence_sync")) {
    const json& ls = j["last_sequence_sync"];
    std::fprintf(out, "  last sequence sync: on %s, %zu columns, %.1f ms\n",
                 ls.value("side", "?").c_str(), ls.value("columns", json::array()).size(),
                 ls.value("ms", 0.0));
  }
  for (const char* s : {"forward", "reverse"}) {
    if (!j.contains(s)) continue;
    std::fprintf(out, "  %s stream: lag %lld changes, %.1f s\n", s,
                 static_cast<long long>(j[s]["lag_changes"].get<int64_t>()),
                 j[s]["lag_seconds"].get<double>());
  }
  if (j.contains("last_reconnect")) {
    const json& lr = j["last_reconnect"];
    std::string when = IsoTime(lr.value("at", 0.0));
    std::fprintf(out, "  last reconnect: %s by %s to the %s (attempt %d, %s): %s\n", when.c_str(),
                 lr.value("command", "?").c_str(), lr.value("side", "?").c_str(), lr.value("attempt", 0),
                 lr.value("reconnected", false) ? "reconnected" : "still failing",
                 lr.value("error", "").c_str());
  }
  if (j.contains("last_verify")) {
    std::fprintf(out, "  last verify: %s, %lld differences\n", j["last_verify"].value("at", "?").c_str(),
                 static_cast<long long>(j["last_verify"].value("differences", 0LL)));
  } else {
    std::fprintf(out, "  last verify: never\n");
  }
  if (j.contains("balance_broken")) return broken();
  return reachable ? kExitOk : kExitProblems;
}

}  // namespace tandem::migration
