#include "migration/session.h"

#include <malloc.h>

#include <set>

#include <nlohmann/json.hpp>

#include "migration/phase.h"

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

Result<std::unique_ptr<Engine>> Session::OpenTargetForJob() const {
  TANDEM_ASSIGN_OR_RETURN(auto e, OpenTarget());
  auto changes = OpenChangeSource(*e);
  if (!changes) return std::unexpected(changes.error().Context("open the target's change capture"));
  // The setting stays with the engine (re-applied on reconnect); the source object is done.
  TANDEM_RETURN_IF_ERROR((*changes)->SuppressOwnWrites(true));
  return e;
}

int Session::CopyJobs() const {
  if (EngineKindOfUri(cfg.target) == "sqlite") return 1;
  return cfg.Jobs(jobs_flag);
}

copy::Backfill Session::MakeBackfill(copy::Progress& progress, ReconnectObserver on_reconnect,
                                     const std::vector<mapping::TableTransform>* only) {
  // main() keeps the process to one malloc arena (a job's reader allocates the batches its
  // writer frees). With several jobs, every reader and writer then queues on that arena's
  // lock: an arena for each thread of the jobs took 17% off tandem's CPU at `--jobs 2`
  // (SQLite -> PostgreSQL, 1.91-2.15 s -> 1.57-1.78 s user, five alternating runs each), and
  // nothing at `--jobs 1`, which keeps the one. Arenas keep their memory as the one arena
  // does (main's trim threshold).
  if (int jobs = CopyJobs(); jobs > 1) mallopt(M_ARENA_MAX, 2 * jobs + 1);
  return copy::Backfill(only ? *only : tables, *source, *target, *state, progress,
                        {.chunk_rows = cfg.chunk_rows,
                         .batch_rows = static_cast<size_t>(cfg.batch_rows),
                         .batch_bytes = static_cast<size_t>(cfg.batch_bytes),
                         .jobs = CopyJobs(),
                         .open_source = [this] { return OpenSource(); },
                         .open_target = [this] { return OpenTargetForJob(); },
                         .on_reconnect = std::move(on_reconnect)});
}

const mapping::TableTransform* Session::FindTable(std::string_view source_table) const {
  for (const auto& t : tables) {
    if (t.source_table() == source_table) return &t;
  }
  return nullptr;
}

Status PutRecopyTables(state::StateStore& store, const std::set<std::string>& tables) {
  return store.Put(kRecopyKey, nlohmann::json(tables).dump());
}

Result<std::set<std::string>> RecopyTables(state::StateStore& store) {
  std::set<std::string> out;
  TANDEM_ASSIGN_OR_RETURN(auto v, store.Get(kRecopyKey));
  if (!v) return out;
  auto j = nlohmann::json::parse(*v, nullptr, false);
  if (j.is_array()) {
    for (const auto& t : j) {
      if (t.is_string()) out.insert(t.get<std::string>());
    }
  }
  return out;
}

namespace {

// Mapped columns that the existing target table lacks are added to it (nullable), each table
// listed for a copy again first when a migration is in progress (its rows copied so far lack
// the column). The column's type: the mapping's, else the source column's.
Status AddMappedColumns(Session& s, bool in_progress) {
  bool added = false;
  for (const auto& tm : s.cfg.tables) {
    if (tm.drop_reason) continue;
    const TableSchema* src = mapping::FindTable(s.source_schema, tm.source);
    const TableSchema* tgt = mapping::FindTable(s.target_schema, tm.target);
    if (!src || !tgt) continue;
    for (const auto& cm : tm.columns) {
      if (cm.drop_reason || cm.target.empty() || tgt->Find(cm.target)) continue;
      const Column* sc = src->Find(cm.source);
      if (!sc) continue;
      if (in_progress) {
        TANDEM_ASSIGN_OR_RETURN(auto recopy, RecopyTables(*s.state));
        if (recopy.insert(tm.source).second) TANDEM_RETURN_IF_ERROR(PutRecopyTables(*s.state, recopy));
      }
      Column c;
      c.name = cm.target;
      c.type = cm.type ? *cm.type : sc->type;
      if (auto st = s.target->AddColumn(tm.target, c); !st) {
        return std::unexpected(st.error().Context(
            fmt::format("add column {}.{} on the target for {}.{}", tm.target, cm.target, tm.source, cm.source)));
      }
      (void)s.state->Log("column_added", nlohmann::json{{"table", tm.target}, {"column", cm.target},
                                                        {"type", c.type.ToString()}}.dump());
      added = true;
    }
  }
  if (added) {
    auto tgt = s.target->Introspect();
    if (!tgt) return std::unexpected(tgt.error().Context("read the target schema"));
    s.target_schema = std::move(*tgt);
  }
  return Ok();
}

}  // namespace

Result<Session> OpenSession(const std::string& config_path, bool with_state, bool in_migration,
                            bool add_columns) {
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
  if (with_state) {
    auto st = state::StateStore::Open(s.cfg.state, s.cfg.dir);
    if (!st) return std::unexpected(st.error().Context("open the state store"));
    s.state = std::make_unique<state::StateStore>(std::move(*st));
  }
  bool streaming = false;
  if (with_state && in_migration) {
    TANDEM_ASSIGN_OR_RETURN(auto ms, LoadState(*s.state));
    streaming = Streaming(ms.phase);
    if (add_columns) TANDEM_RETURN_IF_ERROR(AddMappedColumns(s, ms.phase != Phase::kNone && ms.phase != Phase::kStopped));
  }
  auto compiled = mapping::CompileAll(s.cfg, s.source_schema, s.target_schema);
  if (!compiled && streaming) {
    // A migration in progress: a table whose columns changed is held, not the end of it.
    std::vector<TableSchema> fitted = s.source_schema;
    bool refit = false;
    for (const auto& tm : s.cfg.tables) {
      if (tm.drop_reason) continue;
      for (auto& t : fitted) {
        if (t.name != tm.source) continue;
        std::vector<mapping::ColumnChange> changes;
        TableSchema fit = mapping::FitToMapping(t, tm, mapping::FindTable(s.target_schema, tm.target), changes);
        refit |= fit.columns.size() != t.columns.size() || !changes.empty();
        t = std::move(fit);
        if (!changes.empty()) s.drifted.emplace_back(tm.source, std::move(changes));
      }
    }
    if (refit) {
      if (auto again = mapping::CompileAll(s.cfg, fitted, s.target_schema)) {
        s.source_schema = std::move(fitted);
        compiled = std::move(again);
      } else {
        s.drifted.clear();
      }
    }
  }
  if (!compiled) return std::unexpected(compiled.error());
  s.tables = std::move(*compiled);
  return s;
}

}  // namespace tandem::migration
