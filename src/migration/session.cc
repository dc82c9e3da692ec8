#include "migration/session.h"

namespace tandem::migration {

int ExitFor(const Error& e) {
  switch (e.code) {
    case Code::kInvalidArgument:
    case Code::kNotFound: return kExitInvalid;
    default: return kExitRuntime;
  }
}

Result<std::unique_ptr<Engine>> Session::OpenSource() const {
  auto e = OpenEngine(cfg.source, cfg.dir, "TANDEM_SOURCE_PASSWORD", IfMissing::kFail);
  if (!e) return std::unexpected(e.error().Context("open source"));
  return e;
}

Result<std::unique_ptr<Engine>> Session::OpenTarget() const {
  auto e = OpenEngine(cfg.target, cfg.dir, "TANDEM_TARGET_PASSWORD");
  if (!e) return std::unexpected(e.error().Context("open target"));
  return e;
}

copy::Backfill Session::MakeBackfill(copy::Progress& progress, ReconnectObserver on_reconnect) {
  return copy::Backfill(tables, *source, *target, *state, progress,
                        {.chunk_rows = cfg.chunk_rows,
                         .batch_rows = static_cast<size_t>(cfg.batch_rows),
                         .on_reconnect = std::move(on_reconnect)});
}

const mapping::TableTransform* Session::FindTable(std::string_view source_table) const {
  for (const auto& t : tables) {
    if (t.source_table() == source_table) return &t;
  }
  return nullptr;
}

Result<Session> OpenSession(const std::string& config_path, bool with_state) {
  Session s;
  TANDEM_ASSIGN_OR_RETURN(s.cfg, mapping::LoadConfig(config_path));
  TANDEM_ASSIGN_OR_RETURN(s.source, s.OpenSource());
  TANDEM_ASSIGN_OR_RETURN(s.target, s.OpenTarget());
  auto sc = OpenChangeSource(*s.source);
  if (!sc) return std::unexpected(sc.error().Context("open the source's change capture"));
  s.source_changes = std::move(*sc);
  auto tc = OpenChangeSource(*s.target);
  if (!tc) return std::unexpected(tc.error().Context("open the target's change capture"));
  s.target_changes = std::move(*tc);
  auto src = s.source->Introspect();
  if (!src) return std::unexpected(src.error().Context("read the source schema"));
  s.source_schema = std::move(*src);
  auto tgt = s.target->Introspect();
  if (!tgt) return std::unexpected(tgt.error().Context("read the target schema"));
  s.target_schema = std::move(*tgt);
  TANDEM_ASSIGN_OR_RETURN(s.tables, mapping::CompileAll(s.cfg, s.source_schema, s.target_schema));
  if (with_state) {
    auto st = state::StateStore::Open(s.cfg.state, s.cfg.dir);
    if (!st) return std::unexpected(st.error().Context("open the state store"));
    s.state = std::make_unique<state::StateStore>(std::move(*st));
  }
  return s;
}

}  // namespace tandem::migration
