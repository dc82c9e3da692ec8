#include "mapping/drift.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/text.h"

namespace tandem::mapping {

namespace {

const Column* Named(const std::vector<Column>& cols, std::string_view name) {
  for (const auto& c : cols) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int Position(const std::vector<Column>& cols, std::string_view name) {
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// A YAML key or scalar, quoted when plain style would not read back as the same text.
std::string Yaml(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) plain = false;
  }
  if (plain) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string_view ChangeName(ColumnChange::What what) {
  switch (what) {
    case ColumnChange::What::kAdded: return "added";
    case ColumnChange::What::kDropped: return "dropped";
    case ColumnChange::What::kRetyped: return "retyped";
    case ColumnChange::What::kRenamed: return "renamed";
  }
  return "?";
}

std::vector<ColumnChange> DiffColumns(const std::vector<Column>& compiled,
                                      const std::vector<Column>& live) {
  std::vector<ColumnChange> added, dropped, out;
  for (const auto& c : compiled) {
    const Column* now = Named(live, c.name);
    if (!now) {
      dropped.push_back({.what = ColumnChange::What::kDropped, .column = c.name,
                         .was_type = c.engine_type, .portable = c.type});
    } else if (AsciiLower(now->engine_type) != AsciiLower(c.engine_type)) {
      out.push_back({.what = ColumnChange::What::kRetyped, .column = c.name,
                     .was_type = c.engine_type, .now_type = now->engine_type,
                     .portable = now->type});
    }
  }
  for (const auto& c : live) {
    if (!Named(compiled, c.name)) {
      added.push_back({.what = ColumnChange::What::kAdded, .column = c.name,
                       .now_type = c.engine_type, .portable = c.type});
    }
  }
  if (added.size() == 1 && dropped.size() == 1 &&
      AsciiLower(added[0].now_type) == AsciiLower(dropped[0].was_type) &&
      Position(live, added[0].column) == Position(compiled, dropped[0].column)) {
    out.push_back({.what = ColumnChange::What::kRenamed, .column = added[0].column,
                   .was = dropped[0].column, .was_type = dropped[0].was_type,
                   .now_type = added[0].now_type, .portable = added[0].portable});
  } else {
    out.insert(out.end(), dropped.begin(), dropped.end());
    out.insert(out.end(), added.begin(), added.end());
  }
  // In the live table's column order (dropped ones by their old position, first).
  std::stable_sort(out.begin(), out.end(), [&](const ColumnChange& a, const ColumnChange& b) {
    return Position(live, a.column) < Position(live, b.column);
  });
  return out;
}

std::string SuggestedMapping(const ColumnChange& c, const TableMap* map) {
  const ColumnMap* cm = map ? map->FindColumn(c.what == ColumnChange::What::kRenamed ? c.was : c.column)
                            : nullptr;
  std::string target = cm && !cm->drop_reason ? cm->target : c.column;
  switch (c.what) {
    case ColumnChange::What::kAdded:
      return fmt::format("{}: {{to: {}, type: {}}}", Yaml(c.column), Yaml(c.column),
                         c.portable.ToString());
    case ColumnChange::What::kDropped:
      return fmt::format("{}: {{drop: \"dropped from the source during the migration\"}}",
                         Yaml(c.column));
    case ColumnChange::What::kRetyped:
      return fmt::format("{}: {{to: {}, type: {}}}", Yaml(c.column), Yaml(target),
                         cm && cm->type ? cm->type->ToString() : c.portable.ToString());
    case ColumnChange::What::kRenamed:
      return fmt::format("{}: {{to: {}{}}}", Yaml(c.column), Yaml(target),
                         cm && cm->type ? ", type: " + cm->type->ToString() : std::string());
  }
  return "";
}

std::string DescribeChanges(std::string_view table, const std::vector<ColumnChange>& changes,
                            const TableMap* map, std::string_view file) {
  std::string target = map ? map->target : std::string(table);
  std::string out = fmt::format(
      "source table {} changed its columns; its changes are held (kept, not applied) until {} "
      "maps them and `tandem start` runs again:",
      table, file);
  bool recopy = false;
  for (const auto& c : changes) {
    std::string line;
    const ColumnMap* cm = map ? map->FindColumn(c.what == ColumnChange::What::kRenamed ? c.was : c.column)
                              : nullptr;
    bool is_key = map && std::find(map->key.begin(), map->key.end(),
                                   c.what == ColumnChange::What::kRenamed ? c.was : c.column) !=
                             map->key.end();
    switch (c.what) {
      case ColumnChange::What::kAdded:
        line = fmt::format("column {}.{} was added ({}): under table {}, columns, write `{}` "
                           "(tandem adds {}.{} on the target and copies {} again), or `{}: "
                           "{{drop: \"why\"}}`",
                           table, c.column, c.now_type, table, SuggestedMapping(c, map), target,
                           c.column, table, Yaml(c.column));
        recopy = true;
        break;
      case ColumnChange::What::kDropped:
        line = fmt::format("column {}.{} ({}) was dropped: write `{}` in place of its mapping{}",
                           table, c.column, c.was_type, SuggestedMapping(c, map),
                           cm && !cm->drop_reason
                               ? fmt::format(" (the target column {}.{} stays, with the values "
                                             "copied so far; rows written from now on leave it "
                                             "NULL)",
                                             target, cm->target)
                               : std::string());
        if (is_key) line += "; it is a key column: restore it, or `tandem rollback`";
        break;
      case ColumnChange::What::kRetyped:
        line = fmt::format("column {}.{} changed type from {} to {}: check its mapping, e.g. "
                           "`{}` (then {} is copied again)",
                           table, c.column, c.was_type, c.now_type, SuggestedMapping(c, map), table);
        recopy = true;
        break;
      case ColumnChange::What::kRenamed:
        line = fmt::format("column {}.{} was renamed to {} ({}): write `{}` in place of `{}: ...`"
                           " (then {} is copied again)",
                           table, c.was, c.column, c.now_type, SuggestedMapping(c, map),
                           Yaml(c.was), table);
        recopy = true;
        break;
    }
    out += "\n  " + line;
  }
  (void)recopy;
  return out;
}

std::vector<ColumnChange> Relevant(std::vector<ColumnChange> changes, const TableMap* map) {
  if (!map) return changes;
  std::erase_if(changes, [&](const ColumnChange& c) {
    if (c.what != ColumnChange::What::kDropped && c.what != ColumnChange::What::kRetyped) return false;
    const ColumnMap* cm = map->FindColumn(c.column);
    return cm && cm->drop_reason;
  });
  return changes;
}

bool OnlyDrops(const std::vector<ColumnChange>& changes) {
  return std::all_of(changes.begin(), changes.end(),
                     [](const ColumnChange& c) { return c.what == ColumnChange::What::kDropped; });
}

TableSchema FitToMapping(const TableSchema& live, const TableMap& map, const TableSchema* target,
                         std::vector<ColumnChange>& changes) {
  TableSchema fit = live;
  fit.columns.clear();
  for (const auto& c : live.columns) {
    if (map.FindColumn(c.name)) fit.columns.push_back(c);
  }
  for (const auto& cm : map.columns) {
    if (Named(live.columns, cm.source)) continue;
    // A column the mapping drops may go (nothing of it is read): put back, but no change.
    Column c;
    c.name = cm.source;
    const Column* tc = target && !cm.drop_reason ? target->Find(cm.target) : nullptr;
    c.type = cm.type ? *cm.type : tc ? tc->type : PortableType{};
    c.engine_type = "(dropped)";
    fit.columns.push_back(std::move(c));
  }
  // What the mapping knew: the fitted columns; what there is: the live ones.
  changes = Relevant(DiffColumns(fit.columns, live.columns), &map);
  for (auto& ch : changes) {
    if (ch.what == ColumnChange::What::kDropped) ch.was_type = ch.portable.ToString();
  }
  // A dropped column put back has no engine type: it cannot read as a rename or a retype.
  std::erase_if(changes, [](const ColumnChange& ch) { return ch.what == ColumnChange::What::kRetyped; });
  return fit;
}

}  // namespace tandem::mapping
