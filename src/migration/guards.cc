#include "migration/guards.h"

namespace tandem::migration {

using nlohmann::json;

Result<std::optional<json>> LastVerify(Migration& m) {
  TANDEM_ASSIGN_OR_RETURN(auto v, m.store().Get("last_verify"));
  if (!v) return std::optional<json>();
  auto j = json::parse(*v, nullptr, false);
  if (j.is_discarded()) return std::optional<json>();
  return std::optional<json>(j);
}

Result<bool> CleanVerifySinceBackfill(Migration& m, const MigrationState& st) {
  TANDEM_ASSIGN_OR_RETURN(auto lv, LastVerify(m));
  if (!lv || st.backfill_done_at <= 0) return false;
  return lv->value("differences", int64_t{1}) == 0 &&
         lv->value("started_at", 0.0) >= st.backfill_done_at;
}

Status HoldGuard(Migration& m) {
  TANDEM_ASSIGN_OR_RETURN(auto holds, m.store().Holds(""));
  if (holds.empty()) return Ok();
  std::string all;
  for (const auto& h : holds) all += fmt::format("\n  {} ({} stream)", h.table, h.stream);
  return Fail(Code::kFailedPrecondition,
              "changes of these tables are held because their columns changed; edit the mapping "
              "and run `tandem start` again (see `tandem status`):{}",
              all);
}

Status LagGuard(Migration& m, const SwitchOptions& o) {
  TANDEM_ASSIGN_OR_RETURN(auto lag, m.Lag(*m.s().source_changes, "forward"));
  if (lag.first > o.max_lag && !o.force) {
    return Fail(Code::kFailedPrecondition,
                "the change stream is {} changes behind (limit {}): let `tandem start` catch up, "
                "or pass --force",
                lag.first, o.max_lag);
  }
  return Ok();
}

Status SchemaGuard(Migration& m, const SwitchOptions& o) {
  TANDEM_ASSIGN_OR_RETURN(auto text, m.store().Get(copy::kSchemaFailuresKey));
  if (!text || o.force) return Ok();
  auto failed = nlohmann::json::parse(*text, nullptr, false);
  if (!failed.is_array()) return Ok();
  std::string still;
  for (const auto& f : failed) {
    std::string table = f.value("table", ""), object = f.value("object", "");
    for (const auto& t : m.s().tables) {
      if (t.target_table() != table) continue;
      for (const auto& obj : ObjectsOf(t.planned_target())) {
        if (obj.name() == object) {
          still += fmt::format("\n  {} {} on {}: {}", f.value("kind", ""), object, table,
                               f.value("error", ""));
        }
      }
    }
  }
  if (still.empty()) return Ok();
  return Fail(Code::kFailedPrecondition,
              "the target is missing objects the application relies on:{}\nfix the data and run "
              "`tandem start` again (it retries them), delete them from the mapping, or pass --force",
              still);
}

}  // namespace tandem::migration
