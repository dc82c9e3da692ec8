#include "mapping/reverse.h"

#include <set>

namespace tandem::mapping {

std::optional<TableTransform> CompileReverse(const TableMap& fwd, const TableSchema& source,
                                             const TableSchema& target,
                                             std::vector<std::string>& problems) {
  size_t before = problems.size();
  TableMap rev;
  rev.source = fwd.target;
  rev.target = fwd.source;
  rev.where = fwd.where;
  std::set<std::string> covered;
  for (const auto& cm : fwd.columns) {
    if (cm.drop_reason) continue;
    const Column* sc = source.Find(cm.source);
    if (sc && sc->generated) {
      // Old computes it from its other columns: the reverse stream must not write it.
      ColumnMap r;
      r.source = cm.target;
      r.drop_reason = fmt::format("generated in {}.{}: computed by the old database", fwd.source, cm.source);
      covered.insert(cm.target);
      rev.columns.push_back(std::move(r));
      continue;
    }
    ColumnMap r;
    r.source = cm.target;
    r.target = cm.source;
    r.where = cm.where;
    if (sc) r.type = sc->type;
    bool as_is = cm.reverse && *cm.reverse == "as_is";
    if (cm.reverse && !as_is) {
      problems.push_back(fmt::format("{}: column {}.{}: reverse: '{}' is not understood (use "
                                     "`reverse: as_is`)",
                                     cm.where.ToString(), fwd.source, cm.source, *cm.reverse));
    }
    if (!cm.steps.empty() && !as_is) {
      problems.push_back(fmt::format(
          "{}: column {}.{} has a transform that cannot be inverted for the reverse stream: add "
          "`reverse: as_is` to write the new value back unchanged",
          cm.where.ToString(), fwd.source, cm.source));
    }
    if (!cm.value_map.empty() && !as_is) {
      std::set<std::string> seen;
      bool one_to_one = true;
      for (const auto& [from, to] : cm.value_map) {
        if (!to || !seen.insert(*to).second) one_to_one = false;
        else r.value_map.emplace_back(*to, from);
      }
      if (!one_to_one) {
        problems.push_back(fmt::format(
            "{}: column {}.{}: its map is not one-to-one and cannot be inverted: add `reverse: "
            "as_is`",
            cm.where.ToString(), fwd.source, cm.source));
      }
      r.on_unmapped = OnUnmapped::kKeep;
    }
    covered.insert(cm.target);
    rev.columns.push_back(std::move(r));
  }
  // Columns of the new table that the old one does not have (added constants, columns the
  // application filled by itself) stay behind.
  for (const auto& col : target.columns) {
    if (covered.contains(col.name)) continue;
    ColumnMap r;
    r.source = col.name;
    r.drop_reason = "not in the source table";
    rev.columns.push_back(std::move(r));
  }
  rev.keyless = fwd.keyless;  // the whole row is the identity both ways
  for (const auto& k : fwd.keyless ? std::vector<std::string>{}
                       : fwd.key.empty() ? source.primary_key : fwd.key) {
    const ColumnMap* cm = fwd.FindColumn(k);
    if (cm) rev.key.push_back(cm->target);
  }
  // A source column dropped by the mapping is not written back: fine if it may be NULL or has
  // a default; Compile reports it otherwise (rows inserted on the new side could not land).
  auto t = TableTransform::Compile(rev, target, &source, problems);
  if (problems.size() != before) return std::nullopt;
  return t;
}

Result<std::vector<TableTransform>> CompileAllReverse(const Config& cfg,
                                                      const std::vector<TableSchema>& source,
                                                      const std::vector<TableSchema>& target) {
  std::vector<std::string> problems;
  std::vector<TableTransform> out;
  for (const auto& tm : cfg.tables) {
    if (tm.drop_reason) continue;
    const TableSchema* s = FindTable(source, tm.source);
    const TableSchema* t = FindTable(target, tm.target);
    if (!s || !t) {
      problems.push_back(fmt::format("{}: table {} -> {} is missing on one side",
                                     tm.where.ToString(), tm.source, tm.target));
      continue;
    }
    auto r = CompileReverse(tm, *s, *t, problems);
    if (r) out.push_back(std::move(*r));
  }
  if (!problems.empty()) {
    return std::unexpected(ProblemsError(
        Code::kFailedPrecondition, "the mapping cannot run in reverse (new -> old)", problems));
  }
  return out;
}

}  // namespace tandem::mapping
