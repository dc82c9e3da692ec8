// `tandem rejects show | export | retry`: one reject whole, every reject as CSV, and the rows
// run through the mapping again after it was fixed.
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/row_json.h"
#include "migration/balance.h"
#include "migration/commands.h"
#include "migration/follower_lock.h"
#include "migration/phase.h"
#include "migration/session.h"

namespace tandem::migration {

namespace {

std::string KeyDisplay(const Row& key) {
  std::string out;
  for (const auto& v : key) out += (out.empty() ? "" : ", ") + v.ToDisplay();
  return out;
}

// A key as people type it: no spaces, brackets or quotes ("[4242, 2]" and "4242,2" match).
std::string KeyNorm(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '[' || c == ']' || c == '(' || c == ')' || c == '\'' || c == '"') continue;
    out += c;
  }
  return out;
}

std::string Csv(std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The source tables of the mapping (all, or `table`), for commands that read only the store.
Result<std::vector<std::string>> TablesOf(const mapping::Config& cfg, const std::string& table) {
  std::vector<std::string> out;
  for (const auto& tm : cfg.tables) {
    if (!table.empty() && tm.source != table) continue;
    out.push_back(tm.source);
  }
  if (!table.empty() && out.empty()) {
    return Fail(Code::kNotFound, "table {} is not a source table of {}", table, cfg.path);
  }
  return out;
}

// Every reject of `table`, a page at a time.
template <typename F>
Status ForEachReject(state::StateStore& store, const std::string& table, F&& f) {
  int64_t after = 0;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(auto page, store.RejectsAfter(table, after, 1000));
    if (page.empty()) return Ok();
    after = page.back().id;
    for (auto& r : page) TANDEM_RETURN_IF_ERROR(f(r));
  }
}

}  // namespace

Result<int> ShowReject(const std::string& config_path, const std::string& table,
                       const std::string& key, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto cfg, mapping::LoadConfig(config_path));
  TANDEM_ASSIGN_OR_RETURN(auto state, state::StateStore::Open(cfg.state, cfg.dir));
  TANDEM_ASSIGN_OR_RETURN(auto tables, TablesOf(cfg, table));
  std::string want = KeyNorm(key);
  int shown = 0;
  for (const auto& t : tables) {
    TANDEM_RETURN_IF_ERROR(ForEachReject(state, t, [&](const state::Reject& r) -> Status {
      if (KeyNorm(KeyDisplay(r.key)) != want) return Ok();
      nlohmann::json row = nlohmann::json::parse(r.row_json, nullptr, false);
      std::fprintf(out, "%s key (%s)\n  kind:   %s\n  rule:   %s\n  reason: %s\n  found:  %s by %s\n  row:\n",
                   t.c_str(), KeyDisplay(r.key).c_str(), r.kind.empty() ? "(not recorded)" : r.kind.c_str(),
                   r.rule.empty() ? "(not recorded)" : r.rule.c_str(), r.reason.c_str(), r.at.c_str(),
                   r.chunk < 0 ? "the change stream" : fmt::format("chunk {}", r.chunk).c_str());
      if (row.is_object()) {
        for (const auto& [col, v] : row.items()) {
          std::fprintf(out, "    %-20s %s\n", col.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
        }
      } else {
        std::fprintf(out, "    %s\n", r.row_json.c_str());
      }
      ++shown;
      return Ok();
    }));
  }
  if (shown == 0) {
    return Fail(Code::kNotFound, "no reject with key {}{} (`tandem rejects list` shows the keys)",
                key, table.empty() ? "" : " in table " + table);
  }
  return kExitOk;
}

Result<int> ExportRejects(const std::string& config_path, const std::string& table,
                          const std::string& csv_path, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto cfg, mapping::LoadConfig(config_path));
  TANDEM_ASSIGN_OR_RETURN(auto state, state::StateStore::Open(cfg.state, cfg.dir));
  TANDEM_ASSIGN_OR_RETURN(auto tables, TablesOf(cfg, table));
  std::ofstream f(csv_path, std::ios::binary);
  if (!f) return Fail(Code::kFailedPrecondition, "cannot write {}", csv_path);
  f << "table,key,kind,rule,reason,row,chunk,at\r\n";
  int64_t n = 0;
  for (const auto& t : tables) {
    TANDEM_RETURN_IF_ERROR(ForEachReject(state, t, [&](const state::Reject& r) -> Status {
      f << Csv(t) << ',' << Csv(RowToJson(r.key)) << ',' << Csv(r.kind) << ',' << Csv(r.rule)
        << ',' << Csv(r.reason) << ',' << Csv(r.row_json) << ',' << r.chunk << ',' << Csv(r.at)
        << "\r\n";
      ++n;
      return Ok();
    }));
  }
  if (!f.flush()) return Fail(Code::kFailedPrecondition, "cannot write {}", csv_path);
  std::fprintf(out, "wrote %lld reject(s) to %s\n", static_cast<long long>(n), csv_path.c_str());
  return n ? kExitProblems : kExitOk;
}

namespace {

struct RetryCounts {
  int64_t tried = 0, landed = 0, gone = 0, still = 0;
};

// Retries one page of rejected keys of `t`: reads them from the source now, maps them with the
// current mapping and upserts what maps; a reject goes once its row is in the target (or gone
// from the source), and says the new reason when the row is refused again.
Status RetryPage(Session& s, const mapping::TableTransform& t, std::vector<state::Reject>& page,
                 RetryCounts& n) {
  std::map<Row, std::vector<state::Reject*>> by_key;
  for (auto& r : page) by_key[r.key].push_back(&r);
  std::vector<Row> keys;
  for (const auto& [k, _] : by_key) keys.push_back(k);
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          s.source->Fetch(t.source_table(), t.source_columns(), t.source_key(), keys));
  n.tried += static_cast<int64_t>(keys.size());
  std::map<Row, const Row*> current;
  for (const auto& row : rows) current[t.SourceKey(row)] = &row;

  auto refused_again = [&](const Row& key, const Row& row, std::string rule, Problem kind,
                           std::string reason) -> Status {
    for (state::Reject* r : by_key[key]) {
      r->rule = rule;
      r->kind = std::string(ProblemName(kind));
      r->reason = reason;
      r->row_json = RowToReadableJson(row, t.source_columns()).dump();
      TANDEM_RETURN_IF_ERROR(s.state->UpdateReject(*r));
    }
    ++n.still;
    return Ok();
  };
  std::vector<Row> upserts, upsert_keys, gone;
  Row mapped;
  mapping::Refusal why;
  for (const auto& key : keys) {
    auto it = current.find(key);
    if (it == current.end()) {
      // Deleted in the source since it was rejected: nothing to land, and nothing may stay.
      auto tk = t.TargetKey(key);
      if (tk) gone.push_back(std::move(*tk));
      TANDEM_RETURN_IF_ERROR(s.state->ClearStreamReject(t.source_table(), key));
      ++n.gone;
      continue;
    }
    if (!t.Apply(*it->second, mapped, why)) {
      TANDEM_RETURN_IF_ERROR(refused_again(key, *it->second, why.rule, why.problem, why.message));
      continue;
    }
    upserts.push_back(mapped);
    upsert_keys.push_back(key);
  }
  auto atomically = [&](const std::function<Status()>& body) -> Status {
    TANDEM_RETURN_IF_ERROR(s.target->Begin());
    if (auto st = body(); !st) {
      (void)s.target->Rollback();
      return st;
    }
    return s.target->Commit();
  };
  if (!gone.empty()) {
    TANDEM_RETURN_IF_ERROR(atomically([&] { return s.target->Remove(t.target_table(), t.target_key(), gone); }));
  }
  if (upserts.empty()) return Ok();
  auto write = [&](const std::vector<Row>& rows) {
    return atomically([&] {
      return s.target->Write(t.target_table(), t.target_columns(), t.target_key(), rows,
                             WriteMode::kUpsert);
    });
  };
  std::vector<bool> landed(upserts.size(), true);
  if (auto st = write(upserts); !st) {
    if (st.error().code != Code::kInvalidArgument) return st;
    // The target refused some row: one at a time, so only the refused rows stay rejects.
    for (size_t i = 0; i < upserts.size(); ++i) {
      auto one = write({upserts[i]});
      if (one) continue;
      if (one.error().code != Code::kInvalidArgument) return one;
      landed[i] = false;
      TANDEM_RETURN_IF_ERROR(refused_again(upsert_keys[i], *current[upsert_keys[i]], "target",
                                           Problem::kRefusedByTarget,
                                           fmt::format("target refused the row: {}",
                                                       one.error().message)));
    }
  }
  // Only after the target committed: a crash in between leaves the reject, and the next
  // retry writes the same row again (an upsert), then removes it.
  for (size_t i = 0; i < upserts.size(); ++i) {
    if (!landed[i]) continue;
    TANDEM_RETURN_IF_ERROR(s.state->ClearStreamReject(t.source_table(), upsert_keys[i]));
    ++n.landed;
  }
  return Ok();
}

}  // namespace

Result<int> RetryRejects(const std::string& config_path, const std::string& table, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(Session s, OpenSession(config_path, true));
  // The follower applies changes to the same keys from its own reading of the source: a
  // retry running beside it could write an older version of a row after its newer one.
  bool got = false;
  std::string holder;
  TANDEM_ASSIGN_OR_RETURN(auto lock, FollowerLock::TryAcquire(s.state->db().path(), got, holder));
  if (!got) {
    return Fail(Code::kFailedPrecondition,
                "pid {} is following this migration (`tandem start`): a retry would race its change "
                "stream on the same rows. Stop it first (Ctrl-C, or kill {}), run `tandem rejects "
                "retry`, then `tandem start` again: what the application writes meanwhile stays "
                "captured and is applied then, through the fixed mapping",
                holder, holder);
  }
  TANDEM_ASSIGN_OR_RETURN(auto switching, FollowerLock::Holder(s.state->db().path(), ".switch.lock"));
  if (switching) {
    return Fail(Code::kFailedPrecondition,
                "pid {} is running a switch: retry the rejects once it is done", *switching);
  }
  TANDEM_ASSIGN_OR_RETURN(auto st, LoadState(*s.state));
  if (st.phase == Phase::kWriteNew || st.phase == Phase::kFinalized) {
    return Fail(Code::kFailedPrecondition,
                "phase {}: the application writes to new now, and a row read from old would "
                "overwrite what it wrote there. Fix these rows on new directly (`tandem rejects "
                "export --csv FILE` lists them whole), or `tandem rollback` to phase read-new "
                "first",
                PhaseName(st.phase));
  }
  if (st.step != Step::kNone) {
    return Fail(Code::kFailedPrecondition,
                "a {} was interrupted: run it again (or `tandem status` says what to do) before "
                "retrying rejects",
                StepName(st.step));
  }
  if (st.capture_new) TANDEM_RETURN_IF_ERROR(s.target_changes->SuppressOwnWrites(true));
  if (!table.empty() && !s.FindTable(table)) {
    return Fail(Code::kNotFound, "table {} is not a mapped source table of {}", table, config_path);
  }
  std::vector<const mapping::TableTransform*> done;
  int64_t remaining = 0;
  for (const auto& t : s.tables) {
    if (!table.empty() && t.source_table() != table) continue;
    TANDEM_ASSIGN_OR_RETURN(int64_t count, s.state->RejectCount(t.source_table()));
    if (count == 0) continue;
    if (t.keyless()) {
      std::fprintf(out, "%s: %lld reject(s) not retried: the table has no key (key: none), so a "
                        "row cannot be read again by key; `tandem copy --restart` copies it again\n",
                   t.source_table().c_str(), static_cast<long long>(count));
      remaining += count;
      continue;
    }
    RetryCounts n;
    int64_t after = 0;
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(auto page, s.state->RejectsAfter(t.source_table(), after, 500));
      if (page.empty()) break;
      after = page.back().id;
      if (auto r = RetryPage(s, t, page, n); !r) {
        return std::unexpected(r.error().Context(fmt::format("retry rejects of {}", t.source_table())));
      }
    }
    std::fprintf(out, "%s: %lld rejected key(s) retried: %lld landed, %lld gone from the source, "
                      "%lld still rejected\n",
                 t.source_table().c_str(), static_cast<long long>(n.tried),
                 static_cast<long long>(n.landed), static_cast<long long>(n.gone),
                 static_cast<long long>(n.still));
    remaining += n.still;
    done.push_back(&t);
  }
  if (done.empty()) {
    std::fprintf(out, "no rejects to retry\n");
    return remaining ? kExitProblems : kExitOk;
  }
  TANDEM_ASSIGN_OR_RETURN(auto balances,
                          CountBalances(s, done, StreamActivity(s, st.capture_old, st.capture_new)));
  if (PrintBalances(out, balances)) return std::unexpected(BrokenBalanceError(balances));
  TANDEM_RETURN_IF_ERROR(s.state->Log(
      "rejects_retry", nlohmann::json{{"table", table}, {"remaining", remaining}}.dump()));
  if (remaining) {
    std::fprintf(out, "%lld reject(s) remain: `tandem rejects list` says why\n",
                 static_cast<long long>(remaining));
  }
  return remaining ? kExitProblems : kExitOk;
}

}  // namespace tandem::migration
