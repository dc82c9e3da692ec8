#include "assess/assess.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "core/encoding.h"
#include "core/row_json.h"
#include "core/text.h"
#include "engines/sqlite/database.h"

namespace tandem::assess {

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kReject: return "reject";
    case Severity::kFails: return "fails";
    case Severity::kWarning: return "warning";
  }
  return "?";
}

bool Report::HasProblems() const {
  for (const auto& f : findings) {
    if (f.severity != Severity::kWarning) return true;
  }
  return false;
}

namespace {

using Clock = std::chrono::steady_clock;

// What a finding remembers beyond its counts, to write its suggestion.
struct Evidence {
  size_t max_chars = 0;                 // too_long: the longest value, in characters
  std::set<std::string> values;         // type_mismatch, out_of_range: a few offending values
  int control = -1;                     // control_character: the first control byte seen
  PortableType type;                    // the target column's type
  std::string target_column;
};

// Findings of one run, by (table, column, kind, severity), in the order first found.
class Findings {
 public:
  Finding& Record(const mapping::TableTransform& t, std::string_view column, Problem kind,
                  Severity severity, std::string_view rule, std::string_view message,
                  const Row& key, Evidence** evidence = nullptr) {
    auto id = std::make_tuple(t.source_table(), std::string(column), kind, severity);
    auto [it, fresh] = index_.try_emplace(id, all_.size());
    if (fresh) {
      Finding f;
      f.table = t.source_table();
      f.target_table = t.target_table();
      f.column = column;
      f.kind = kind;
      f.severity = severity;
      f.rule = rule;
      f.example = message;
      all_.push_back(std::move(f));
      evidence_.emplace_back();
    }
    Finding& f = all_[it->second];
    ++f.count;
    if (f.sample_keys.size() < kSampleKeys) f.sample_keys.push_back(key);
    if (evidence) *evidence = &evidence_[it->second];
    return f;
  }
  std::vector<Finding>& all() { return all_; }
  std::vector<Evidence>& evidence() { return evidence_; }

 private:
  std::map<std::tuple<std::string, std::string, Problem, Severity>, size_t> index_;
  std::vector<Finding> all_;
  std::vector<Evidence> evidence_;
};

// Compares text the way a target column's collation compares it, where that differs from
// bytes: MariaDB's case-insensitive collations ignore case and trailing spaces (PAD SPACE),
// SQLite's NOCASE ignores ASCII case. Only ASCII letters are folded: accents are compared as
// written (an accent-insensitive collation may merge more than assess reports).
enum class Fold { kNone, kCaseAndTrailingSpace, kCase };

Value FoldValue(const Value& v, Fold fold) {
  if (fold == Fold::kNone || v.kind() != Kind::kText) return v;
  std::string s = AsciiLower(v.as_str());
  if (fold == Fold::kCaseAndTrailingSpace) {
    while (!s.empty() && s.back() == ' ') s.pop_back();
  }
  return Value::Text(std::move(s));
}

// A set of mapped target columns whose values the scratch database keeps: a primary or unique
// key to check for duplicates, and/or the columns a foreign key references.
struct KeySet {
  size_t table = 0;            // into Input::tables
  std::vector<int> positions;  // into the table's target_columns()
  std::vector<std::string> columns;  // target names
  std::vector<Fold> folds;
  bool check_duplicates = false;
  Severity severity = Severity::kReject;
  std::string what;            // "primary key", "unique index customer_email_key"
  std::string scratch;         // its table in the scratch database
  sqlite::Statement insert;
};

// A foreign key of a target table: its child values are kept, then looked up in the parent's
// KeySet once every table is read.
struct ForeignKeyCheck {
  size_t table = 0;
  std::vector<int> positions;
  std::vector<std::string> columns;
  std::vector<Fold> folds;
  size_t parent = 0;  // into the key sets
  std::string name, ref_table;
  std::string scratch;
  sqlite::Statement insert;
};

std::string Join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

std::string ScratchColumns(size_t n) {
  std::vector<std::string> c;
  for (size_t i = 0; i < n; ++i) c.push_back(fmt::format("v{}", i));
  return Join(c);
}

std::string ScratchMatch(size_t n, std::string_view a, std::string_view b) {
  std::vector<std::string> c;
  for (size_t i = 0; i < n; ++i) c.push_back(fmt::format("{}.v{} = {}.v{}", a, i, b, i));
  return Join(c, " AND ");
}

// The source column that fills target column `target_column` ("" for an added constant).
std::string SourceColumnOf(const mapping::TableMap* map, const std::string& target_column) {
  if (!map) return target_column;
  for (const auto& c : map->columns) {
    if (!c.drop_reason && c.target == target_column) return c.source;
  }
  return target_column;
}

// The zone named in a time zone rule ("from_tz: Europe/Paris (on_gap: reject)",
// "timezone: Europe/Paris ..."), or "Europe/Paris" as a placeholder.
std::string ZoneOfRule(const std::string& rule) {
  for (std::string_view p : {"from_tz: ", "timezone: "}) {
    auto at = rule.find(p);
    if (at == std::string::npos) continue;
    auto start = at + p.size();
    auto end = rule.find_first_of(" ,)}", start);
    return rule.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return "Europe/Paris";
}

std::string YamlScalar(const std::string& s) {
  bool plain = !s.empty() && s.find_first_of(":{}[],&*#?|-<>=!%@`'\" ") == std::string::npos &&
               s != "null" && s != "true" && s != "false";
  if (plain) return s;
  return QuoteDoubling(s, '\'');
}

std::string ZeroOf(const PortableType& t) {
  switch (t.kind) {
    case Kind::kInt:
    case Kind::kFloat:
    case Kind::kDecimal: return "0";
    case Kind::kBool: return "false";
    case Kind::kDate: return "'1970-01-01'";
    case Kind::kTimestamp:
    case Kind::kTimestampTz: return "'1970-01-01 00:00:00'";
    default: return "''";
  }
}

std::string MapOf(const std::set<std::string>& values) {
  std::vector<std::string> parts;
  for (const auto& v : values) parts.push_back(YamlScalar(v) + ": null");
  return "map: {" + Join(parts) + "}, on_unmapped: keep";
}

// Fills each finding's suggestion and advice from what was seen.
void Suggest(Finding& f, const Evidence& e) {
  switch (f.kind) {
    case Problem::kNullViolation:
      f.suggestion = "on_null: default, default: " + ZeroOf(e.type);
      f.advice = "NULL lands in a NOT NULL column: give a default, or make the target column "
                 "nullable";
      break;
    case Problem::kInvalidEncoding:
      f.suggestion = "transform: [{decode: cp1252}]";
      f.advice = "the bytes are not UTF-8: name the encoding they were written in (cp1252, "
                 "latin1, ...)";
      break;
    case Problem::kMojibake:
      if (f.severity == Severity::kReject) {
        f.suggestion = "transform: [{fix_mojibake: keep}]";
        f.advice = "fix_mojibake cannot repair these values unambiguously: keep them as they "
                   "are, or correct them in the source";
      } else {
        f.suggestion = "transform: [fix_mojibake]";
        f.advice = "UTF-8 text that was decoded as cp1252/latin1 and encoded again (Ã© for é): "
                   "repair it while copying";
      }
      break;
    case Problem::kControlCharacter: {
      int c = e.control < 0 ? 0 : e.control;
      f.suggestion = fmt::format("transform: [{{expr: \"replace(?, char({}), '')\"}}]", c);
      f.advice = f.severity == Severity::kReject
                     ? "the target cannot store this character: remove it while copying"
                     : "control characters in text are usually debris of an import: remove them "
                       "while copying, or keep them on purpose";
      break;
    }
    case Problem::kInvalidDate:
      f.suggestion = "zero_date: null";
      f.advice = "zero or impossible dates (0000-00-00, February 30): land them as NULL, or "
                 "as a date you choose (zero_date: '1970-01-01')";
      break;
    case Problem::kDstGap:
      f.suggestion =
          fmt::format("transform: [{{from_tz: {}, on_gap: shift_forward}}]", ZoneOfRule(f.rule));
      f.advice = "these local times do not exist (the clocks jumped forward): shift them past "
                 "the gap";
      break;
    case Problem::kDstFold:
      f.suggestion =
          fmt::format("transform: [{{from_tz: {}, on_fold: earlier}}]", ZoneOfRule(f.rule));
      f.advice = "these local times happen twice (the clocks went back): choose the earlier or "
                 "the later instant";
      break;
    case Problem::kTooLong:
      if (e.type.kind == Kind::kText) {
        f.suggestion = fmt::format("type: varchar({})", e.max_chars);
      } else {
        f.suggestion = "type: bytes";
      }
      f.advice = fmt::format("the longest value has {} characters: widen the target column (or "
                             "use type: text)",
                             e.max_chars);
      break;
    case Problem::kOutOfRange:
      if (e.type.kind == Kind::kInt) {
        f.suggestion = "type: bigint";
        f.advice = "numbers beyond the target integer type: widen it";
      } else if (!e.values.empty()) {
        f.suggestion = MapOf(e.values);
        f.advice = "values the target type cannot hold: map them (here to NULL), or widen the "
                   "target type";
      } else {
        f.advice = "values the target type cannot hold: widen the target type";
      }
      break;
    case Problem::kTypeMismatch:
      f.suggestion = MapOf(e.values);
      f.advice = fmt::format("values that do not read as {}: correct them in the source, map them to "
                             "what they mean (here NULL), or keep them with type: text",
                             e.type.ToString());
      break;
    case Problem::kUnmappedValue:
      f.suggestion = "on_unmapped: keep";
      f.advice = "values missing from the column's map: add them to it, or keep them as they are";
      break;
    case Problem::kDuplicateKey:
      f.advice = f.severity == Severity::kReject
                     ? "rows that collide with an earlier row on this key after the mapping: "
                       "fix the rows, or change the key"
                     : "rows that collide with an earlier row after the mapping: the unique index "
                       "cannot be built; fix the rows, or drop `unique: true` from the index";
      break;
    case Problem::kOrphanReference:
      f.advice = "values with no parent row (or whose parent row would be rejected): load or fix "
                 "the parents, or delete the foreign key from the mapping";
      break;
    default:
      f.advice = "the copy would reject these rows: see the example";
      break;
  }
}

class Assessor {
 public:
  Assessor(const Input& in, Progress& progress, const Options& options)
      : in_(in), progress_(progress), options_(options) {}

  Result<Report> Run();

 private:
  Status OpenScratch();
  Status PlanKeys();
  Status ScanTable(size_t index, TableSummary& summary);
  Status Insert(sqlite::Statement& st, const Row& out, const std::vector<int>& positions,
                const std::vector<Fold>& folds, int64_t ord, const Row* key);
  Status CheckDuplicates(const KeySet& k);
  Status CheckOrphans(const ForeignKeyCheck& fk);
  Result<std::vector<Row>> SampleKeys(const std::string& sql);
  Fold FoldFor(const mapping::TableTransform& t, const std::string& column) const;

  const Input& in_;
  Progress& progress_;
  const Options& options_;
  sqlite::Database scratch_;
  std::vector<KeySet> keys_;
  std::vector<ForeignKeyCheck> fks_;
  Findings findings_;
  int64_t ord_ = 0;
};

Fold Assessor::FoldFor(const mapping::TableTransform& t, const std::string& column) const {
  const TableSchema* ts = mapping::FindTable(in_.target_schema, t.target_table());
  const Column* c = ts ? ts->Find(column) : nullptr;
  if (!c || c->byte_ordered || c->type.kind != Kind::kText) return Fold::kNone;
  if (in_.target.kind() == "mysql") return Fold::kCaseAndTrailingSpace;
  if (in_.target.kind() == "sqlite") return Fold::kCase;
  return Fold::kNone;  // PostgreSQL's deterministic collations compare equal only equal bytes
}

Status Assessor::OpenScratch() {
  std::error_code ec;
  std::filesystem::remove(options_.scratch_path, ec);
  TANDEM_ASSIGN_OR_RETURN(scratch_, sqlite::Database::Open(options_.scratch_path));
  // Scratch data: nothing to keep after a crash, so no journal and no syncs. The page cache
  // bounds memory (64 MB); the rest stays in the file.
  return scratch_.Exec(
      "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE; "
      "PRAGMA cache_size = -65536; BEGIN");
}

// The keys to check: each table's primary key when the mapping could merge two source keys
// into one (a cast such as text -> integer, a case-insensitive target collation, a `key:`
// that is not the source's primary key); every unique index of the planned and of the
// existing target table; and every foreign key whose parent table is mapped too.
Status Assessor::PlanKeys() {
  auto position = [](const mapping::TableTransform& t, const std::string& column) {
    const auto& cols = t.target_columns();
    auto it = std::find(cols.begin(), cols.end(), column);
    return it == cols.end() ? -1 : static_cast<int>(it - cols.begin());
  };
  auto find_or_add = [&](size_t table, const std::vector<std::string>& columns) -> KeySet* {
    for (auto& k : keys_) {
      if (k.table == table && k.columns == columns) return &k;
    }
    const auto& t = in_.tables[table];
    KeySet k;
    k.table = table;
    k.columns = columns;
    for (const auto& c : columns) {
      int p = position(t, c);
      if (p < 0) return nullptr;  // not written by the mapping: every row holds NULL or a default
      k.positions.push_back(p);
      k.folds.push_back(FoldFor(t, c));
    }
    k.scratch = fmt::format("k{}", keys_.size());
    keys_.push_back(std::move(k));
    return &keys_.back();
  };
  for (size_t i = 0; i < in_.tables.size(); ++i) {
    const auto& t = in_.tables[i];
    if (t.keyless()) continue;
    const TableSchema* src = mapping::FindTable(in_.source_schema, t.source_table());
    const TableSchema* tgt = mapping::FindTable(in_.target_schema, t.target_table());
    // The primary key.
    bool may_merge = !src || t.source_key() != src->primary_key;
    for (size_t k = 0; k < t.target_key().size() && !may_merge; ++k) {
      const Column* sc = src->Find(t.source_key()[k]);
      int p = position(t, t.target_key()[k]);
      if (!sc || p < 0 || sc->type.kind != t.target_types()[p].kind ||
          FoldFor(t, t.target_key()[k]) != Fold::kNone) {
        may_merge = true;
      }
    }
    if (may_merge) {
      if (KeySet* k = find_or_add(i, t.target_key())) {
        k->check_duplicates = true;
        k->severity = Severity::kReject;
        k->what = "primary key";
      }
    }
    // Unique indexes: existing ones refuse rows; planned ones are built after the copy.
    auto add_unique = [&](const Index& ix, bool exists) {
      if (!ix.unique || !ix.where.empty()) return;
      std::vector<std::string> cols;
      for (const auto& p : ix.parts) {
        if (!p.expression.empty() || p.prefix_length > 0) return;
        cols.push_back(p.column);
      }
      KeySet* k = find_or_add(i, cols);
      if (!k) return;
      if (k->check_duplicates && k->severity == Severity::kReject) return;
      k->check_duplicates = true;
      k->severity = exists ? Severity::kReject : Severity::kFails;
      k->what = fmt::format("unique index {}", ix.name);
    };
    for (const auto& ix : t.planned_target().indexes) {
      bool exists = false;
      if (tgt) {
        for (const auto& e : tgt->indexes) exists |= e.name == ix.name;
      }
      add_unique(ix, exists);
    }
    if (tgt) {
      for (const auto& ix : tgt->indexes) add_unique(ix, true);
      for (const auto& u : tgt->unique_keys) {
        Index ix;
        ix.unique = true;
        ix.name = Join(u, "_") + " (unique)";
        for (const auto& c : u) ix.parts.push_back({c});
        add_unique(ix, true);
      }
    }
  }
  // Foreign keys (planned and existing), against the mapped parent.
  for (size_t i = 0; i < in_.tables.size(); ++i) {
    const auto& t = in_.tables[i];
    std::vector<ForeignKey> all = t.planned_target().foreign_keys;
    if (const TableSchema* tgt = mapping::FindTable(in_.target_schema, t.target_table())) {
      for (const auto& fk : tgt->foreign_keys) {
        bool dup = false;
        for (const auto& p : all) dup |= p.columns == fk.columns && p.ref_table == fk.ref_table;
        if (!dup) all.push_back(fk);
      }
    }
    for (const auto& fk : all) {
      size_t parent = in_.tables.size();
      for (size_t j = 0; j < in_.tables.size(); ++j) {
        if (in_.tables[j].target_table() == fk.ref_table && !in_.tables[j].keyless()) parent = j;
      }
      if (parent == in_.tables.size()) continue;  // the parent is not copied here
      ForeignKeyCheck c;
      c.table = i;
      c.columns = fk.columns;
      c.name = fk.name.empty() ? fmt::format("{}({})", t.target_table(), Join(fk.columns)) : fk.name;
      c.ref_table = fk.ref_table;
      bool ok = fk.columns.size() == fk.ref_columns.size();
      for (const auto& col : fk.columns) {
        int p = position(t, col);
        ok &= p >= 0;
        c.positions.push_back(p);
        c.folds.push_back(FoldFor(t, col));
      }
      if (!ok) continue;
      size_t before = keys_.size();
      KeySet* k = find_or_add(parent, fk.ref_columns);
      if (!k) continue;
      (void)before;
      c.parent = static_cast<size_t>(k - keys_.data());
      c.scratch = fmt::format("f{}", fks_.size());
      fks_.push_back(std::move(c));
    }
  }
  // Their scratch tables: a key set is one b-tree on its values (then the scan order, which
  // says which row of a duplicate came first); a foreign key's child values are a heap.
  for (auto& k : keys_) {
    std::string cols = ScratchColumns(k.columns.size());
    std::string q = k.check_duplicates
                        ? fmt::format("CREATE TABLE {} ({}, ord INTEGER, k TEXT, PRIMARY KEY ({}, "
                                      "ord)) WITHOUT ROWID",
                                      k.scratch, cols, cols)
                        : fmt::format("CREATE TABLE {} ({}, PRIMARY KEY ({})) WITHOUT ROWID",
                                      k.scratch, cols, cols);
    TANDEM_RETURN_IF_ERROR(scratch_.Exec(q));
    std::vector<std::string> params;
    for (size_t i = 0; i < k.columns.size() + (k.check_duplicates ? 2 : 0); ++i) {
      params.push_back(fmt::format("?{}", i + 1));
    }
    TANDEM_ASSIGN_OR_RETURN(
        k.insert, scratch_.Prepare(fmt::format("INSERT {} INTO {} VALUES ({})",
                                               k.check_duplicates ? "" : "OR IGNORE", k.scratch,
                                               Join(params))));
  }
  for (auto& f : fks_) {
    std::string cols = ScratchColumns(f.columns.size());
    TANDEM_RETURN_IF_ERROR(scratch_.Exec(
        fmt::format("CREATE TABLE {} ({}, ord INTEGER PRIMARY KEY, k TEXT)", f.scratch, cols)));
    std::vector<std::string> params;
    for (size_t i = 0; i < f.columns.size() + 2; ++i) params.push_back(fmt::format("?{}", i + 1));
    TANDEM_ASSIGN_OR_RETURN(f.insert, scratch_.Prepare(fmt::format("INSERT INTO {} VALUES ({})",
                                                                   f.scratch, Join(params))));
  }
  return Ok();
}

// Keeps one row's values of a key set or foreign key; a key with a NULL is skipped (unique
// indexes and foreign keys let NULLs through).
Status Assessor::Insert(sqlite::Statement& st, const Row& out, const std::vector<int>& positions,
                        const std::vector<Fold>& folds, int64_t ord, const Row* key) {
  int p = 1;
  for (size_t i = 0; i < positions.size(); ++i) {
    const Value& v = out[positions[i]];
    if (v.is_null()) return Ok();
    if (folds[i] == Fold::kNone) {
      TANDEM_RETURN_IF_ERROR(st.Bind(p++, v));
    } else {
      TANDEM_RETURN_IF_ERROR(st.Bind(p++, FoldValue(v, folds[i])));
    }
  }
  if (key) {
    TANDEM_RETURN_IF_ERROR(st.Bind(p++, Value::Int(ord)));
    TANDEM_RETURN_IF_ERROR(st.Bind(p++, Value::Text(RowToJson(*key))));
  }
  auto r = st.Step();
  st.Reset();
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Status Assessor::ScanTable(size_t index, TableSummary& summary) {
  const mapping::TableTransform& t = in_.tables[index];
  const mapping::TableMap* map = in_.cfg.FindBySource(t.source_table());
  auto started = Clock::now();
  summary.table = t.source_table();
  summary.target_table = t.target_table();

  // The same key ranges a copy would read (a table whose key does not keep its order across
  // engines is one range there; for reading the source alone any range would do, but one
  // plan keeps the two alike).
  TANDEM_ASSIGN_OR_RETURN(int64_t estimate,
                          in_.source.EstimateRows(t.source_table(), t.source_scan_key()));
  std::vector<KeyRange> ranges{KeyRange{}};
  if (!t.keyless() && t.key_ranges_portable()) {
    int n = static_cast<int>(std::max<int64_t>(1, (estimate + options_.range_rows - 1) / options_.range_rows));
    TANDEM_ASSIGN_OR_RETURN(auto bounds, in_.source.Split(t.source_table(), t.source_key(), n));
    ranges = RangesBetween(bounds);
  }
  progress_.TableStarted(t.source_table(), estimate, static_cast<int>(ranges.size()));

  const auto& targets = t.target_columns();
  const auto& types = t.target_types();
  std::vector<std::string> source_of;
  std::vector<int> source_index;  // of each target column's source value in a source row
  for (const auto& c : targets) {
    source_of.push_back(SourceColumnOf(map, c));
    const auto& sc = t.source_columns();
    auto it = std::find(sc.begin(), sc.end(), source_of.back());
    source_index.push_back(it == sc.end() ? -1 : static_cast<int>(it - sc.begin()));
  }
  std::vector<KeySet*> key_sets;
  std::vector<ForeignKeyCheck*> fk_checks;
  for (auto& k : keys_) {
    if (k.table == index) key_sets.push_back(&k);
  }
  for (auto& f : fks_) {
    if (f.table == index) fk_checks.push_back(&f);
  }
  bool needs_key = !key_sets.empty() || !fk_checks.empty();

  std::vector<Row> batch;
  Row out, key;
  mapping::Refusal why;
  std::string_view engine = in_.target.kind();
  for (const auto& range : ranges) {
    ScanRequest req{t.source_table(), t.source_columns(), t.source_scan_key(), range,
                    options_.batch_rows, /*exclusive=*/true};
    TANDEM_ASSIGN_OR_RETURN(auto reader, in_.source.Scan(req));
    while (reader->Next(batch)) {
      for (const Row& row : batch) {
        ++summary.rows;
        bool have_key = false;
        auto key_of = [&]() -> const Row& {
          if (!have_key) key = t.SourceKey(row), have_key = true;
          return key;
        };
        if (!t.Apply(row, out, why)) {
          Evidence* e = nullptr;
          findings_.Record(t, why.column, why.problem, Severity::kReject, why.rule, why.message,
                           key_of(), &e);
          auto tc = std::find(source_of.begin(), source_of.end(), why.column);
          size_t i = tc == source_of.end() ? 0 : static_cast<size_t>(tc - source_of.begin());
          if (i < types.size()) {
            e->type = types[i];
            e->target_column = targets[i];
          }
          int si = i < source_index.size() ? source_index[i] : -1;
          if (si >= 0) {
            const Value& v = row[si];
            if (v.kind() == Kind::kText && IsValidUtf8(v.as_str())) {
              e->max_chars = std::max(e->max_chars, Utf8Length(v.as_str()));
            } else if (v.kind() == Kind::kBytes) {
              e->max_chars = std::max(e->max_chars, v.as_str().size());
            }
            if (e->values.size() < 5 && !v.is_null()) e->values.insert(v.ToString());
          }
          ++summary.rejected;
          continue;
        }
        // What the target engine refuses beyond the cast, then what lands but looks wrong.
        bool refused = false, flagged = false;
        for (size_t i = 0; i < out.size(); ++i) {
          const Value& v = out[i];
          if (auto err = in_.target.ValueRefusal(v, types[i])) {
            Evidence* e = nullptr;
            findings_.Record(t, source_of[i], err->problem, Severity::kReject,
                             fmt::format("{} column {}.{} ({})", engine, t.target_table(),
                                         targets[i], types[i].ToString()),
                             fmt::format("{}: {}", source_of[i], err->message), key_of(), &e);
            e->type = types[i];
            e->target_column = targets[i];
            if (e->values.size() < 5) e->values.insert(v.ToString());
            if (err->problem == Problem::kControlCharacter) {
              if (auto at = FindControlCharacter(v.as_str()); at && e->control < 0) {
                e->control = static_cast<unsigned char>(v.as_str()[*at]);
              }
            }
            refused = true;
            break;
          }
          if (v.kind() != Kind::kText) continue;
          const std::string& s = v.as_str();
          if (auto at = FindControlCharacter(s)) {
            Evidence* e = nullptr;
            int c = static_cast<unsigned char>(s[*at]);
            findings_.Record(t, source_of[i], Problem::kControlCharacter, Severity::kWarning,
                             fmt::format("text into {}.{}", t.target_table(), targets[i]),
                             fmt::format("{}: control character 0x{:02X} at character {} of {}",
                                         source_of[i], c, Utf8Length(s.substr(0, *at)) + 1,
                                         v.ToDisplay().substr(0, 60)),
                             key_of(), &e);
            if (e->control < 0) e->control = c;
            flagged = true;
          }
          if (LooksLikeMojibake(s)) {
            findings_.Record(t, source_of[i], Problem::kMojibake, Severity::kWarning,
                             fmt::format("text into {}.{}", t.target_table(), targets[i]),
                             fmt::format("{}: {} looks like UTF-8 read as cp1252{}", source_of[i],
                                         v.ToDisplay().substr(0, 60),
                                         RepairMojibake(s) ? fmt::format(" (repaired: '{}')", *RepairMojibake(s)) : ""),
                             key_of());
            flagged = true;
          }
        }
        if (refused) {
          ++summary.rejected;
          continue;
        }
        summary.flagged += flagged;
        if (!needs_key) continue;
        ++ord_;
        for (KeySet* k : key_sets) {
          TANDEM_RETURN_IF_ERROR(Insert(k->insert, out, k->positions, k->folds, ord_,
                                        k->check_duplicates ? &key_of() : nullptr));
        }
        for (ForeignKeyCheck* f : fk_checks) {
          TANDEM_RETURN_IF_ERROR(Insert(f->insert, out, f->positions, f->folds, ord_, &key_of()));
        }
      }
      progress_.Advanced(t.source_table(), summary.rows, summary.rejected);
    }
    TANDEM_RETURN_IF_ERROR(reader->status());
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  progress_.TableFinished(summary);
  return Ok();
}

Result<std::vector<Row>> Assessor::SampleKeys(const std::string& sql) {
  TANDEM_ASSIGN_OR_RETURN(auto rows, scratch_.Query(sql));
  std::vector<Row> keys;
  for (const auto& r : rows) {
    if (auto k = RowFromJson(r[0].as_str())) keys.push_back(std::move(*k));
  }
  return keys;
}

Status Assessor::CheckDuplicates(const KeySet& k) {
  size_t n = k.columns.size();
  std::string cols = ScratchColumns(n);
  TANDEM_ASSIGN_OR_RETURN(
      auto totals, scratch_.Query(fmt::format("SELECT coalesce(sum(c - 1), 0), count(*) FROM "
                                              "(SELECT count(*) AS c FROM {} GROUP BY {} HAVING "
                                              "count(*) > 1)",
                                              k.scratch, cols)));
  int64_t rows = totals[0][0].as_int(), values = totals[0][1].as_int();
  if (rows == 0) return Ok();
  const auto& t = in_.tables[k.table];
  TANDEM_ASSIGN_OR_RETURN(
      auto samples,
      SampleKeys(fmt::format("SELECT a.k FROM {0} a WHERE EXISTS (SELECT 1 FROM {0} b WHERE {1} "
                             "AND b.ord < a.ord) ORDER BY a.ord LIMIT {2}",
                             k.scratch, ScratchMatch(n, "b", "a"), kSampleKeys)));
  Finding f;
  f.table = t.source_table();
  f.target_table = t.target_table();
  std::vector<std::string> source_cols;
  const mapping::TableMap* map = in_.cfg.FindBySource(t.source_table());
  for (const auto& c : k.columns) source_cols.push_back(SourceColumnOf(map, c));
  f.column = Join(source_cols);
  f.kind = Problem::kDuplicateKey;
  f.severity = k.severity;
  f.count = rows;
  f.sample_keys = std::move(samples);
  bool folded = false;
  for (auto fo : k.folds) folded |= fo != Fold::kNone;
  f.rule = fmt::format("{} ({}) of {}{}", k.what, Join(k.columns), t.target_table(),
                       folded ? ", compared by the target's case-insensitive collation" : "");
  f.example = fmt::format("{} row(s) share {} value(s) of ({}) with an earlier row, after the "
                          "mapping",
                          rows, values, Join(k.columns));
  Suggest(f, Evidence{});
  findings_.all().push_back(std::move(f));
  findings_.evidence().emplace_back();
  return Ok();
}

Status Assessor::CheckOrphans(const ForeignKeyCheck& fk) {
  const KeySet& parent = keys_[fk.parent];
  size_t n = fk.columns.size();
  std::string orphan = fmt::format("FROM {0} f WHERE NOT EXISTS (SELECT 1 FROM {1} p WHERE {2})",
                                   fk.scratch, parent.scratch, ScratchMatch(n, "p", "f"));
  TANDEM_ASSIGN_OR_RETURN(auto total, scratch_.Query("SELECT count(*) " + orphan));
  int64_t rows = total[0][0].as_int();
  if (rows == 0) return Ok();
  TANDEM_ASSIGN_OR_RETURN(auto samples, SampleKeys(fmt::format("SELECT f.k {} ORDER BY f.ord "
                                                               "LIMIT {}",
                                                               orphan, kSampleKeys)));
  const auto& t = in_.tables[fk.table];
  const mapping::TableMap* map = in_.cfg.FindBySource(t.source_table());
  std::vector<std::string> source_cols;
  for (const auto& c : fk.columns) source_cols.push_back(SourceColumnOf(map, c));
  Finding f;
  f.table = t.source_table();
  f.target_table = t.target_table();
  f.column = Join(source_cols);
  f.kind = Problem::kOrphanReference;
  f.severity = Severity::kFails;
  f.count = rows;
  f.sample_keys = std::move(samples);
  f.rule = fmt::format("foreign key {} ({}) -> {} ({})", fk.name, Join(fk.columns), fk.ref_table,
                       Join(parent.columns));
  f.example = fmt::format("{} row(s) of {} reference a {} row that the copy would not land",
                          rows, t.target_table(), fk.ref_table);
  Suggest(f, Evidence{});
  findings_.all().push_back(std::move(f));
  findings_.evidence().emplace_back();
  return Ok();
}

Result<Report> Assessor::Run() {
  auto started = Clock::now();
  Report report;
  report.source = RedactUri(in_.cfg.source);
  report.target = RedactUri(in_.cfg.target);
  TANDEM_RETURN_IF_ERROR(OpenScratch());
  TANDEM_RETURN_IF_ERROR(PlanKeys());
  for (size_t i = 0; i < in_.tables.size(); ++i) {
    TableSummary summary;
    if (auto st = ScanTable(i, summary); !st) {
      return std::unexpected(st.error().Context(fmt::format("assess {}", in_.tables[i].source_table())));
    }
    report.tables.push_back(std::move(summary));
  }
  for (size_t i = 0; i < findings_.all().size(); ++i) Suggest(findings_.all()[i], findings_.evidence()[i]);
  for (const auto& k : keys_) {
    if (!k.check_duplicates) continue;
    size_t before = findings_.all().size();
    if (auto st = CheckDuplicates(k); !st) {
      return std::unexpected(st.error().Context(fmt::format("assess {}: duplicate keys", in_.tables[k.table].source_table())));
    }
    // Rows colliding on a key the target enforces while rows arrive are rejects of the copy.
    if (findings_.all().size() > before && k.severity == Severity::kReject) {
      report.tables[k.table].rejected += findings_.all().back().count;
    }
  }
  for (const auto& f : fks_) {
    if (auto st = CheckOrphans(f); !st) {
      return std::unexpected(st.error().Context(fmt::format("assess {}: foreign key {}", in_.tables[f.table].source_table(), f.name)));
    }
  }
  report.findings = std::move(findings_.all());
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < in_.tables.size(); ++i) order[in_.tables[i].source_table()] = i;
  std::stable_sort(report.findings.begin(), report.findings.end(),
                   [&](const Finding& a, const Finding& b) {
                     if (a.severity != b.severity) return a.severity < b.severity;
                     if (a.table != b.table) return order[a.table] < order[b.table];
                     return a.count > b.count;
                   });
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

}  // namespace

Result<Report> Assess(const Input& in, Progress& progress, const Options& options) {
  // The Assessor (and its scratch connection) is gone before its file is removed.
  Result<Report> r = [&] {
    Assessor a(in, progress, options);
    return a.Run();
  }();
  std::error_code ec;
  std::filesystem::remove(options.scratch_path, ec);
  std::filesystem::remove(options.scratch_path + "-wal", ec);
  std::filesystem::remove(options.scratch_path + "-shm", ec);
  return r;
}

}  // namespace tandem::assess
