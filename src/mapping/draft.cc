#include "mapping/draft.h"

#include <algorithm>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "core/text.h"

namespace tandem::mapping {

std::string YamlScalar(std::string_view s) {
  static const std::regex kPlain("^[A-Za-z_][A-Za-z0-9_]*$");
  static const std::regex kReserved(
      "^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|"
      "null|Null|NULL)$");
  std::string str(s);
  if (std::regex_match(str, kPlain) && !std::regex_match(str, kReserved)) return str;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

namespace {

// Always double-quoted (a text default must not read as current_timestamp or a number).
std::string YamlQuoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string YamlList(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + YamlScalar(i);
  return "[" + out + "]";
}

}  // namespace

std::optional<std::string> TranslateSql(std::string_view expr, std::string_view from,
                                        std::string_view to) {
  std::string e(expr);
  if (from == to || from.empty() || to.empty()) return e;
  if (from == "postgres") {
    static const std::regex kCast(
        "::(character varying|timestamp with(out)? time zone|time with(out)? time zone|double "
        "precision|bit varying|\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_]*)(\\(\\d+(,\\d+)?\\))?(\\[\\])?");
    e = std::regex_replace(e, kCast, "");
    static const std::regex kAnyArray("= ANY \\(+ARRAY\\[([^\\]]*)\\]\\)+");
    e = std::regex_replace(e, kAnyArray, "IN ($1)");
    static const std::regex kNotLike(" !~~ "), kLike(" ~~ ");
    e = std::regex_replace(e, kNotLike, " NOT LIKE ");
    e = std::regex_replace(e, kLike, " LIKE ");
    if (e.find("::") != std::string::npos || e.find("ARRAY[") != std::string::npos ||
        e.find('~') != std::string::npos) {
      return std::nullopt;
    }
  }
  // Identifier quotes: MariaDB's backticks, everyone else's double quotes.
  char from_q = from == "mysql" ? '`' : '"', to_q = to == "mysql" ? '`' : '"';
  if (from_q != to_q) {
    bool in_literal = false;
    for (char& c : e) {
      if (c == '\'') in_literal = !in_literal;
      if (in_literal) continue;
      if (c == from_q) c = to_q;
      else if (c == to_q) return std::nullopt;  // an odd character inside a name
    }
  }
  return e;
}

namespace {

constexpr unsigned kInteger = 1, kReal = 2, kTextClass = 4, kBlob = 8;

std::string StoredClassNames(unsigned classes) {
  std::vector<std::string> names;
  if (classes & kInteger) names.push_back("integer");
  if (classes & kReal) names.push_back("real");
  if (classes & kTextClass) names.push_back("text");
  if (classes & kBlob) names.push_back("blob");
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  }
  return out;
}

// The storage classes no value of which CastTo turns into `kind` (a blob never becomes a
// number; text may, and a blob may be UTF-8 text).
unsigned NeverBecome(Kind kind) {
  switch (kind) {
    case Kind::kInt:
    case Kind::kBool:
    case Kind::kFloat:
    case Kind::kDecimal:
    case Kind::kJson: return kBlob;
    case Kind::kBytes:
    case Kind::kUuid: return kInteger | kReal;
    case Kind::kDate:
    case Kind::kTime:
    case Kind::kTimestamp:
    case Kind::kTimestampTz: return kInteger | kReal | kBlob;
    default: return 0;
  }
}

}  // namespace

std::optional<StoredTypeChoice> TypeFromStoredClasses(const Column& column,
                                                      const StoredClassCounts& n) {
  unsigned classes = (n.integer ? kInteger : 0) | (n.real ? kReal : 0) |
                     (n.text ? kTextClass : 0) | (n.blob ? kBlob : 0);
  int64_t values = n.integer + n.real + n.text + n.blob;
  auto count_of = [&](unsigned bits) {
    return ((bits & kInteger) ? n.integer : 0) + ((bits & kReal) ? n.real : 0) +
           ((bits & kTextClass) ? n.text : 0) + ((bits & kBlob) ? n.blob : 0);
  };
  // SQLite's two spellings of "any value": no declared type, and ANY in a STRICT table.
  std::string declared_as = AsciiUpper(TrimSpace(column.engine_type));
  bool declared = !declared_as.empty() && declared_as != "ANY";
  std::string held = classes == 0 ? "no values yet" : "values stored as " + StoredClassNames(classes);
  int64_t bad_values = 0;
  if (declared) {
    // The values the declared type's reading will refuse: classes it never takes, and for a
    // number, text that does not read as one.
    Kind kind = column.type.kind;
    unsigned never = NeverBecome(kind);
    bool number = kind == Kind::kInt || kind == Kind::kFloat || kind == Kind::kDecimal;
    int64_t bad = count_of(classes & never) + (number ? n.text_not_number : 0);
    if (bad == 0) return std::nullopt;
    bad_values = bad;
    if (2 * bad <= values) {
      // Most values fit: the declared type stays, the rest are rejects to fix.
      return StoredTypeChoice{
          column.type,
          fmt::format("declared {}, {}: {} of {} value(s) cannot become {} and their rows are "
                      "rejected (`tandem assess` lists them)",
                      column.engine_type, held, bad, values, column.type.ToString())};
    }
  }
  PortableType t;
  if (classes == 0) {
    t.kind = Kind::kText;
  } else if (classes & kBlob) {
    t.kind = Kind::kBytes;
  } else if (classes & kTextClass) {
    t.kind = Kind::kText;
  } else if (classes == kInteger) {
    t.kind = Kind::kInt;
  } else if (classes == kReal) {
    t.kind = Kind::kFloat;
  } else {
    t.kind = Kind::kDecimal;  // integers and reals: exact for both
  }
  unsigned numbers_in_bytes = t.kind == Kind::kBytes ? classes & (kInteger | kReal) : 0;
  if (t == column.type && !numbers_in_bytes) return std::nullopt;
  std::string verb = t == column.type ? "kept as" : "drafted as";
  std::string why = declared ? fmt::format("declared {}, {}: {} of {} value(s) cannot become {}; "
                                           "{} {}", column.engine_type, held, bad_values, values,
                                           column.type.ToString(), verb, t.ToString())
                             : fmt::format("no declared type, {}: {} {}", held, verb, t.ToString());
  if (numbers_in_bytes) {
    why += fmt::format(" ({} {} value(s) cannot become bytes and their rows are rejected)",
                       count_of(numbers_in_bytes), StoredClassNames(numbers_in_bytes));
  }
  return StoredTypeChoice{t, why};
}

std::string DraftYaml(const std::string& source_uri, const std::string& target_uri,
                      const std::vector<TableSchema>& tables,
                      const std::function<std::string(const PortableType&)>& target_type) {
  return DraftYaml(source_uri, target_uri, tables, DraftEngines{.target_type = target_type});
}

std::string DraftYaml(const std::string& source_uri, const std::string& target_uri,
                      const std::vector<TableSchema>& tables, const DraftEngines& engines) {
  const std::string& from = engines.source_kind;
  const std::string& to = engines.target_kind;
  bool same = from == to;
  std::string y;
  y += "# tandem mapping, drafted by `tandem init`. Every source column is listed: map it\n";
  y += "# ({to: name, type: t, transform: [trim, lower], on_null: keep|default|reject}) or drop it\n";
  y += "# with a reason ({drop: \"why\"}). Passwords belong in TANDEM_SOURCE_PASSWORD and\n";
  y += "# TANDEM_TARGET_PASSWORD, not here.\n";
  y += "#\n";
  y += "# The target is built for the application: `default:` (a constant, current_timestamp,\n";
  y += "# current_date, or {sql: \"target SQL\"}) and `identity: true` on columns; per table\n";
  y += "# `indexes:`, `foreign_keys:` and `checks:`, built after the table's rows are copied\n";
  y += "# (`tandem schema` prints the DDL). Indexes and foreign keys name source columns and\n";
  y += "# tables, so a rename by `to:` follows; `where:`, `expression:` and `check:` are SQL of\n";
  y += "# the target. Edit an entry to change it; delete its line to not build it.\n";
  if (!engines.unmigrated.empty()) {
    y += "#\n# Not migrated (tandem does not move these; recreate them on the target if the\n";
    y += "# application needs them):\n";
    for (const auto& u : engines.unmigrated) {
      y += fmt::format("#   {} {}{}\n", u.kind, u.name, u.table.empty() ? "" : " (on " + u.table + ")");
    }
  }
  y += fmt::format("source: {}\n", YamlScalar(source_uri));
  y += fmt::format("target: {}\n", YamlScalar(target_uri));
  y += "tables:\n";
  // Index names are per schema on PostgreSQL and SQLite (shared with tables there), foreign
  // key names per database on MariaDB: one set of names for the whole draft.
  std::set<std::string> used;
  for (const auto& t : tables) used.insert(t.name);
  auto unique_name = [&](const std::string& table, const std::string& name) {
    std::string n = name;
    if (used.contains(n)) n = table + "_" + name;
    for (int i = 2; used.contains(n); ++i) n = fmt::format("{}_{}{}", table, name, i);
    used.insert(n);
    return n;
  };
  for (const auto& t : tables) {
    y += fmt::format("  - source: {}\n", YamlScalar(t.name));
    y += fmt::format("    target: {}\n", YamlScalar(t.name));
    if (t.primary_key.empty()) {
      y += "    # no primary key: the whole row is the row's identity. Duplicates are kept; a change\n";
      y += "    # updates or deletes one row equal to the old row; verify compares the table as a\n";
      y += "    # multiset; copied as one range. Name unique, non-null columns instead if there are\n";
      y += "    # any (key: [a, b])";
      if (t.rowid_table) {
        y += ", or the hidden rowid (key: [rowid], mapped as a column:\n";
        y += "    # rowid: {to: source_rowid}; it then becomes the target's primary key)";
      }
      y += ".\n";
      y += "    key: none\n";
    } else {
      std::string k;
      for (const auto& c : t.primary_key) k += (k.empty() ? "" : ", ") + YamlScalar(c);
      y += fmt::format("    key: [{}]\n", k);
    }
    std::vector<std::string> untranslated;
    y += "    columns:\n";
    for (const auto& c : t.columns) {
      std::string type = c.type.ToString();
      if (type.find(',') != std::string::npos) type = "\"" + type + "\"";  // flow-map comma
      std::string note;
      // The same engine on both sides: the column keeps its declared type (and, on SQLite, its
      // values' storage classes), not the portable type's rendering.
      bool keep_declared = same && !from.empty() && c.builtin_type && !c.engine_type.empty();
      if (keep_declared) {
        type += ", engine_type: " + YamlQuoted(c.engine_type);
      } else if (engines.target_type) {
        std::string engine_type = engines.target_type(c.type);
        if (!engine_type.empty()) note = "  # target: " + engine_type;
      }
      if (auto it = engines.type_notes.find({t.name, c.name}); it != engines.type_notes.end()) {
        note += (note.empty() ? "  # " : "; ") + it->second;
      }
      if (c.generated) note += note.empty() ? "  # generated in the source" : "; generated in the source";
      std::string extra;
      // A SQLite rowid alias without AUTOINCREMENT stays one: an INTEGER key column is the
      // rowid on the target too, and `identity: true` would add AUTOINCREMENT.
      bool plain_rowid = same && from == "sqlite" && c.identity && !c.autoincrement &&
                         keep_declared && AsciiUpper(c.engine_type) == "INTEGER";
      if (c.identity && c.type.kind == Kind::kInt) {
        if (!plain_rowid) extra += ", identity: true";
      } else if (c.default_value && !c.generated) {
        const ColumnDefault& d = *c.default_value;
        using K = ColumnDefault::Kind;
        switch (d.kind) {
          // The same engine keeps the source's own spelling (PostgreSQL now() stays now()).
          case K::kCurrentTimestamp:
          case K::kCurrentDate:
          case K::kCurrentTime:
            if (same && from == "postgres" && c.default_expr) {
              extra += ", default: {sql: " + YamlQuoted(*c.default_expr) + "}";
              break;
            }
            extra += d.kind == K::kCurrentTimestamp ? ", default: current_timestamp"
                     : d.kind == K::kCurrentDate    ? ", default: current_date"
                                                    : ", default: current_time";
            break;
          case K::kExpression:
            if (same && !from.empty()) {
              extra += ", default: {sql: " + YamlQuoted(d.expression) + "}";
            } else {
              untranslated.push_back(fmt::format(
                  "default of {} is {} SQL ({}): write `default: {{sql: \"...\"}}` for {}", c.name,
                  from, d.expression, to));
            }
            break;
          case K::kLiteral:
            if (d.literal.is_null()) break;
            if (d.literal.kind() == Kind::kInt) {
              extra += fmt::format(", default: {}", d.literal.as_int());
            } else if (d.literal.kind() == Kind::kBool) {
              extra += d.literal.as_bool() ? ", default: true" : ", default: false";
            } else {
              extra += ", default: " + YamlQuoted(d.literal.as_str());
            }
            break;
        }
      }
      if (c.on_update_current_timestamp) {
        if (to == "mysql" || to.empty()) {
          extra += ", on_update: current_timestamp";
        } else {
          untranslated.push_back(fmt::format(
              "{} is set to current_timestamp on every update in the source (ON UPDATE); {} has "
              "no such clause: the application must set it, or add a trigger on the target",
              c.name, to));
        }
      }
      y += fmt::format("      {}: {{to: {}, type: {}{}}}{}\n", YamlScalar(c.name), YamlScalar(c.name),
                       type, extra, note);
    }
    std::vector<std::string> index_lines;
    for (const auto& ix : t.indexes) {
      // MariaDB makes an index named after a foreign key for its columns; into MariaDB the
      // foreign key makes it again, under the same name.
      bool fk_index = from == "mysql" && to == "mysql" &&
                      std::any_of(t.foreign_keys.begin(), t.foreign_keys.end(),
                                  [&](const ForeignKey& fk) { return fk.name == ix.name; });
      if (fk_index) continue;
      std::string why;
      if (!ix.method.empty() && (!same || to == "mysql")) {
        why = fmt::format("{} index {}: a {} index exists only in {}", ix.method, ix.name, ix.method, from);
      }
      std::vector<std::string> cols;
      std::string expression, where;
      for (const auto& p : ix.parts) {
        if (!p.expression.empty()) {
          if (ix.parts.size() > 1) {
            why = fmt::format("index {} mixes columns and expressions; tandem drafts only one "
                              "expression per index", ix.name);
            break;
          }
          auto e = to == "mysql" && !same ? std::nullopt : TranslateSql(p.expression, from, to);
          if (!e) {
            why = fmt::format("expression index {} ({}) cannot be translated to {}", ix.name, p.expression, to);
            break;
          }
          expression = *e;
          continue;
        }
        std::string part = p.column;
        if (p.prefix_length > 0 && (to == "mysql" || to.empty())) part += fmt::format("({})", p.prefix_length);
        if (p.descending) part += " desc";
        cols.push_back(part);
      }
      if (!ix.where.empty() && why.empty()) {
        auto w = to == "mysql" ? std::nullopt : TranslateSql(ix.where, from, to);
        if (!w) {
          why = fmt::format("partial index {} (WHERE {}): {}", ix.name, ix.where,
                            to == "mysql" ? "MariaDB has no partial indexes" : "the predicate cannot be translated");
        } else {
          where = *w;
        }
      }
      if (!why.empty()) {
        untranslated.push_back(why);
        continue;
      }
      std::string line = "{name: " + YamlScalar(unique_name(t.name, ix.name));
      if (!cols.empty()) line += ", columns: " + YamlList(cols);
      if (!expression.empty()) line += ", expression: " + YamlQuoted(expression);
      if (ix.unique) line += ", unique: true";
      if (!where.empty()) line += ", where: " + YamlQuoted(where);
      if (!ix.method.empty()) line += ", using: " + YamlScalar(ix.method);
      index_lines.push_back(line + "}");
    }
    if (!index_lines.empty()) {
      y += "    indexes:\n";
      for (const auto& l : index_lines) y += "      - " + l + "\n";
    }
    if (!t.foreign_keys.empty()) {
      y += "    foreign_keys:\n";
      for (const auto& fk : t.foreign_keys) {
        std::string name = fk.name.empty() ? t.name + "_" + fk.columns[0] + "_fkey" : fk.name;
        y += fmt::format("      - {{name: {}, columns: {}, references: {}, ref_columns: {}, "
                         "on_delete: {}, on_update: {}}}\n",
                         YamlScalar(unique_name(t.name, name)), YamlList(fk.columns),
                         YamlScalar(fk.ref_table), YamlList(fk.ref_columns),
                         FkActionName(fk.on_delete), FkActionName(fk.on_update));
      }
    }
    std::vector<std::string> check_lines;
    for (const auto& ch : t.check_constraints) {
      auto e = TranslateSql(ch.expression, from, to);
      if (!e) {
        untranslated.push_back(fmt::format("check {} ({}) cannot be translated from {} to {}",
                                           ch.name, ch.expression, from, to));
        continue;
      }
      check_lines.push_back(fmt::format("{{name: {}, check: {}}}", YamlScalar(ch.name), YamlQuoted(*e)));
    }
    if (!check_lines.empty()) {
      y += "    checks:\n";
      for (const auto& l : check_lines) y += "      - " + l + "\n";
    }
    for (const auto& u : untranslated) y += "    # not migrated: " + u + "\n";
  }
  return y;
}

}  // namespace tandem::mapping
