#include "migration/commands.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <tuple>

#include <nlohmann/json.hpp>

#include "copy/backfill.h"
#include "core/row_json.h"
#include "core/text.h"
#include "mapping/draft.h"
#include "migration/balance.h"
#include "migration/follower_lock.h"
#include "migration/phase.h"
#include "migration/progress.h"
#include "migration/session.h"

namespace tandem::migration {

Result<int> Init(const InitOptions& o, FILE* out) {
  if (std::filesystem::exists(o.output) && !o.force) {
    return Fail(Code::kInvalidArgument, "{} already exists (use --force to overwrite it)", o.output);
  }
  std::string base = std::filesystem::absolute(o.output).parent_path().string();
  auto source = OpenEngine(o.source, base, "TANDEM_SOURCE_PASSWORD", IfMissing::kFail);
  if (!source) return std::unexpected(source.error().Context("open source"));
  auto tables = (*source)->Introspect();
  if (!tables) return std::unexpected(tables.error().Context("read the source schema"));
  std::string target_kind = EngineKindOfUri(o.target);
  if (target_kind.empty()) {
    return Fail(Code::kInvalidArgument,
                "unknown target URI '{}': expected sqlite:PATH, postgres://... or mysql://...",
                RedactUri(o.target));
  }
  // The file keeps no password: tandem reads them from TANDEM_SOURCE/TARGET_PASSWORD.
  bool source_pw = false, target_pw = false;
  auto unmigrated = (*source)->ListUnmigrated();
  if (!unmigrated) return std::unexpected(unmigrated.error().Context("list what is not migrated"));
  mapping::DraftEngines engines{
      .source_kind = std::string((*source)->kind()),
      .target_kind = target_kind,
      .target_type = [&](const PortableType& t) { return EngineTypeName(target_kind, t); },
      .unmigrated = *unmigrated};
  // SQLite's declared types do not bind its values (an untyped column holds anything, one
  // declared DATETIME may hold integers): into another engine, each column's type is drafted
  // from what it stores, so that no row is rejected for a type the source never had. The
  // same engine keeps the declared types and the values as they are.
  if (engines.source_kind != target_kind) {
    size_t drafted = 0;
    for (auto& t : *tables) {
      auto classes = (*source)->StoredClasses(t);
      if (!classes) return std::unexpected(classes.error().Context("init"));
      for (size_t i = 0; i < classes->size() && i < t.columns.size(); ++i) {
        auto choice = mapping::TypeFromStoredClasses(t.columns[i], (*classes)[i]);
        if (!choice) continue;
        t.columns[i].type = choice->type;
        engines.type_notes[{t.name, t.columns[i].name}] = choice->why;
        ++drafted;
      }
    }
    if (drafted) {
      std::fprintf(out, "%zu column(s) hold values of other types than declared: drafted from "
                   "what they store (see the comment next to each)\n", drafted);
    }
  }
  std::string yaml = mapping::DraftYaml(StripPassword(o.source, &source_pw),
                                        StripPassword(o.target, &target_pw), *tables, engines);
  std::ofstream f(o.output);
  f << yaml;
  if (!f.flush()) return Fail(Code::kFailedPrecondition, "cannot write {}", o.output);
  size_t columns = 0, keyless = 0;
  for (const auto& t : *tables) {
    columns += t.columns.size();
    keyless += t.primary_key.empty();
  }
  std::fprintf(out, "wrote %s: %zu tables, %zu columns from %s\n", o.output.c_str(),
               tables->size(), columns, RedactUri(o.source).c_str());
  if (source_pw || target_pw) {
    std::fprintf(out, "passwords were left out of %s: set %s before running tandem\n",
                 o.output.c_str(),
                 source_pw && target_pw ? "TANDEM_SOURCE_PASSWORD and TANDEM_TARGET_PASSWORD"
                 : source_pw            ? "TANDEM_SOURCE_PASSWORD"
                                        : "TANDEM_TARGET_PASSWORD");
  }
  if (keyless) {
    std::fprintf(out,
                 "%zu table(s) have no primary key: drafted as `key: none` (the whole row is the "
                 "identity; see the comment above each)\n",
                 keyless);
  }
  for (const auto& u : *unmigrated) {
    std::fprintf(out, "not migrated: %s %s%s\n", u.kind.c_str(), u.name.c_str(),
                 u.table.empty() ? "" : (" (on " + u.table + ")").c_str());
  }
  return kExitOk;
}

namespace {

// Prints what tandem's own role lacks on each side, with the GRANT to run; false when
// something is missing. Capture is installed on old at `start` and on new at `switch writes`,
// so both sides are asked for everything.
Result<bool> CheckGrants(Session& s, FILE* out) {
  std::vector<std::string> old_tables, new_tables;
  for (const auto& t : s.tables) {
    old_tables.push_back(t.source_table());
    if (t.target_exists()) new_tables.push_back(t.target_table());
  }
  bool ok = true;
  for (auto [side, changes, tables] :
       {std::tuple{"old", s.source_changes.get(), &old_tables},
        std::tuple{"new", s.target_changes.get(), &new_tables}}) {
    auto missing = changes->MissingGrants(*tables);
    if (!missing) return std::unexpected(missing.error().Context(fmt::format("check {}", side)));
    for (const auto& m : *missing) {
      std::fprintf(out, "missing on %s: %s\n    run: %s\n", side, m.what.c_str(), m.grant.c_str());
      ok = false;
    }
  }
  if (ok) std::fprintf(out, "privileges OK: tandem's role has what it needs on old and new\n");
  return ok;
}

// A target name as the engine keeps it: PostgreSQL cuts identifiers to 63 bytes (on a
// character boundary) without a word, so two long names can become one; MariaDB refuses
// names over 64 characters. SQLite has no limit. nullopt: the name is kept whole.
std::optional<std::string> StoredIdentifier(std::string_view engine, const std::string& name) {
  if (engine == "postgres" && name.size() > 63) {
    size_t n = 63;
    while (n > 0 && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) --n;
    return name.substr(0, n);
  }
  if (engine == "mysql" && Utf8Length(name) > 64) return std::string();  // refused
  return std::nullopt;
}

// A name that fits the limit and stays distinct: a prefix and a hash of the whole name.
std::string ProposeIdentifier(const std::string& name) {
  uint32_t h = 2166136261u;
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  size_t keep = 50;  // 50 + "_" + 8 hex = 59: under both limits, in bytes and in characters
  while (keep > 0 && (static_cast<unsigned char>(name[keep]) & 0xC0) == 0x80) --keep;
  return fmt::format("{}_{:08x}", name.substr(0, keep), h);
}

// Target tables and columns that the target engine would merge or refuse because of its
// identifier length limit, each with a rename to write in tandem.yaml.
std::vector<std::string> IdentifierProblems(const Session& s) {
  std::string_view engine = s.target->kind();
  std::vector<std::string> problems;
  auto scan = [&](const std::string& what, const std::vector<std::string>& names,
                  const std::string& hint) {
    std::map<std::string, std::vector<std::string>> by_stored;
    for (const auto& n : names) {
      auto stored = StoredIdentifier(engine, n);
      if (!stored) continue;
      if (stored->empty()) {
        problems.push_back(fmt::format(
            "{} '{}' is longer than MariaDB's 64 characters; rename it in tandem.yaml, e.g. {}: "
            "{}",
            what, n, hint, ProposeIdentifier(n)));
        continue;
      }
      by_stored[*stored].push_back(n);
    }
    for (const auto& [stored, group] : by_stored) {
      if (group.size() < 2) continue;
      std::string list, renames;
      for (const auto& n : group) {
        list += (list.empty() ? "'" : ", '") + n + "'";
        renames += fmt::format("{}    '{}' -> {}: {}", renames.empty() ? "" : "\n", n, hint,
                               ProposeIdentifier(n));
      }
      problems.push_back(fmt::format(
          "{}s {} are one identifier on PostgreSQL, which cuts names to 63 bytes (both become "
          "'{}'); rename them in tandem.yaml, e.g.:\n{}",
          what, list, stored, renames));
    }
  };
  std::vector<std::string> tables;
  for (const auto& t : s.tables) {
    tables.push_back(t.target_table());
    scan(fmt::format("target table {}: column", t.target_table()), t.target_columns(), "to");
  }
  scan("target table", tables, "target");
  return problems;
}

}  // namespace

Result<int> Check(const std::string& config_path, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(Session s, OpenSession(config_path, false));
  size_t mapped = 0, dropped = 0, created = 0, dropped_tables = 0;
  for (const auto& tm : s.cfg.tables) {
    if (tm.drop_reason) {
      ++dropped_tables;
      continue;
    }
    for (const auto& c : tm.columns) (c.drop_reason ? dropped : mapped)++;
  }
  for (const auto& t : s.tables) {
    created += !t.target_exists();
    if (!t.key_ranges_portable() && !t.one_range_reason().empty()) {
      std::fprintf(out,
                   "note: %s: %s; it is copied and verified as one range (not resumable within "
                   "the table)\n",
                   t.source_table().c_str(), t.one_range_reason().c_str());
    } else if (!t.key_ranges_portable()) {
      std::fprintf(out,
                   "note: %s: its key sorts by a linguistic or case-insensitive collation on one "
                   "side; it is copied and verified as one range (not resumable within the "
                   "table). A byte-order collation on the key (COLLATE \"C\", utf8mb4_bin) "
                   "lifts this.\n",
                   t.source_table().c_str());
    }
  }
  if (auto problems = IdentifierProblems(s); !problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += "\n  " + p;
    return Fail(Code::kInvalidArgument, "target identifiers collide or are too long:{}", all);
  }
  TANDEM_ASSIGN_OR_RETURN(auto unmigrated, s.source->ListUnmigrated());
  for (const auto& u : unmigrated) {
    std::fprintf(out, "not migrated: %s %s%s\n", u.kind.c_str(), u.name.c_str(),
                 u.table.empty() ? "" : (" (on " + u.table + ")").c_str());
  }
  size_t objects = 0;
  for (const auto& t : s.tables) objects += ObjectsOf(t.planned_target()).size();
  std::fprintf(out, "%zu index(es), check(s) and foreign key(s) will be built on the target\n",
               objects);
  std::fprintf(out,
               "mapping OK: %zu tables (%zu dropped), %zu columns mapped, %zu dropped with a "
               "reason; %zu target table(s) will be created\n",
               s.tables.size(), dropped_tables, mapped, dropped, created);
  TANDEM_ASSIGN_OR_RETURN(bool grants_ok, CheckGrants(s, out));
  if (!grants_ok) {
    return Fail(Code::kFailedPrecondition,
                "tandem's role lacks privileges it needs (see above); the application's roles "
                "need none");
  }
  return kExitOk;
}

Result<int> Copy(const CopyOptions& o, FILE* out, FILE* err) {
  TANDEM_ASSIGN_OR_RETURN(Session s, OpenSession(o.config_path, true));
  s.jobs_flag = o.jobs;
  // A one-off copy writes whole ranges of the target: never under a running migration, whose
  // streams (or the application, after `switch writes`) keep those rows current.
  bool got = false;
  std::string holder;
  TANDEM_ASSIGN_OR_RETURN(auto lock, FollowerLock::TryAcquire(s.state->db().path(), got, holder));
  if (!got) {
    return Fail(Code::kFailedPrecondition,
                "pid {} is following this migration (`tandem start`): `tandem copy` would overwrite "
                "what it keeps current",
                holder);
  }
  TANDEM_ASSIGN_OR_RETURN(auto st, LoadState(*s.state));
  if (Streaming(st.phase) || st.phase == Phase::kFinalized || st.capture_old || st.capture_new) {
    return Fail(Code::kFailedPrecondition,
                "a migration is under way here (phase {}, capture installed on {}): `tandem copy` "
                "would overwrite rows that the change streams{} keep current; use `tandem start` "
                "to resume it, or `tandem rollback` to stop it first",
                PhaseName(st.phase),
                st.capture_old && st.capture_new ? "both sides" : st.capture_old ? "old" : st.capture_new ? "new" : "neither side",
                st.phase == Phase::kWriteNew || st.phase == Phase::kFinalized ? " and the application" : "");
  }
  auto progress = MakeProgress(err);
  copy::Backfill backfill = s.MakeBackfill(*progress, ReportReconnects(err, *s.state, "copy"));
  // A finished copy run again starts over; an unfinished one resumes from its checkpoints.
  TANDEM_ASSIGN_OR_RETURN(auto totals, s.state->Totals());
  bool unfinished = false;
  for (const auto& t : totals) unfinished |= t.chunks_done < t.chunks;
  if (o.restart || !unfinished) {
    TANDEM_RETURN_IF_ERROR(s.state->ResetBackfill());
  } else {
    int done = 0, all = 0;
    for (const auto& t : totals) done += t.chunks_done, all += t.chunks;
    EmitEvent(err, "resume", nlohmann::json{{"chunks_done", done}, {"chunks", all}}.dump());
  }
  TANDEM_RETURN_IF_ERROR(backfill.PrepareTargets());
  TANDEM_RETURN_IF_ERROR(backfill.Plan());
  // The invariant's slow counts (InnoDB) are taken chunk by chunk while the copy goes on.
  ChunkCounter counter(s, s.CopyJobs());
  backfill.OnChunkIn([&](const mapping::TableTransform& t, const state::Chunk& c, int chunks) {
    counter.Add(t, c, chunks);
  });
  auto started = std::chrono::steady_clock::now();
  TANDEM_ASSIGN_OR_RETURN(auto reports, backfill.Run());
  if (!backfill.object_failures().empty()) {
    std::fprintf(out, "%s", DescribeObjectFailures(backfill.object_failures()).c_str());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // The invariant, checked against the databases themselves: source = target + rejected.
  std::vector<const mapping::TableTransform*> copied;
  int64_t total_rows = 0, total_rejected = 0;
  for (const auto& r : reports) {
    copied.push_back(s.FindTable(r.source_table));
    total_rows += r.source_rows;
  }
  TANDEM_ASSIGN_OR_RETURN(auto balances, CountBalances(s, copied, {}, counter.Finish()));
  bool broken = PrintBalances(out, balances);
  for (const auto& b : balances) {
    total_rejected += b.rejected;
    if (b.source_counted_early || b.target_counted_early || b.recounted) {
      EmitEvent(err, "invariant_counted",
                nlohmann::json{{"table", b.table},
                               {"source_while_copying", b.source_counted_early},
                               {"target_while_copying", b.target_counted_early},
                               {"recounted_whole", b.recounted}}
                    .dump());
    }
  }
  std::fprintf(out, "copied %lld rows in %.2f s (%.0f rows/s); %lld rejected%s\n",
               static_cast<long long>(total_rows), secs, secs > 0 ? total_rows / secs : 0.0,
               static_cast<long long>(total_rejected),
               total_rejected ? " (see `tandem rejects`)" : "");
  TANDEM_RETURN_IF_ERROR(s.state->Log(
      "copy", nlohmann::json{{"rows", total_rows}, {"seconds", secs}, {"rejected", total_rejected}}
                  .dump()));
  if (broken) return std::unexpected(BrokenBalanceError(balances));
  return total_rejected || !backfill.object_failures().empty() ? kExitProblems : kExitOk;
}

std::string DescribeObjectFailures(const std::vector<copy::ObjectFailure>& failures) {
  std::string out;
  for (const auto& f : failures) {
    out += fmt::format("NOT BUILT: {} {} on {}: {}\n", f.kind, f.object, f.table, f.error);
  }
  if (!failures.empty()) {
    out += fmt::format("{} object(s) not built: fix the data (or edit or delete the entry in the "
                       "mapping) and run the command again; `switch reads` refuses until then\n",
                       failures.size());
  }
  return out;
}

Result<int> Schema(const SchemaOptions& o, FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(Session s, OpenSession(o.config_path, false));
  std::string ddl = fmt::format("-- target DDL of {}, in the order `tandem copy` and `tandem start` "
                                "run it\n-- tables first; indexes, checks and foreign keys after "
                                "each table's rows are copied\n",
                                o.config_path);
  for (const auto& t : s.tables) {
    if (t.target_exists()) {
      ddl += fmt::format("-- table {} exists on the target: not created\n", t.target_table());
    } else {
      ddl += s.target->CreateTableDdl(t.planned_target()) + ";\n";
    }
  }
  for (const auto& t : s.tables) {
    ddl += fmt::format("\n-- after {} is copied\n", t.target_table());
    for (const auto& obj : ObjectsOf(t.planned_target())) {
      auto stmts = s.target->ObjectDdl(t.planned_target(), obj);
      if (stmts.empty()) {
        ddl += fmt::format("-- {} {}: declared in CREATE TABLE on {}; checked here\n",
                           obj.KindName(), obj.name(), s.target->kind());
      }
      for (const auto& stmt : stmts) ddl += stmt + ";\n";
    }
  }
  std::fputs(ddl.c_str(), out);
  if (!o.sql_path.empty()) {
    std::ofstream f(o.sql_path);
    f << ddl;
    if (!f.flush()) return Fail(Code::kFailedPrecondition, "cannot write {}", o.sql_path);
  }
  return kExitOk;
}

Result<int> ShowRejects(const std::string& config_path, const std::string& table, int limit,
                        FILE* out) {
  TANDEM_ASSIGN_OR_RETURN(auto cfg, mapping::LoadConfig(config_path));
  TANDEM_ASSIGN_OR_RETURN(auto state, state::StateStore::Open(cfg.state, cfg.dir));
  int64_t n = 0;
  for (const auto& tm : cfg.tables) {
    if (!table.empty() && tm.source != table) continue;
    TANDEM_ASSIGN_OR_RETURN(auto rejects, state.Rejects(tm.source, limit));
    for (const auto& r : rejects) {
      std::string key;
      for (const auto& v : r.key) key += (key.empty() ? "" : ", ") + v.ToDisplay();
      std::string kind = r.kind.empty() ? "" : fmt::format(" [{}; {}]", r.kind, r.rule);
      std::fprintf(out, "%s key (%s): %s%s\n    row %s\n", tm.source.c_str(), key.c_str(),
                   r.reason.c_str(), kind.c_str(), r.row_json.c_str());
      ++n;
    }
  }
  std::fprintf(out, "%lld reject(s) shown\n", static_cast<long long>(n));
  return n ? kExitProblems : kExitOk;
}

}  // namespace tandem::migration
