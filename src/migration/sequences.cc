#include "migration/sequences.h"

#include <algorithm>
#include <ctime>

#include <nlohmann/json.hpp>

namespace tandem::migration {

using nlohmann::json;

namespace {

// The column of the other side that `column` maps from (side "new") or to (side "old").
std::string MappedColumn(const mapping::TableMap& map, const std::string& side,
                         const std::string& column) {
  for (const auto& c : map.columns) {
    if (c.drop_reason) continue;
    if (side == "new" && c.target == column) return c.source;
    if (side == "old" && c.source == column) return c.target;
  }
  return "";
}

}  // namespace

Result<std::vector<SequenceMove>> SyncSequences(Migration& m, const std::string& side) {
  bool onto_new = side == "new";
  Engine& here = onto_new ? *m.s().target : *m.s().source;
  Engine& there = onto_new ? *m.s().source : *m.s().target;
  int64_t headroom = m.s().cfg.sequence_headroom;
  std::vector<SequenceMove> out;
  for (const auto& t : m.s().tables) {
    const std::string& here_table = onto_new ? t.target_table() : t.source_table();
    const std::string& there_table = onto_new ? t.source_table() : t.target_table();
    const mapping::TableMap* map = m.s().cfg.FindBySource(t.source_table());
    TANDEM_ASSIGN_OR_RETURN(auto seqs, here.SequenceColumns(here_table));
    if (seqs.empty()) continue;
    std::vector<SequenceColumn> there_seqs;
    for (const auto& sc : seqs) {
      SequenceMove mv{.table = here_table, .column = sc.column,
                      .kind = std::string(SequenceKindName(sc.kind)), .before = sc.next,
                      .settable = sc.settable};
      TANDEM_ASSIGN_OR_RETURN(auto here_max, here.MaxInteger(here_table, sc.column));
      int64_t used = here_max.value_or(0);
      mv.other_column = map ? MappedColumn(*map, side, sc.column) : "";
      if (!mv.other_column.empty()) {
        auto there_max = there.MaxInteger(there_table, mv.other_column);
        if (!there_max) {
          return std::unexpected(there_max.error().Context(fmt::format(
              "{}.{} is fed by a sequence on {}: its mapped column must hold integers",
              here_table, sc.column, side)));
        }
        used = std::max(used, there_max->value_or(0));
        if (there_seqs.empty()) {
          TANDEM_ASSIGN_OR_RETURN(there_seqs, there.SequenceColumns(there_table));
        }
        for (const auto& o : there_seqs) {
          // Values the other side handed out and then lost (deleted rows, rolled-back inserts)
          // are not reused either.
          if (o.column == mv.other_column) used = std::max(used, o.next - 1);
        }
      }
      mv.wanted = used + 1 + headroom;
      TANDEM_ASSIGN_OR_RETURN(mv.after, here.AdvanceSequence(sc, mv.wanted));
      out.push_back(std::move(mv));
    }
  }
  return out;
}

Status RecordSequenceSync(Migration& m, const std::string& side,
                          const std::vector<SequenceMove>& moves, double ms, FILE* out) {
  json cols = json::array();
  for (const auto& mv : moves) {
    cols.push_back({{"table", mv.table}, {"column", mv.column}, {"kind", mv.kind},
                    {"other_column", mv.other_column}, {"before", mv.before}, {"after", mv.after},
                    {"wanted", mv.wanted}, {"settable", mv.settable}});
    if (mv.settable) {
      std::fprintf(out, "  sequence %s.%s (%s) on %s: next value %lld (was %lld)\n", mv.table.c_str(),
                   mv.column.c_str(), mv.kind.c_str(), side.c_str(),
                   static_cast<long long>(mv.after), static_cast<long long>(mv.before));
    } else {
      std::fprintf(out, "  sequence %s.%s (%s) on %s: next value %lld, max+1 by the engine itself "
                        "(nothing to move)\n",
                   mv.table.c_str(), mv.column.c_str(), mv.kind.c_str(), side.c_str(),
                   static_cast<long long>(mv.after));
    }
  }
  json j = {{"side", side}, {"at", static_cast<double>(std::time(nullptr))}, {"ms", ms},
            {"columns", cols}};
  return m.store().PutAndLog(kLastSequenceSyncKey, j.dump(), "sequences", j.dump());
}

}  // namespace tandem::migration
