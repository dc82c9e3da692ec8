#include "assess/assess.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <thread>

#include <xxhash.h>

#include "assess/key_spill.h"
#include "core/encoding.h"
#include "core/text.h"

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
  static constexpr size_t kValues = 5;
  size_t max_chars = 0;                 // too_long: the longest value, in characters
  // type_mismatch, out_of_range: the first few distinct offending values, in scan order.
  std::vector<std::string> values;
  int control = -1;                     // control_character: the first control byte seen
  PortableType type;                    // the target column's type
  std::string target_column;

  void Note(std::string value) {
    if (values.size() < kValues && std::find(values.begin(), values.end(), value) == values.end()) {
      values.push_back(std::move(value));
    }
  }
  // What `later` saw after this, as if one scan had seen both in turn.
  void Merge(const Evidence& later) {
    max_chars = std::max(max_chars, later.max_chars);
    for (const auto& v : later.values) Note(v);
    if (control < 0) control = later.control;
    if (target_column.empty()) {
      type = later.type;
      target_column = later.target_column;
    }
  }
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

  // Adds what a scan of later rows found (a later key range): counts add up, samples and
  // evidence go on from where these stop, so ranges scanned apart and merged in key order
  // give what one scan in key order gives.
  void Merge(Findings&& later) {
    for (size_t i = 0; i < later.all_.size(); ++i) {
      Finding& lf = later.all_[i];
      auto id = std::make_tuple(lf.table, lf.column, lf.kind, lf.severity);
      auto [it, fresh] = index_.try_emplace(id, all_.size());
      if (fresh) {
        all_.push_back(std::move(lf));
        evidence_.push_back(std::move(later.evidence_[i]));
        continue;
      }
      Finding& f = all_[it->second];
      f.count += lf.count;
      for (auto& k : lf.sample_keys) {
        if (f.sample_keys.size() < kSampleKeys) f.sample_keys.push_back(std::move(k));
      }
      evidence_[it->second].Merge(later.evidence_[i]);
    }
  }

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

constexpr size_t kNotCopied = static_cast<size_t>(-1);

// A row's place: the key range it was read in (numbered across the run in scan order: its
// segment) and its offset in the key log of the job that read that range. Places order rows
// as one scan in key order would have read them, at any --jobs.
constexpr int kOffsetBits = 40;  // 1 TB of key log a job; 16 million key ranges a run

Result<uint64_t> PlaceOf(uint64_t segment, uint64_t offset) {
  if (segment >> (64 - kOffsetBits) || offset >> kOffsetBits) {
    return Fail(Code::kFailedPrecondition, "assess: more key ranges ({}) or key log ({} bytes) "
                "than a run can number; assess fewer tables at a time",
                segment, offset);
  }
  return segment << kOffsetBits | offset;
}

// A set of mapped target columns whose values are kept (as hashes, key_spill.h): a primary or
// unique key to check for duplicates, and/or the columns a foreign key references.
struct KeySet {
  size_t table = 0;            // into Input::tables; kNotCopied: `existing` names the table
  const TableSchema* existing = nullptr;  // a target table the mapping does not copy into
  std::vector<int> positions;  // into the table's target_columns()
  std::vector<std::string> columns;  // target names
  std::vector<Fold> folds;
  bool check_duplicates = false;
  Severity severity = Severity::kReject;
  std::string what;            // "primary key", "unique index customer_email_key"
  std::vector<PortableType> types;
  std::unique_ptr<KeySpill> spill;
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
  std::vector<PortableType> types;
  std::unique_ptr<KeySpill> spill;
};

std::string Join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

// The hash of one row's values at `positions` as the target's index compares them (folded
// text; -0 and 0 alike, one NaN; unbounded decimals without trailing zeros), or nothing when one
// is NULL (unique indexes and foreign keys let NULLs through). `buf` is scratch space.
std::optional<KeyHash> HashKey(const Row& out, const std::vector<int>& positions,
                               const std::vector<Fold>& folds,
                               const std::vector<PortableType>& types, std::string& buf) {
  // The common key of one integer or one text column is hashed in place (seeded by its kind,
  // so 5 and '5' still differ); single- and several-column keys are never compared.
  if (positions.size() == 1) {
    const Value& v = out[positions[0]];
    auto seeded = [&](const void* data, size_t n) {
      XXH128_hash_t h = XXH3_128bits_withSeed(data, n, static_cast<uint64_t>(v.kind()) + 1);
      return KeyHash{h.high64, h.low64};
    };
    if (v.kind() == Kind::kInt) {
      int64_t i = v.as_int();
      return seeded(&i, sizeof i);
    }
    if ((v.kind() == Kind::kText && folds[0] == Fold::kNone) || v.kind() == Kind::kBytes) {
      return seeded(v.as_str().data(), v.as_str().size());
    }
  }
  buf.clear();
  for (size_t i = 0; i < positions.size(); ++i) {
    const Value& v = out[positions[i]];
    switch (v.kind()) {
      case Kind::kNull: return std::nullopt;
      case Kind::kText:
        if (folds[i] != Fold::kNone) {
          AppendKeyBytes(FoldValue(v, folds[i]), buf);
          continue;
        }
        break;
      case Kind::kFloat: {
        double d = v.as_float();
        if (d == 0) d = 0;                                       // -0.0
        if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
        AppendKeyBytes(Value::Float(d), buf);
        continue;
      }
      case Kind::kDecimal:
        if (types[i].scale < 0) {
          AppendKeyBytes(Value::Decimal(StripDecimalZeros(v.as_str())), buf);
          continue;
        }
        break;
      default: break;
    }
    AppendKeyBytes(v, buf);
  }
  XXH128_hash_t h = XXH3_128bits(buf.data(), buf.size());
  return KeyHash{h.high64, h.low64};
}

// Keeps the `n` smallest places offered (the first rows found, in scan order).
class FirstPlaces {
 public:
  explicit FirstPlaces(size_t n) : n_(n) {}
  void Merge(FirstPlaces&& other) {
    for (uint64_t place : other.Sorted()) Offer(place);
  }
  void Offer(uint64_t place) {
    if (heap_.size() < n_) {
      heap_.push(place);
    } else if (n_ > 0 && place < heap_.top()) {
      heap_.pop();
      heap_.push(place);
    }
  }
  std::vector<uint64_t> Sorted() {
    std::vector<uint64_t> out;
    for (; !heap_.empty(); heap_.pop()) out.push_back(heap_.top());
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  size_t n_;
  std::priority_queue<uint64_t> heap_;
};

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

std::string MapOf(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
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
      if (f.severity == Severity::kWarning) {
        f.advice = "these local times do not exist (the clocks jumped forward); on_gap: "
                   "shift_forward moves them past the gap, as the mapping says: nothing to do "
                   "if that is meant (on_gap: reject keeps them out instead)";
        break;
      }
      f.suggestion =
          fmt::format("transform: [{{from_tz: {}, on_gap: shift_forward}}]", ZoneOfRule(f.rule));
      f.advice = "these local times do not exist (the clocks jumped forward): shift them past "
                 "the gap";
      break;
    case Problem::kDstFold:
      if (f.severity == Severity::kWarning) {
        f.advice = "these local times happen twice (the clocks went back); the mapping's on_fold "
                   "chose one of the two instants: nothing to do if that is meant";
        break;
      }
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
  // What ScanTable works out for a table, shared (read only) by the jobs scanning its ranges.
  struct TablePlan {
    const mapping::TableTransform& t;
    std::vector<std::string> source_of;  // the source column of each target column
    std::vector<int> source_index;       // of each target column's source value in a source row
    std::vector<KeySet*> key_sets;
    std::vector<ForeignKeyCheck*> fk_checks;
    bool needs_key = false, needs_place = false;
  };
  // A batch read and mapped: `outs[i]` is row i mapped when `ok[i]`, else `whys[i]` says why
  // not (for i below rows.size(); the three may be longer). Rows are mapped in slices claimed
  // through `claimed`, by the reading side and by the checking side once it has nothing else
  // to do; `read` turns 1 when `rows` holds the batch (2 when the range is exhausted).
  struct Mapped {
    std::vector<Row> rows, outs;
    std::vector<mapping::Refusal> whys;
    std::vector<char> ok;
    std::atomic<size_t> claimed{0};
    std::atomic<int> read{0};
  };
  // A job: its connection and key log, and its batches, kept from range to range and table to
  // table (rows read into them reuse their Values' buffers; a fresh pair of batches a range
  // would allocate every row of them again).
  struct Job {
    std::unique_ptr<Engine> source;  // jobs 1, 2, ...; job 0 reads through Input::source
    std::unique_ptr<KeyLog> log;
    Mapped batch, next;
    std::vector<Row> spare;  // ScanRequest::spare_rows of its scans
    Row key;
    std::string hash_buf;
    // A batch's key hashes (by key set: TablePlan::key_sets, then fk_checks), added to the
    // spills under the lock once the batch is checked.
    std::vector<std::pair<size_t, KeySpill::Entry>> spilled;
  };
  // What the scan of one key range found.
  struct RangeResult {
    Findings findings;
    int64_t rows = 0, rejected = 0, flagged = 0;
  };
  Status ScanTable(size_t index, TableSummary& summary);
  // Jobs 1 .. jobs-1 get a source connection (job 0 reads through Input::source) and every job
  // a key log, once.
  Status OpenJobs(int jobs);
  Engine& SourceOf(Job& job) { return job.source ? *job.source : in_.source; }
  // Scans one key range as job `job` of `jobs`.
  Status ScanRange(const TablePlan& plan, int job, int jobs, const KeyRange& range,
                   uint64_t segment, RangeResult& result, const std::atomic<bool>& failed);
  Status CheckDuplicates(const KeySet& k);
  Status CheckOrphans(const ForeignKeyCheck& fk);
  Result<std::vector<Row>> SampleKeys(std::vector<uint64_t> places);
  Fold FoldFor(const mapping::TableTransform& t, const std::string& column) const;
  Fold FoldOf(const Column* c) const;
  Status ScanExisting(KeySet& k);

  const Input& in_;
  Progress& progress_;
  const Options& options_;
  std::vector<std::unique_ptr<Job>> jobs_;
  std::vector<int> segment_job_;  // the job that scanned each segment (key range of the run)
  std::mutex mu_;                 // the key spills and progress_, while jobs scan
  int64_t rows_done_ = 0, rejected_done_ = 0;  // of the table being scanned (under mu_)
  std::vector<KeySet> keys_;
  std::vector<ForeignKeyCheck> fks_;
  Findings findings_;
  KeptMemory kept_{options_.kept_key_bytes};
};

Fold Assessor::FoldFor(const mapping::TableTransform& t, const std::string& column) const {
  const TableSchema* ts = mapping::FindTable(in_.target_schema, t.target_table());
  return FoldOf(ts ? ts->Find(column) : nullptr);
}

Fold Assessor::FoldOf(const Column* c) const {
  if (!c || c->byte_ordered || c->type.kind != Kind::kText) return Fold::kNone;
  if (in_.target.kind() == "mysql") return Fold::kCaseAndTrailingSpace;
  if (in_.target.kind() == "sqlite") return Fold::kCase;
  return Fold::kNone;  // PostgreSQL's deterministic collations compare equal only equal bytes
}

// The scratch directory holds the key log and every key set's spill files.
Status Assessor::OpenScratch() {
  std::error_code ec;
  std::filesystem::remove_all(options_.scratch_path, ec);
  if (!std::filesystem::create_directories(options_.scratch_path, ec) || ec) {
    return Fail(Code::kFailedPrecondition, "assess: cannot create the scratch directory {}: {}",
                options_.scratch_path, ec.message());
  }
  return OpenJobs(1);
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
      k.types.push_back(t.target_types()[p]);
    }
    keys_.push_back(std::move(k));
    return &keys_.back();
  };
  auto find_or_add_existing = [&](const TableSchema& table,
                                  const std::vector<std::string>& columns) -> KeySet* {
    for (auto& k : keys_) {
      if (k.existing == &table && k.columns == columns) return &k;
    }
    KeySet k;
    k.table = kNotCopied;
    k.existing = &table;
    k.columns = columns;
    for (size_t i = 0; i < columns.size(); ++i) {
      const Column* c = table.Find(columns[i]);
      if (!c) return nullptr;
      k.positions.push_back(static_cast<int>(i));  // the scan reads exactly these columns
      k.folds.push_back(FoldOf(c));
      k.types.push_back(c->type);
    }
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
      bool copied = false;
      for (size_t j = 0; j < in_.tables.size(); ++j) {
        copied |= in_.tables[j].target_table() == fk.ref_table;
        if (in_.tables[j].target_table() == fk.ref_table && !in_.tables[j].keyless()) parent = j;
      }
      // A parent the mapping does not copy into but the target already holds: the children
      // are checked against its rows as they are.
      const TableSchema* existing =
          copied ? nullptr : mapping::FindTable(in_.target_schema, fk.ref_table);
      if (parent == in_.tables.size() && !existing) continue;
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
        if (p >= 0) c.types.push_back(t.target_types()[p]);
      }
      if (!ok) continue;
      KeySet* k = existing ? find_or_add_existing(*existing, fk.ref_columns)
                           : find_or_add(parent, fk.ref_columns);
      if (!k) continue;
      c.parent = static_cast<size_t>(k - keys_.data());
      fks_.push_back(std::move(c));
    }
  }
  for (size_t i = 0; i < keys_.size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(keys_[i].spill,
                            KeySpill::Create(fmt::format("{}/k{}", options_.scratch_path, i),
                                             &kept_));
  }
  for (size_t i = 0; i < fks_.size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(fks_[i].spill,
                            KeySpill::Create(fmt::format("{}/f{}", options_.scratch_path, i),
                                             &kept_));
  }
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
  // plan keeps the two alike). With several jobs, at least two ranges a job and a multiple of
  // the jobs, so that the jobs finish about together (five ranges of 200,000 rows on two jobs
  // left one job idle through the fifth: 0.14 s of 0.76, measured).
  TablePlan plan{t, {}, {}, {}, {}};
  TANDEM_ASSIGN_OR_RETURN(int64_t estimate,
                          in_.source.EstimateRows(t.source_table(), t.source_scan_key()));
  std::vector<KeyRange> ranges{KeyRange{}};
  if (!t.keyless() && t.key_ranges_portable()) {
    int64_t n = std::max<int64_t>(1, (estimate + options_.range_rows - 1) / options_.range_rows);
    int64_t per_job = 2LL * std::max(1, options_.jobs);
    if (options_.jobs > 1 && estimate > per_job * static_cast<int64_t>(options_.batch_rows)) {
      n = std::max(n, per_job);
      n = (n + options_.jobs - 1) / options_.jobs * options_.jobs;
    }
    TANDEM_ASSIGN_OR_RETURN(auto bounds,
                            in_.source.Split(t.source_table(), t.source_key(), static_cast<int>(n)));
    ranges = RangesBetween(bounds);
  }
  progress_.TableStarted(t.source_table(), estimate, static_cast<int>(ranges.size()));

  for (const auto& c : t.target_columns()) {
    plan.source_of.push_back(SourceColumnOf(map, c));
    const auto& sc = t.source_columns();
    auto it = std::find(sc.begin(), sc.end(), plan.source_of.back());
    plan.source_index.push_back(it == sc.end() ? -1 : static_cast<int>(it - sc.begin()));
  }
  for (auto& k : keys_) {
    if (k.table == index) plan.key_sets.push_back(&k);
  }
  for (auto& f : fks_) {
    if (f.table == index) plan.fk_checks.push_back(&f);
  }
  plan.needs_key = !plan.key_sets.empty() || !plan.fk_checks.empty();
  // A row's source key is logged when a finding about duplicates or orphans may name it.
  plan.needs_place = !plan.fk_checks.empty();
  for (KeySet* k : plan.key_sets) plan.needs_place |= k->check_duplicates;

  // The jobs take ranges in key order, each with its own source connection and key log; what
  // each range found is merged in key order afterwards, so the report is the same at any
  // --jobs. Segments (key ranges numbered across the run) say whose key log holds a row.
  int jobs = static_cast<int>(std::min<size_t>(std::max(1, options_.jobs), ranges.size()));
  TANDEM_RETURN_IF_ERROR(OpenJobs(jobs));
  uint64_t first_segment = segment_job_.size();
  segment_job_.resize(first_segment + ranges.size());
  std::vector<RangeResult> results(ranges.size());
  std::vector<Status> status(jobs);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  rows_done_ = 0;
  rejected_done_ = 0;
  auto job = [&](int j) {
    for (size_t r; !failed && (r = next.fetch_add(1)) < ranges.size();) {
      segment_job_[first_segment + r] = j;
      status[j] = ScanRange(plan, j, jobs, ranges[r], first_segment + r, results[r], failed);
      if (!status[j]) {
        failed = true;
        return;
      }
    }
  };
  {
    std::vector<std::jthread> helpers;
    for (int j = 1; j < jobs; ++j) helpers.emplace_back(job, j);
    job(0);
  }
  for (const auto& st : status) TANDEM_RETURN_IF_ERROR(st);
  for (auto& r : results) {
    findings_.Merge(std::move(r.findings));
    summary.rows += r.rows;
    summary.rejected += r.rejected;
    summary.flagged += r.flagged;
  }
  for (KeySet* k : plan.key_sets) TANDEM_RETURN_IF_ERROR(k->spill->Flush());
  for (ForeignKeyCheck* f : plan.fk_checks) TANDEM_RETURN_IF_ERROR(f->spill->Flush());
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  progress_.TableFinished(summary);
  return Ok();
}

Status Assessor::OpenJobs(int jobs) {
  while (static_cast<int>(jobs_.size()) < jobs) {
    auto j = std::make_unique<Job>();
    if (!jobs_.empty()) {
      if (!options_.open_source) return Fail(Code::kInternal, "assess: no way to open a job's source");
      TANDEM_ASSIGN_OR_RETURN(j->source, options_.open_source());
    }
    // Every row is read once: a page cache only costs memory and page faults. SQLite's
    // smallest, 2 MB (measured: 30 MB less resident memory a connection than 32 MB).
    TANDEM_RETURN_IF_ERROR(SourceOf(*j).LimitCache(0));
    TANDEM_ASSIGN_OR_RETURN(j->log, KeyLog::Create(fmt::format("{}/keys.{}", options_.scratch_path,
                                                               jobs_.size())));
    jobs_.push_back(std::move(j));
  }
  return Ok();
}

Status Assessor::ScanRange(const TablePlan& plan, int job, int jobs, const KeyRange& range,
                           uint64_t segment, RangeResult& result, const std::atomic<bool>& failed) {
  const mapping::TableTransform& t = plan.t;
  const auto& targets = t.target_columns();
  const auto& types = t.target_types();

  Job& state = *jobs_[job];
  Engine& source = SourceOf(state);
  KeyLog& log = *state.log;
  Mapped& batch = state.batch;
  Mapped& next = state.next;
  Row& key = state.key;
  std::string& hash_buf = state.hash_buf;
  auto& spilled = state.spilled;
  std::string_view engine = in_.target.kind();
  ScanRequest req{t.source_table(), t.source_columns(), t.source_scan_key(), range,
                  options_.batch_rows, /*exclusive=*/true};
  req.spare_rows = &state.spare;
  TANDEM_ASSIGN_OR_RETURN(auto reader, source.Scan(req));
  // The next batch is read and mapped while this one is checked, and the checking side helps
  // map it once its own batch is done: reading, mapping and checking then share the cores
  // whatever their proportions. (Apply is const and may run on several threads: expressions
  // serialize on their own lock, iconv descriptors are per thread.) An early return waits
  // for the reading side: the future of std::async joins in its destructor, before `reader`
  // goes.
  auto map_rows = [&](Mapped& m) {
    constexpr size_t kSlice = 256;
    size_t n = m.rows.size();
    for (size_t i; (i = m.claimed.fetch_add(kSlice)) < n;) {
      for (size_t j = i; j < std::min(n, i + kSlice); ++j) {
        m.ok[j] = t.Apply(m.rows[j], m.outs[j], m.whys[j]);
      }
    }
  };
  auto read_and_map = [&](Mapped& m) {
    m.claimed = 0;
    bool got = reader->Next(m.rows);
    if (got) {
      size_t n = m.rows.size();
      // Grown, never shrunk: a short batch (a range's last, or one cut by bytes) leaves the
      // mapped rows past it, buffers and all, for the next batch.
      if (m.outs.size() < n) {
        m.outs.resize(n);
        m.whys.resize(n);
        m.ok.resize(n);
      }
    }
    m.read = got ? 1 : 2;
    m.read.notify_one();
    if (got) map_rows(m);
    return got;
  };
  // With one job the next batch is read and mapped on a thread of its own; with more, the
  // jobs already keep the cores busy, and each job reads, maps and checks on its one thread
  // (threads handing rows to each other made more work than they saved: the allocator's locks).
  bool overlap = jobs == 1;
  bool more = read_and_map(batch);
  while (more && !failed) {
    next.read = 0;
    std::future<bool> ahead;
    if (overlap) ahead = std::async(std::launch::async, [&] { return read_and_map(next); });
    int64_t rejected_before = result.rejected;
    spilled.clear();
    for (size_t r = 0; r < batch.rows.size(); ++r) {
      const Row& row = batch.rows[r];
      const Row& out = batch.outs[r];
      ++result.rows;
      bool have_key = false;
      auto key_of = [&]() -> const Row& {
        if (!have_key) t.SourceKeyInto(row, key), have_key = true;
        return key;
      };
      if (!batch.ok[r]) {
        const mapping::Refusal& why = batch.whys[r];
        Evidence* e = nullptr;
        result.findings.Record(t, why.column, why.problem, Severity::kReject, why.rule, why.message,
                               key_of(), &e);
        auto tc = std::find(plan.source_of.begin(), plan.source_of.end(), why.column);
        size_t i = tc == plan.source_of.end() ? 0 : static_cast<size_t>(tc - plan.source_of.begin());
        if (i < types.size()) {
          e->type = types[i];
          e->target_column = targets[i];
        }
        int si = i < plan.source_index.size() ? plan.source_index[i] : -1;
        if (si >= 0) {
          const Value& v = row[si];
          if (v.kind() == Kind::kText && IsValidUtf8(v.as_str())) {
            e->max_chars = std::max(e->max_chars, Utf8Length(v.as_str()));
          } else if (v.kind() == Kind::kBytes) {
            e->max_chars = std::max(e->max_chars, v.as_str().size());
          }
          if (!v.is_null() && e->values.size() < Evidence::kValues) e->Note(v.ToString());
        }
        ++result.rejected;
        continue;
      }
      // What the target engine refuses beyond the cast, then what lands but looks wrong.
      bool refused = false, flagged = false;
      // Values a stated policy changed (a DST gap shifted, a fold resolved): they land, as
      // the user chose; the report says how many and which.
      for (const auto& note : batch.whys[r].notes) {
        result.findings.Record(t, note.column, note.problem, Severity::kWarning, note.rule,
                               note.message, key_of());
        flagged = true;
      }
      for (size_t i = 0; i < out.size(); ++i) {
        const Value& v = out[i];
        if (auto err = in_.target.ValueRefusal(v, types[i])) {
          Evidence* e = nullptr;
          result.findings.Record(t, plan.source_of[i], err->problem, Severity::kReject,
                                 fmt::format("{} column {}.{} ({})", engine, t.target_table(),
                                             targets[i], types[i].ToString()),
                                 fmt::format("{}: {}", plan.source_of[i], err->message), key_of(), &e);
          e->type = types[i];
          e->target_column = targets[i];
          if (e->values.size() < Evidence::kValues) e->Note(v.ToString());
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
        if (IsPlainAscii(s)) continue;  // most text: one pass instead of the two below
        if (auto at = FindControlCharacter(s)) {
          Evidence* e = nullptr;
          int c = static_cast<unsigned char>(s[*at]);
          result.findings.Record(t, plan.source_of[i], Problem::kControlCharacter, Severity::kWarning,
                                 fmt::format("text into {}.{}", t.target_table(), targets[i]),
                                 fmt::format("{}: control character 0x{:02X} at character {} of {}",
                                             plan.source_of[i], c, Utf8Length(s.substr(0, *at)) + 1,
                                             v.ToDisplay().substr(0, 60)),
                                 key_of(), &e);
          if (e->control < 0) e->control = c;
          flagged = true;
        }
        if (LooksLikeMojibake(s)) {
          result.findings.Record(t, plan.source_of[i], Problem::kMojibake, Severity::kWarning,
                                 fmt::format("text into {}.{}", t.target_table(), targets[i]),
                                 fmt::format("{}: {} looks like UTF-8 read as cp1252{}", plan.source_of[i],
                                             v.ToDisplay().substr(0, 60),
                                             RepairMojibake(s) ? fmt::format(" (repaired: '{}')", *RepairMojibake(s)) : ""),
                                 key_of());
          flagged = true;
        }
      }
      if (refused) {
        ++result.rejected;
        continue;
      }
      result.flagged += flagged;
      if (!plan.needs_key) continue;
      uint64_t place = 0;
      if (plan.needs_place) {
        TANDEM_ASSIGN_OR_RETURN(uint64_t offset, log.Append(row, t.source_key_positions()));
        TANDEM_ASSIGN_OR_RETURN(place, PlaceOf(segment, offset));
      }
      for (size_t k = 0; k < plan.key_sets.size(); ++k) {
        const KeySet& ks = *plan.key_sets[k];
        if (auto h = HashKey(out, ks.positions, ks.folds, ks.types, hash_buf)) {
          spilled.push_back({k, {*h, place}});
        }
      }
      for (size_t k = 0; k < plan.fk_checks.size(); ++k) {
        const ForeignKeyCheck& f = *plan.fk_checks[k];
        if (auto h = HashKey(out, f.positions, f.folds, f.types, hash_buf)) {
          spilled.push_back({plan.key_sets.size() + k, {*h, place}});
        }
      }
    }
    {
      std::lock_guard lock(mu_);
      for (const auto& [k, e] : spilled) {
        KeySpill& spill = k < plan.key_sets.size()
                              ? *plan.key_sets[k]->spill
                              : *plan.fk_checks[k - plan.key_sets.size()]->spill;
        TANDEM_RETURN_IF_ERROR(spill.Add(e.hash, e.place));
      }
      rows_done_ += static_cast<int64_t>(batch.rows.size());
      rejected_done_ += result.rejected - rejected_before;
      progress_.Advanced(t.source_table(), rows_done_, rejected_done_);
    }
    if (overlap) {
      next.read.wait(0);
      if (next.read == 1) map_rows(next);
      more = ahead.get();
    } else {
      more = read_and_map(next);
    }
    std::swap(batch.rows, next.rows);
    std::swap(batch.outs, next.outs);
    std::swap(batch.whys, next.whys);
    std::swap(batch.ok, next.ok);
  }
  return reader->status();
}

// Keeps the key values of a target table that the mapping does not copy into, read from the
// target as it is.
Status Assessor::ScanExisting(KeySet& k) {
  ScanRequest req{k.existing->name, k.columns, k.columns, KeyRange{}, options_.batch_rows,
                  /*exclusive=*/true};
  TANDEM_ASSIGN_OR_RETURN(auto reader, in_.target.Scan(req));
  std::vector<Row> batch;
  std::string hash_buf;
  while (reader->Next(batch)) {
    for (const Row& row : batch) {
      if (auto h = HashKey(row, k.positions, k.folds, k.types, hash_buf)) {
        TANDEM_RETURN_IF_ERROR(k.spill->Add(*h, 0));
      }
    }
  }
  TANDEM_RETURN_IF_ERROR(reader->status());
  return k.spill->Flush();
}

Result<std::vector<Row>> Assessor::SampleKeys(std::vector<uint64_t> places) {
  for (auto& j : jobs_) TANDEM_RETURN_IF_ERROR(j->log->Flush());
  std::vector<Row> keys;
  for (uint64_t place : places) {
    uint64_t segment = place >> kOffsetBits;
    if (segment >= segment_job_.size()) {
      return Fail(Code::kInternal, "assess: a key's place {} names no key range", place);
    }
    KeyLog& log = *jobs_[segment_job_[segment]]->log;
    TANDEM_ASSIGN_OR_RETURN(Row k, log.Read(place & ((uint64_t{1} << kOffsetBits) - 1)));
    keys.push_back(std::move(k));
  }
  return keys;
}

// What the check of some partitions found: rows, distinct values, the first places.
struct PartitionTally {
  int64_t rows = 0, values = 0;
  FirstPlaces first{kSampleKeys};
};

// Runs `check(p, tally)` for every partition, the partitions shared among up to `threads`
// threads (each with a tally of its own), and sums the tallies.
template <typename Check>
Result<PartitionTally> EachPartition(int threads, Check&& check) {
  threads = std::clamp(threads, 1, KeySpill::kPartitions);
  std::vector<PartitionTally> tallies(threads);
  std::vector<Status> status(threads);
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  auto work = [&](int t) {
    for (int p; !failed && (p = next.fetch_add(1)) < KeySpill::kPartitions;) {
      status[t] = check(p, tallies[t]);
      if (!status[t]) failed = true;
    }
  };
  {
    std::vector<std::jthread> helpers;
    for (int t = 1; t < threads; ++t) helpers.emplace_back(work, t);
    work(0);
  }
  PartitionTally sum;
  for (int t = 0; t < threads; ++t) {
    TANDEM_RETURN_IF_ERROR(status[t]);
    sum.rows += tallies[t].rows;
    sum.values += tallies[t].values;
    sum.first.Merge(std::move(tallies[t].first));
  }
  return sum;
}

// Equal hashes within a partition are equal values; the row read first of each group lands,
// the others are the duplicates. Partitions are checked on the jobs' threads.
Status Assessor::CheckDuplicates(const KeySet& k) {
  TANDEM_RETURN_IF_ERROR(k.spill->Flush());
  TANDEM_ASSIGN_OR_RETURN(
      PartitionTally tally, EachPartition(options_.jobs, [&](int p, PartitionTally& t) -> Status {
        TANDEM_ASSIGN_OR_RETURN(auto entries, k.spill->Load(p));
        std::sort(entries.begin(), entries.end());
        for (size_t i = 0; i < entries.size();) {
          size_t j = i + 1;
          while (j < entries.size() && entries[j].hash == entries[i].hash) {
            t.first.Offer(entries[j++].place);
          }
          if (j - i > 1) t.rows += static_cast<int64_t>(j - i - 1), ++t.values;
          i = j;
        }
        return Ok();
      }));
  int64_t rows = tally.rows, values = tally.values;
  FirstPlaces& first = tally.first;
  if (rows == 0) return Ok();
  const auto& t = in_.tables[k.table];
  TANDEM_ASSIGN_OR_RETURN(auto samples, SampleKeys(first.Sorted()));
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

// A child's hash is looked up in the partition of the same number of its parent's key set.
Status Assessor::CheckOrphans(const ForeignKeyCheck& fk) {
  const KeySet& parent = keys_[fk.parent];
  TANDEM_RETURN_IF_ERROR(parent.spill->Flush());
  TANDEM_RETURN_IF_ERROR(fk.spill->Flush());
  TANDEM_ASSIGN_OR_RETURN(
      PartitionTally tally, EachPartition(options_.jobs, [&](int p, PartitionTally& t) -> Status {
        TANDEM_ASSIGN_OR_RETURN(auto parents, parent.spill->Load(p));
        std::vector<KeyHash> present;
        present.reserve(parents.size());
        for (const auto& e : parents) present.push_back(e.hash);
        parents = {};
        std::sort(present.begin(), present.end());
        TANDEM_ASSIGN_OR_RETURN(auto children, fk.spill->Load(p));
        for (const auto& e : children) {
          if (!std::binary_search(present.begin(), present.end(), e.hash)) {
            ++t.rows;
            t.first.Offer(e.place);
          }
        }
        return Ok();
      }));
  int64_t rows = tally.rows;
  FirstPlaces& first = tally.first;
  if (rows == 0) return Ok();
  TANDEM_ASSIGN_OR_RETURN(auto samples, SampleKeys(first.Sorted()));
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
  f.example = parent.existing
                  ? fmt::format("{} row(s) of {} reference a {} row that the target does not "
                                "hold ({} is not copied by this mapping: its rows in the target "
                                "were read)",
                                rows, t.target_table(), fk.ref_table, fk.ref_table)
                  : fmt::format("{} row(s) of {} reference a {} row that the copy would not "
                                "land",
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
  for (auto& k : keys_) {
    if (!k.existing) continue;
    if (auto st = ScanExisting(k); !st) {
      return std::unexpected(st.error().Context(fmt::format("assess: read the keys of target table {}", k.existing->name)));
    }
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
  // The Assessor (and its open scratch files) is gone before its directory is removed.
  Result<Report> r = [&] {
    Assessor a(in, progress, options);
    return a.Run();
  }();
  std::error_code ec;
  std::filesystem::remove_all(options.scratch_path, ec);
  return r;
}

}  // namespace tandem::assess
