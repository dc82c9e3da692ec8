#include "migration/freeze.h"

#include "migration/hooks.h"

namespace tandem::migration {

Result<std::unique_ptr<Freeze>> Freeze::Take(Migration& m, MigrationState& st,
                                             const std::string& side) {
  auto f = std::unique_ptr<Freeze>(new Freeze());
  f->cfg_ = &m.s().cfg;
  f->side_ = side;
  f->started_ = std::chrono::steady_clock::now();
  const mapping::Config& cfg = m.s().cfg;
  const std::string& uri = side == "old" ? cfg.source : cfg.target;
  auto path = SqlitePath(uri, cfg.dir);
  if (!cfg.hooks.contains("freeze") && !path) {
    return Fail(Code::kFailedPrecondition,
                "cannot freeze writes on the {} database ({}): set hooks.freeze and "
                "hooks.unfreeze in the mapping (they get TANDEM_SIDE=old|new)",
                side, RedactUri(uri));
  }
  st.frozen = side;
  TANDEM_RETURN_IF_ERROR(m.Save(st, fmt::format("freeze writes on {}", side)));
  auto undo = [&](Error e) -> std::unexpected<Error> {
    if (cfg.hooks.contains("freeze")) (void)RunHook(cfg, "unfreeze", {{"TANDEM_SIDE", side}});
    st.frozen.clear();
    (void)m.Save(st, fmt::format("freeze of {} failed", side));
    return std::unexpected(std::move(e));
  };
  if (cfg.hooks.contains("freeze")) {
    if (auto hs = RunHook(cfg, "freeze", {{"TANDEM_SIDE", side}}); !hs) return undo(hs.error());
    f->hook_ = true;
    return f;
  }
  auto db = sqlite::Database::Open(*path);
  if (!db) return undo(db.error());
  if (auto ls = db->Exec("BEGIN IMMEDIATE"); !ls) return undo(ls.error());
  f->lock_ = std::make_unique<sqlite::Database>(std::move(*db));
  return f;
}

Result<double> Freeze::Release(Migration& m, MigrationState& st) {
  if (released_) return ms_;
  if (lock_) {
    (void)lock_->Exec("ROLLBACK");
    lock_.reset();
  }
  if (hook_) TANDEM_RETURN_IF_ERROR(RunHook(*cfg_, "unfreeze", {{"TANDEM_SIDE", side_}}));
  released_ = true;
  ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
  st.frozen.clear();
  TANDEM_RETURN_IF_ERROR(m.Save(st, fmt::format("unfreeze writes on {}", side_)));
  return ms_;
}

Freeze::~Freeze() {
  if (lock_) (void)lock_->Exec("ROLLBACK");
  if (hook_ && !released_) (void)RunHook(*cfg_, "unfreeze", {{"TANDEM_SIDE", side_}});
}

Status ReleaseLeftFreeze(Migration& m, MigrationState& st) {
  if (st.frozen.empty()) return Ok();
  if (m.s().cfg.hooks.contains("freeze")) {
    TANDEM_RETURN_IF_ERROR(RunHook(m.s().cfg, "unfreeze", {{"TANDEM_SIDE", st.frozen}}));
  }
  std::string side = st.frozen;
  st.frozen.clear();
  return m.Save(st, fmt::format("released the freeze of {} left by an interrupted command", side));
}

}  // namespace tandem::migration
