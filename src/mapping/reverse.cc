#include "mapping/reverse.h"

#include <algorithm>
#include <set>

namespace tandem::mapping {

namespace {

// The inverse of one forward step, or nullopt when it has none. A time zone step inverts
// exactly (an instant has one wall-clock time; a wall-clock time written back by the new side
// that falls in a fold takes the earlier instant, one in a gap is refused); decode inverts
// into a bytes column for the encodings whose round trip is exact by construction (the
// tables of latin1, cp1252, mariadb_latin1, and utf-8).
std::optional<Step> Inverse(const Step& st, const Column* source_column) {
  switch (st.op) {
    case Step::Op::kTimeZone: {
      Step r;
      r.op = Step::Op::kTimeZone;
      r.where = st.where;
      r.from_tz = st.to_tz;  // empty: the new value is an instant (or UTC)
      r.to_tz = st.from_tz.empty() ? std::string() : st.from_tz;
      r.on_gap = OnGap::kReject;
      r.on_fold = OnFold::kEarlier;
      if (r.to_tz.empty() && r.from_tz.empty()) return std::nullopt;
      return r;
    }
    case Step::Op::kDecode: {
      bool exact = st.encoding == "latin1" || st.encoding == "cp1252" ||
                   st.encoding == "mariadb_latin1" || st.encoding == "utf-8";
      if (!exact || !source_column || source_column->type.kind != Kind::kBytes) return std::nullopt;
      Step r;
      r.op = Step::Op::kEncode;
      r.encoding = st.encoding;
      r.where = st.where;
      return r;
    }
    default: return std::nullopt;
  }
}

}  // namespace

std::optional<TableTransform> CompileReverse(const TableMap& fwd, const TableSchema& source,
                                             const TableSchema& target,
                                             std::vector<std::string>& problems,
                                             const Config* cfg) {
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
      for (auto it = cm.steps.rbegin(); it != cm.steps.rend(); ++it) {
        if (auto inv = Inverse(*it, sc)) {
          r.steps.push_back(std::move(*inv));
          continue;
        }
        problems.push_back(fmt::format(
            "{}: column {}.{} has a transform that cannot be inverted for the reverse stream "
            "(`{}`): add `reverse: as_is` to write the new value back unchanged",
            it->where.line > 0 ? it->where.ToString() : cm.where.ToString(), fwd.source,
            cm.source, it->Rule()));
        break;
      }
    }
    // The table's (or file's) `timezone:` shifted a naive value into timestamptz: back to the
    // wall clock of that zone (the same rule as TableTransform::Compile).
    const std::string& zone = fwd.timezone ? *fwd.timezone : cfg ? cfg->timezone : std::string();
    const Column* tc = target.Find(cm.target);
    bool zone_step = std::any_of(cm.steps.begin(), cm.steps.end(),
                                 [](const Step& st) { return st.op == Step::Op::kTimeZone; });
    if (!as_is && !zone_step && sc && tc && !zone.empty() && zone != "UTC" &&
        (cm.type ? cm.type->kind : tc->type.kind) == Kind::kTimestampTz &&
        (sc->type.kind == Kind::kTimestamp || sc->type.kind == Kind::kText)) {
      Step back;
      back.op = Step::Op::kTimeZone;
      back.to_tz = zone;
      back.where = fwd.timezone ? fwd.timezone_where : cfg->timezone_where;
      r.steps.push_back(std::move(back));
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
  // A column computed by an expression is not written back (like a constant); the source
  // columns only it reads would be left to their default by the reverse stream: say so,
  // unless the mapping accepts it (`reverse: none`).
  for (const auto& add : fwd.adds) {
    if (!add.expr || (add.reverse && *add.reverse == "none")) continue;
    for (const auto& name : add.from) {
      const ColumnMap* cm = fwd.FindColumn(name);
      if (cm && !cm->drop_reason) continue;
      problems.push_back(fmt::format(
          "{}: added column {}.{} is computed by an expression that cannot be inverted: the "
          "reverse stream (new -> old) cannot fill {}.{} from it; map {} as well, or add "
          "`reverse: none` to leave it NULL (or its default) for rows written on the new side",
          add.where.ToString(), fwd.target, add.target, fwd.source, name, name));
    }
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
    auto r = CompileReverse(tm, *s, *t, problems, &cfg);
    if (r) out.push_back(std::move(*r));
  }
  if (!problems.empty()) {
    return std::unexpected(ProblemsError(
        Code::kFailedPrecondition, "the mapping cannot run in reverse (new -> old)", problems));
  }
  return out;
}

}  // namespace tandem::mapping
