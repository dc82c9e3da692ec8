#include "verify/verifier.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/canonical.h"
#include "core/row_json.h"

namespace tandem::verify {

namespace {

std::string KeyText(const Row& key) {
  std::string s;
  for (const auto& v : key) s += (s.empty() ? "" : ", ") + v.ToDisplay();
  return "(" + s + ")";
}

std::string_view KindName(Difference::Kind k) {
  switch (k) {
    case Difference::Kind::kMissing: return "missing";
    case Difference::Kind::kExtra: return "extra";
    case Difference::Kind::kChanged: return "changed";
    case Difference::Kind::kUnmappable: return "unmappable";
  }
  return "?";
}

}  // namespace

std::string Difference::Describe() const {
  std::string head = fmt::format("{} key {}", table, KeyText(source_key.empty() ? target_key : source_key));
  switch (kind) {
    case Kind::kMissing: return head + ": missing in target";
    case Kind::kExtra: return head + ": extra in target (no such source row)";
    case Kind::kUnmappable: return head + ": the source row cannot land and is not a reject: " + reason;
    case Kind::kChanged: {
      std::string s = head + ":";
      for (const auto& f : fields) {
        s += fmt::format(" {}: source {} target {};", f.column, f.source.ToDisplay(),
                         f.target.ToDisplay());
      }
      s.pop_back();
      return s;
    }
  }
  return head;
}

nlohmann::json Report::ToJson() const {
  nlohmann::json j = {{"differences", differences}, {"transient", transient},
                      {"rechecks", rechecks},       {"seconds", seconds},
                      {"tables", nlohmann::json::array()}};
  for (const auto& t : tables) {
    nlohmann::json jt = {{"source_table", t.source_table}, {"target_table", t.target_table},
                         {"source_rows", t.source_rows},   {"target_rows", t.target_rows},
                         {"rejected", t.rejected},         {"ranges", t.ranges},
                         {"digested_ranges", t.digested},
                         {"scan_digested_ranges", t.scan_digested},
                         {"difference_count", t.count()},  {"spilled", t.spilled},
                         {"differences", nlohmann::json::array()}};
    for (const auto& d : t.differences) {
      nlohmann::json jd = {{"kind", KindName(d.kind)},
                           {"source_key", nlohmann::json::parse(RowToJson(d.source_key))},
                           {"target_key", nlohmann::json::parse(RowToJson(d.target_key))},
                           {"text", d.Describe()}};
      for (const auto& f : d.fields) {
        jd["fields"].push_back({{"column", f.column},
                                {"source", ValueToJson(f.source)},
                                {"target", ValueToJson(f.target)}});
      }
      if (!d.reason.empty()) jd["reason"] = d.reason;
      jt["differences"].push_back(std::move(jd));
    }
    j["tables"].push_back(std::move(jt));
  }
  return j;
}

Verifier::Verifier(const std::vector<mapping::TableTransform>& tables, Engine& source,
                   Engine& target, state::StateStore& state, Options options)
    : tables_(tables), source_(source), target_(target), state_(state), options_(std::move(options)) {}

Result<Report> Verifier::Run() {
  auto started = std::chrono::steady_clock::now();
  Report report;
  TANDEM_RETURN_IF_ERROR(state_.ClearVerifySpill());
  listed_ = 0;
  Sides main(&source_, &target_);
  // The units of work: every range of every keyed table, every keyless table whole.
  struct Unit {
    size_t table;
    KeyRange range;
    std::vector<KeyRange> group;  // a digest group's ranges (then `range` is unused)
    bool scan_digest = false;     // `group` is every range of the table (ScanDigestTable)
  };
  std::vector<Unit> units;
  std::vector<std::set<std::string>> rejected(tables_.size());
  std::vector<std::optional<std::vector<std::string>>> digest_columns(tables_.size());
  for (size_t i = 0; i < tables_.size(); ++i) {
    const auto& t = tables_[i];
    TableResult r;
    r.source_table = t.source_table();
    r.target_table = t.target_table();
    report.tables.push_back(std::move(r));
    TANDEM_ASSIGN_OR_RETURN(rejected[i], RejectedKeys(t));
    if (auto st = Reconnecting(main, [&]() -> Status {
          TANDEM_ASSIGN_OR_RETURN(digest_columns[i], DigestColumns(t, rejected[i]));
          return Ok();
        });
        !st) {
      return std::unexpected(st.error().Context(fmt::format("verify {}", t.source_table())));
    }
    std::vector<KeyRange> ranges{KeyRange{}};
    if (!t.keyless() && t.key_ranges_portable()) {
      auto planned = [&]() -> Status {
        TANDEM_ASSIGN_OR_RETURN(
            ranges, PlanRanges(source_, t.source_table(), t.source_key(), options_.range_rows));
        return Ok();
      };
      if (auto st = Reconnecting(main, planned); !st) {
        return std::unexpected(st.error().Context(fmt::format("verify {}", t.source_table())));
      }
    }
    if (digest_columns[i] && ranges.size() > 1) {
      // Digest groups: consecutive ranges of about kDigestGroupRows rows together. Not one a
      // job: each group already keeps two servers busy, and a server reading part of a table
      // by a sequential scan reads all of it (two halves at --jobs 2 took 1.8-2.1 s, the
      // whole at once 1.0-1.2 s).
      size_t per = static_cast<size_t>(
          std::max<int64_t>(1, kDigestGroupRows / std::max<int64_t>(options_.range_rows, 1)));
      size_t groups = std::clamp<size_t>((ranges.size() + per - 1) / per, 1, ranges.size());
      for (size_t g = 0; g < groups; ++g) {
        size_t from = ranges.size() * g / groups, to = ranges.size() * (g + 1) / groups;
        Unit unit{i, {}, {}};
        for (size_t k = from; k < to; ++k) unit.group.push_back(std::move(ranges[k]));
        units.push_back(std::move(unit));
      }
      continue;
    }
    if (options_.digests && !digest_columns[i] && ranges.size() > 1) {
      // One unit for the whole table: a server scanning part of a table sequentially reads
      // all of it, so two units would read the table twice.
      units.push_back({i, {}, std::move(ranges), /*scan_digest=*/true});
      continue;
    }
    for (auto& r : ranges) units.push_back({i, std::move(r), {}});
  }
  // Jobs take units in order; the first job works on the Verifier's own connections.
  size_t n = std::clamp<size_t>(static_cast<size_t>(std::max(options_.jobs, 1)), 1,
                                std::max<size_t>(units.size(), 1));
  std::vector<std::unique_ptr<Sides>> jobs;
  jobs.push_back(std::make_unique<Sides>(&source_, &target_));
  for (size_t j = 1; j < n; ++j) {
    if (!options_.open_source || !options_.open_target) {
      return Fail(Code::kInternal, "verify: {} jobs need a way to open connections", n);
    }
    auto sides = std::make_unique<Sides>();
    TANDEM_ASSIGN_OR_RETURN(sides->own_source, options_.open_source());
    TANDEM_ASSIGN_OR_RETURN(sides->own_target, options_.open_target());
    // A share of one connection's cache each (SQLite's page cache): a verify reads each page
    // once, and memory should not grow with the jobs.
    TANDEM_RETURN_IF_ERROR(sides->own_source->LimitCache((32u << 20) / n));
    TANDEM_RETURN_IF_ERROR(sides->own_target->LimitCache((32u << 20) / n));
    sides->source = sides->own_source.get();
    sides->target = sides->own_target.get();
    jobs.push_back(std::move(sides));
  }
  size_t next = 0;
  Status failure = Ok();
  auto work = [&](Sides& sides) {
    while (true) {
      size_t u;
      {
        std::lock_guard lock(mu_);
        if (!failure || next == units.size()) return;
        u = next++;
      }
      const auto& t = tables_[units[u].table];
      // A unit compared again starts from nothing: what a cut-short attempt counted is dropped.
      TableResult part;
      int64_t told = 0;  // rows a table's one scan told progress of
      Status st = Reconnecting(sides, [&]() -> Status {
        part = TableResult{};
        if (told) Read(t, -std::exchange(told, 0));  // the table is scanned again
        part.ranges = 1;
        if (t.keyless()) return CompareMultiset(sides, t, rejected[units[u].table], part);
        if (units[u].scan_digest) {
          part.ranges = static_cast<int>(units[u].group.size());
          return ScanDigestTable(sides, t, units[u].group, rejected[units[u].table], part, told);
        }
        if (!units[u].group.empty()) {
          part.ranges = static_cast<int>(units[u].group.size());
          return DigestGroup(sides, t, *digest_columns[units[u].table], units[u].group,
                             rejected[units[u].table], part);
        }
        if (const auto& cols = digest_columns[units[u].table]) {
          return DigestOrCompareRange(sides, t, *cols, units[u].range, rejected[units[u].table],
                                      part);
        }
        return CompareRange(sides, t, units[u].range, rejected[units[u].table], part);
      });
      if (st) {
        // A table read whole tells its last count at once; a range adds its rows.
        if (units[u].scan_digest) Read(t, 0, true);
        else Read(t, part.source_rows + part.rejected);
      }
      std::lock_guard lock(mu_);
      if (st) st = Merge(report.tables[units[u].table], part);
      if (!st && failure) {
        failure = std::unexpected(st.error().Context(fmt::format("verify {}", t.source_table())));
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t j = 1; j < jobs.size(); ++j) threads.emplace_back(work, std::ref(*jobs[j]));
  work(*jobs[0]);
  for (auto& th : threads) th.join();
  jobs.resize(1);  // the other connections are done
  TANDEM_RETURN_IF_ERROR(failure);
  // Reported in key order whatever order the jobs finished in.
  for (auto& tr : report.tables) {
    std::stable_sort(tr.differences.begin(), tr.differences.end(),
                     [](const Difference& a, const Difference& b) {
                       const Row& ka = a.source_key.empty() ? a.target_key : a.source_key;
                       const Row& kb = b.source_key.empty() ? b.target_key : b.source_key;
                       return ka < kb;
                     });
  }
  // Differences may be writes still in flight: let the stream catch up and look again, until
  // they are gone or stay the same.
  for (int round = 0; round < options_.max_rechecks && options_.catch_up; ++round) {
    size_t open = 0;
    for (const auto& t : report.tables) open += t.differences.size();
    if (open == 0) break;
    TANDEM_RETURN_IF_ERROR(options_.catch_up());
    ++report.rechecks;
    for (size_t i = 0; i < tables_.size(); ++i) {
      auto& tr = report.tables[i];
      if (tr.differences.empty()) continue;
      TANDEM_ASSIGN_OR_RETURN(auto rejected_now, RejectedKeys(tables_[i]));
      std::vector<Difference> remaining;
      TANDEM_RETURN_IF_ERROR(Reconnecting(main, [&]() -> Status {
        TANDEM_ASSIGN_OR_RETURN(remaining, Recheck(main, tables_[i], tr.differences, rejected_now));
        return Ok();
      }));
      report.transient += static_cast<int64_t>(tr.differences.size() - remaining.size());
      tr.differences = std::move(remaining);
    }
  }
  for (const auto& t : report.tables) {
    report.differences += t.count();
    report.transient += t.transient;
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

void Verifier::Read(const mapping::TableTransform& t, int64_t rows, bool now) {
  if (!options_.progress) return;
  std::lock_guard lock(progress_mu_);
  auto [it, first] = read_.try_emplace(t.source_table(), 0);
  it->second += rows;
  int64_t total = it->second;
  auto at = std::chrono::steady_clock::now();
  // A table's first rows are told at once, the rest at most every 250 ms over all tables.
  if (!now && !first && at - told_ < std::chrono::milliseconds(250)) return;
  told_ = at;
  options_.progress(t.source_table(), total);
}

Status Verifier::Merge(TableResult& into, TableResult& part) {
  into.source_rows += part.source_rows;
  into.target_rows += part.target_rows;
  into.rejected += part.rejected;
  into.transient += part.transient;
  into.digested += part.digested;
  into.scan_digested += part.scan_digested;
  into.ranges += part.ranges;
  std::vector<std::string> spill;
  for (auto& d : part.differences) {
    if (listed_ < options_.max_listed) {
      ++listed_;
      into.differences.push_back(std::move(d));
      continue;
    }
    nlohmann::json jd = {{"kind", std::string(d.kind == Difference::Kind::kMissing   ? "missing"
                                              : d.kind == Difference::Kind::kExtra   ? "extra"
                                              : d.kind == Difference::Kind::kChanged ? "changed"
                                                                                     : "unmappable")},
                         {"source_key", nlohmann::json::parse(RowToJson(d.source_key))},
                         {"target_key", nlohmann::json::parse(RowToJson(d.target_key))},
                         {"text", d.Describe()}};
    spill.push_back(jd.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  into.spilled += static_cast<int64_t>(spill.size());
  if (!spill.empty()) TANDEM_RETURN_IF_ERROR(state_.SpillVerifyDifferences(into.source_table, spill));
  return Ok();
}

Result<std::set<std::string>> Verifier::RejectedKeys(const mapping::TableTransform& t) {
  TANDEM_ASSIGN_OR_RETURN(auto rejects, state_.Rejects(t.source_table(), INT32_MAX));
  std::set<std::string> keys;
  for (const auto& r : rejects) keys.insert(RowToJson(r.key));
  return keys;
}

Status Verifier::Reconnecting(Sides& s, const std::function<Status()>& unit) {
  const Side sides[] = {{"source", s.source}, {"target", s.target}};
  return RunReconnecting(unit, sides, options_.backoff, options_.on_reconnect);
}

namespace {

// The canonical key of a target-shaped row: equal keys of any engine encode alike.
std::string CanonicalKey(const mapping::TableTransform& t, const Row& row) {
  std::string k;
  const auto& pos = t.target_key_positions();
  for (int p : pos) AppendCanonical(row[p], t.target_types()[p], k);
  return k;
}

void CompareRows(const mapping::TableTransform& t, const Row& expected, const Row& actual,
                 std::vector<FieldDiff>& fields) {
  for (size_t i = 0; i < expected.size(); ++i) {
    if (!CanonicalEqual(expected[i], actual[i], t.target_types()[i])) {
      fields.push_back({t.target_columns()[i], expected[i], actual[i]});
    }
  }
}

// One side of a range as it was read, row by row in scan order: the row's canonical target
// key (back to back in one buffer), the hash of its canonical row and its keys as Values (k
// per row, in one vector). Flat arrays, so reading a range allocates per batch, not per row.
struct RangeSide {
  std::string keys;               // canonical target keys, back to back
  std::vector<size_t> key_end;    // row i's key ends here in `keys`
  std::vector<uint64_t> hashes;
  std::vector<Value> source_keys;  // source side only: source_key().size() per row
  std::vector<Value> target_keys;  // target_key().size() per row
  size_t rows() const { return hashes.size(); }
  std::string_view Key(size_t i) const {
    size_t begin = i == 0 ? 0 : key_end[i - 1];
    return std::string_view(keys).substr(begin, key_end[i] - begin);
  }
  // Adds a target-shaped row: one read from the target, or (`mapped`) one the mapping made,
  // whose values are cast already (TableTransform::cast_outputs). `scratch` is the caller's
  // buffer for the canonical encoding.
  void Add(const mapping::TableTransform& t, const Row& row, bool mapped, std::string& scratch) {
    for (int p : t.target_key_positions()) {
      AppendCanonical(row[p], t.target_types()[p], keys);
      target_keys.push_back(row[p]);
    }
    key_end.push_back(keys.size());
    hashes.push_back(mapped ? HashRow(row, t.target_types(), t.cast_outputs(), scratch)
                            : HashRow(row, t.target_types(), scratch));
  }
  Row Keys(const std::vector<Value>& flat, size_t width, size_t i) const {
    return Row(flat.begin() + static_cast<std::ptrdiff_t>(i * width),
               flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * width));
  }
};

}  // namespace

Result<std::unique_ptr<RowReader>> Verifier::ScanSource(Sides& sides,
                                                        const mapping::TableTransform& t,
                                                        const std::vector<std::string>& key,
                                                        const KeyRange& range) const {
  ScanRequest req{t.source_table(), t.source_columns(), key, range,
                  options_.batch_rows, /*exclusive=*/true, BatchBytes()};
  req.spare_rows = &sides.source_rows.spare;
  return sides.source->Scan(req);
}

Result<std::unique_ptr<RowReader>> Verifier::ScanTarget(Sides& sides,
                                                        const mapping::TableTransform& t,
                                                        const std::vector<std::string>& key,
                                                        const KeyRange& range) const {
  ScanRequest req{t.target_table(), t.target_columns(), key, range,
                  options_.batch_rows, /*exclusive=*/true, BatchBytes()};
  req.spare_rows = &sides.target_rows.spare;
  return sides.target->Scan(req);
}

Status Verifier::CompareRange(Sides& sides, const mapping::TableTransform& t,
                              const KeyRange& range, const std::set<std::string>& rejected,
                              TableResult& out) {
  RangeSide expected, actual;
  std::vector<Difference> unmappable;
  int64_t source_rows = 0, rejected_rows = 0;
  const size_t ks = t.source_key().size(), kt = t.target_key_positions().size();
  TANDEM_ASSIGN_OR_RETURN(KeyRange trange, t.TargetRange(range));
  // The source side on a thread of its own while this one reads the target: each engine is
  // used by one thread, and each reader is read to its end before its connection does
  // anything else (the engine may stream the range: ScanRequest::exclusive).
  Status source_status = Ok();
  std::thread source_side([&] {
    source_status = [&]() -> Status {
      TANDEM_ASSIGN_OR_RETURN(auto reader, ScanSource(sides, t, t.source_key(), range));
      std::vector<Row>& batch = sides.source_rows.batch;
      Row mapped, skey;
      std::string reason, scratch;
      while (reader->Next(batch)) {
        for (const auto& in : batch) {
          t.SourceKeyInto(in, skey);
          if (!rejected.empty() && rejected.contains(RowToJson(skey))) {
            ++rejected_rows;
            continue;
          }
          ++source_rows;
          if (!t.Apply(in, mapped, reason)) {
            Difference d;
            d.kind = Difference::Kind::kUnmappable;
            d.table = t.source_table();
            d.source_key = skey;
            d.reason = reason;
            unmappable.push_back(std::move(d));
            continue;
          }
          expected.source_keys.insert(expected.source_keys.end(), skey.begin(), skey.end());
          expected.Add(t, mapped, /*mapped=*/true, scratch);
        }
      }
      return reader->status();
    }();
  });
  Status target_status = [&]() -> Status {
    TANDEM_ASSIGN_OR_RETURN(auto reader, ScanTarget(sides, t, t.target_key(), trange));
    std::vector<Row>& batch = sides.target_rows.batch;
    std::string scratch;
    while (reader->Next(batch)) {
      for (const auto& row : batch) {
        ++out.target_rows;
        actual.Add(t, row, /*mapped=*/false, scratch);
      }
    }
    return reader->status();
  }();
  source_side.join();
  TANDEM_RETURN_IF_ERROR(source_status);
  TANDEM_RETURN_IF_ERROR(target_status);
  out.source_rows += source_rows;
  out.rejected += rejected_rows;
  for (auto& d : unmappable) out.differences.push_back(std::move(d));
  std::vector<Difference> changed;  // hashes differ: read again to name the fields
  auto difference = [&](Difference::Kind kind, const RangeSide* e, size_t i, const RangeSide* a,
                        size_t j) {
    Difference d;
    d.kind = kind;
    d.table = t.source_table();
    if (e != nullptr) {
      d.source_key = e->Keys(e->source_keys, ks, i);
      d.target_key = e->Keys(e->target_keys, kt, i);
    } else {
      d.target_key = a->Keys(a->target_keys, kt, j);
      d.source_key = t.SourceKeyFromTarget(d.target_key).value_or(Row{});
    }
    (kind == Difference::Kind::kChanged ? changed : out.differences).push_back(std::move(d));
  };
  // Both sides usually come in the same key order (key ranges are only planned where both
  // sort keys by bytes): compare them in step. At the first row where the keys part (a row
  // missing or extra, or an order that differs between the engines) the whole range is
  // matched by canonical key instead, each side's first row of a key counting, as always.
  size_t n = std::min(expected.rows(), actual.rows()), in_step = 0;
  while (in_step < n && expected.Key(in_step) == actual.Key(in_step)) ++in_step;
  if (in_step == expected.rows() && in_step == actual.rows()) {
    for (size_t i = 0; i < n; ++i) {
      if (expected.hashes[i] != actual.hashes[i]) {
        difference(Difference::Kind::kChanged, &expected, i, nullptr, 0);
      }
    }
  } else {
    std::unordered_map<std::string_view, size_t> by_key;  // target rows by canonical key
    by_key.reserve(actual.rows());
    for (size_t j = 0; j < actual.rows(); ++j) by_key.emplace(actual.Key(j), j);
    std::unordered_set<std::string_view> seen;
    for (size_t i = 0; i < expected.rows(); ++i) {
      std::string_view ck = expected.Key(i);
      if (!seen.insert(ck).second) continue;  // a later source row of a key seen already
      auto it = by_key.find(ck);
      if (it == by_key.end()) {
        difference(Difference::Kind::kMissing, &expected, i, nullptr, 0);
        continue;
      }
      if (actual.hashes[it->second] != expected.hashes[i]) {
        difference(Difference::Kind::kChanged, &expected, i, nullptr, 0);
      }
      by_key.erase(it);
    }
    std::vector<size_t> extra;
    for (const auto& [ck, j] : by_key) {
      if (!seen.contains(ck)) extra.push_back(j);
    }
    std::sort(extra.begin(), extra.end());
    for (size_t j : extra) difference(Difference::Kind::kExtra, nullptr, 0, &actual, j);
  }
  if (!changed.empty()) {
    TANDEM_ASSIGN_OR_RETURN(auto named, Recheck(sides, t, changed, rejected));
    // Equal when read again: a write landed between the two reads.
    out.transient += std::max<int64_t>(0, static_cast<int64_t>(changed.size()) -
                                              static_cast<int64_t>(named.size()));
    for (auto& d : named) out.differences.push_back(std::move(d));
  }
  return Ok();
}

namespace {

// Which of `ranges` (contiguous, ascending, the first and last open-ended) holds `key`; `hint`
// is tried first (rows mostly come in key order).
size_t LocateRange(const std::vector<KeyRange>& ranges, const Row& key, size_t hint) {
  if (ranges[hint].Contains(key)) return hint;
  size_t lo = 0, hi = ranges.size() - 1;  // the last range has no upper bound
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (key > *ranges[mid].upper) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// A range's digest on one side: order-independent sums of its rows' hashes (the second of a
// mixed hash, so that two differences rarely cancel out), and counts.
struct RangeSums {
  uint64_t sum = 0, mixed = 0;
  int64_t rows = 0, rejected = 0;
  bool unmappable = false;  // a source row that cannot land and is no reject: row by row
  void Add(uint64_t h) {
    sum += h;
    uint64_t z = h + 0x9e3779b97f4a7c15ULL;  // splitmix64's finaliser
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    mixed += z ^ (z >> 31);
    ++rows;
  }
  bool Matches(const RangeSums& target) const {
    return !unmappable && sum == target.sum && mixed == target.mixed && rows == target.rows;
  }
};

}  // namespace

Status Verifier::ScanDigestTable(Sides& sides, const mapping::TableTransform& t,
                                 const std::vector<KeyRange>& ranges,
                                 const std::set<std::string>& rejected, TableResult& out,
                                 int64_t& told) {
  std::vector<KeyRange> tranges;
  for (const auto& r : ranges) {
    TANDEM_ASSIGN_OR_RETURN(KeyRange tr, t.TargetRange(r));
    tranges.push_back(std::move(tr));
  }
  std::vector<RangeSums> expected(ranges.size()), actual(ranges.size());
  // The source on a thread of its own while this one reads the target, as in CompareRange.
  Status source_status = Ok();
  std::thread source_side([&] {
    source_status = [&]() -> Status {
      TANDEM_ASSIGN_OR_RETURN(auto reader, ScanSource(sides, t, {}, {}));
      std::vector<Row>& batch = sides.source_rows.batch;
      Row mapped, skey;
      std::string reason, scratch;
      size_t at = 0;
      while (reader->Next(batch)) {
        Read(t, static_cast<int64_t>(batch.size()));
        told += static_cast<int64_t>(batch.size());
        for (const auto& in : batch) {
          t.SourceKeyInto(in, skey);
          at = LocateRange(ranges, skey, at);
          RangeSums& sums = expected[at];
          if (!rejected.empty() && rejected.contains(RowToJson(skey))) {
            ++sums.rejected;
            continue;
          }
          if (!t.Apply(in, mapped, reason)) {
            sums.unmappable = true;
            continue;
          }
          sums.Add(HashRow(mapped, t.target_types(), t.cast_outputs(), scratch));
        }
      }
      return reader->status();
    }();
  });
  Status target_status = [&]() -> Status {
    TANDEM_ASSIGN_OR_RETURN(auto reader, ScanTarget(sides, t, {}, {}));
    std::vector<Row>& batch = sides.target_rows.batch;
    const std::vector<int>& key_at = t.target_key_positions();
    Row tkey(key_at.size());  // its Values keep their buffers from row to row
    std::string scratch;
    size_t at = 0;
    while (reader->Next(batch)) {
      for (const auto& row : batch) {
        for (size_t k = 0; k < key_at.size(); ++k) tkey[k] = row[key_at[k]];
        at = LocateRange(tranges, tkey, at);
        actual[at].Add(HashRow(row, t.target_types(), scratch));
      }
    }
    return reader->status();
  }();
  source_side.join();
  TANDEM_RETURN_IF_ERROR(source_status);
  TANDEM_RETURN_IF_ERROR(target_status);
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (expected[i].Matches(actual[i])) {
      out.source_rows += expected[i].rows;
      out.rejected += expected[i].rejected;
      out.target_rows += actual[i].rows;
      out.digested += 1;
      out.scan_digested += 1;
      continue;
    }
    TANDEM_RETURN_IF_ERROR(CompareRange(sides, t, ranges[i], rejected, out));
  }
  return Ok();
}

Result<std::optional<std::vector<std::string>>> Verifier::DigestColumns(
    const mapping::TableTransform& t, const std::set<std::string>& rejected) {
  std::optional<std::vector<std::string>> none;
  if (!options_.digests || !rejected.empty() || source_.kind() != target_.kind()) return none;
  auto columns = t.IdentitySourceColumns();
  if (!columns) return none;
  TANDEM_ASSIGN_OR_RETURN(std::string source_form, source_.DigestForm(t.source_table(), *columns));
  if (source_form.empty()) return none;
  TANDEM_ASSIGN_OR_RETURN(std::string target_form,
                          target_.DigestForm(t.target_table(), t.target_columns()));
  if (target_form != source_form) return none;
  return columns;
}

Status Verifier::DigestOrCompareRange(Sides& sides, const mapping::TableTransform& t,
                                      const std::vector<std::string>& columns,
                                      const KeyRange& range, const std::set<std::string>& rejected,
                                      TableResult& out) {
  TANDEM_ASSIGN_OR_RETURN(auto digests, DigestBoth(sides, t, columns, range));
  if (digests.first == digests.second) {
    out.source_rows += digests.first.rows;
    out.target_rows += digests.second.rows;
    out.digested += 1;
    return Ok();
  }
  // A difference, or a write landing between the two digests: the range row by row, so that
  // what is reported is exactly what the row-by-row comparison finds.
  return CompareRange(sides, t, range, rejected, out);
}

Result<std::pair<Engine::RangeDigest, Engine::RangeDigest>> Verifier::DigestBoth(
    Sides& sides, const mapping::TableTransform& t, const std::vector<std::string>& columns,
    const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(KeyRange trange, t.TargetRange(range));
  // Both digests at once, the source's on a thread of its own (each engine used by one thread).
  Result<Engine::RangeDigest> source_digest = Engine::RangeDigest{};
  std::thread source_side([&] {
    source_digest = sides.source->DigestRange(t.source_table(), columns, t.source_key(), range);
  });
  auto target_digest =
      sides.target->DigestRange(t.target_table(), t.target_columns(), t.target_key(), trange);
  source_side.join();
  TANDEM_RETURN_IF_ERROR(source_digest);
  TANDEM_RETURN_IF_ERROR(target_digest);
  return std::pair{*source_digest, *target_digest};
}

Status Verifier::DigestGroup(Sides& sides, const mapping::TableTransform& t,
                             const std::vector<std::string>& columns,
                             const std::vector<KeyRange>& parts,
                             const std::set<std::string>& rejected, TableResult& out) {
  if (parts.size() > 1) {
    KeyRange whole{parts.front().lower, parts.back().upper};
    TANDEM_ASSIGN_OR_RETURN(auto digests, DigestBoth(sides, t, columns, whole));
    if (digests.first == digests.second) {
      out.source_rows += digests.first.rows;
      out.target_rows += digests.second.rows;
      out.digested += static_cast<int>(parts.size());
      return Ok();
    }
  }
  for (const auto& range : parts) {
    TANDEM_RETURN_IF_ERROR(DigestOrCompareRange(sides, t, columns, range, rejected, out));
  }
  return Ok();
}

namespace {

// A table without a key is compared as a multiset in partitions by row hash, each holding at
// most this many distinct rows in memory (a hash and a count each: about 64 bytes).
constexpr int64_t kMultisetPartitionRows = 2'000'000;
// At most this many differences are listed per distinct row (a row copied 10^6 times too often
// is one problem, not 10^6).
constexpr int64_t kMaxCopiesListed = 100;

void AddCopies(std::vector<Difference>& out, const std::string& table, int64_t delta,
               const Row& source_image, const Row& target_image) {
  int64_t n = std::min<int64_t>(delta < 0 ? -delta : delta, kMaxCopiesListed);
  for (int64_t i = 0; i < n; ++i) {
    Difference d;
    d.kind = delta > 0 ? Difference::Kind::kMissing : Difference::Kind::kExtra;
    d.table = table;
    d.source_key = source_image;
    d.target_key = target_image;
    out.push_back(std::move(d));
  }
}

}  // namespace

Status Verifier::CompareMultiset(Sides& sides, const mapping::TableTransform& t,
                                 const std::set<std::string>& rejected, TableResult& out) {
  Engine& source = *sides.source;  // this job's connections
  Engine& target = *sides.target;
  TANDEM_ASSIGN_OR_RETURN(int64_t estimate, source.EstimateRows(t.source_table(), {}));
  int64_t parts = std::max<int64_t>(1, (estimate + kMultisetPartitionRows - 1) / kMultisetPartitionRows);
  // One scan of a side, calling `row(hash, source image or empty, target-shaped row)` for the
  // rows of partition `part`.
  auto scan_source = [&](int64_t part, bool count,
                         const std::function<void(uint64_t, const Row&, const Row&)>& row) -> Status {
    TANDEM_ASSIGN_OR_RETURN(auto reader, source.Scan({t.source_table(), t.source_columns(), {},
                                                       KeyRange{}, options_.batch_rows, true, BatchBytes()}));
    std::vector<Row> batch;
    Row mapped;
    std::string reason;
    while (reader->Next(batch)) {
      for (const auto& in : batch) {
        if (!rejected.empty() && rejected.contains(RowToJson(t.SourceKey(in)))) {
          if (count) ++out.rejected;
          continue;
        }
        if (!t.Apply(in, mapped, reason)) {
          if (count && part == 0) {
            Difference d;
            d.kind = Difference::Kind::kUnmappable;
            d.table = t.source_table();
            d.source_key = in;
            d.reason = reason;
            out.differences.push_back(std::move(d));
            ++out.source_rows;
          }
          continue;
        }
        uint64_t h = HashRow(mapped, t.target_types());
        if (static_cast<int64_t>(h % static_cast<uint64_t>(parts)) != part) continue;
        if (count) ++out.source_rows;
        row(h, in, mapped);
      }
    }
    return reader->status();
  };
  auto scan_target = [&](int64_t part, bool count,
                         const std::function<void(uint64_t, const Row&, const Row&)>& row) -> Status {
    TANDEM_ASSIGN_OR_RETURN(auto reader, target.Scan({t.target_table(), t.target_columns(), {},
                                                       KeyRange{}, options_.batch_rows, true, BatchBytes()}));
    std::vector<Row> batch;
    static const Row kNone;
    while (reader->Next(batch)) {
      for (const auto& r : batch) {
        uint64_t h = HashRow(r, t.target_types());
        if (static_cast<int64_t>(h % static_cast<uint64_t>(parts)) != part) continue;
        if (count) ++out.target_rows;
        row(h, kNone, r);
      }
    }
    return reader->status();
  };
  for (int64_t part = 0; part < parts; ++part) {
    std::unordered_map<uint64_t, int64_t> delta;  // source copies minus target copies
    TANDEM_RETURN_IF_ERROR(scan_source(part, true, [&](uint64_t h, const Row&, const Row&) { ++delta[h]; }));
    TANDEM_RETURN_IF_ERROR(scan_target(part, true, [&](uint64_t h, const Row&, const Row&) { --delta[h]; }));
    std::erase_if(delta, [](const auto& kv) { return kv.second == 0; });
    if (delta.empty()) continue;
    // A second look at both sides for a sample of each differing row.
    struct Sample {
      Row source_image, target_image;
    };
    std::unordered_map<uint64_t, Sample> samples;
    auto keep = [&](uint64_t h, const Row& image, const Row& target_row) {
      if (!delta.contains(h) || samples.contains(h)) return;
      samples[h] = Sample{image, target_row};
    };
    TANDEM_RETURN_IF_ERROR(scan_source(part, false, keep));
    TANDEM_RETURN_IF_ERROR(scan_target(part, false, keep));
    for (const auto& [h, d] : delta) {
      const Sample& s = samples[h];
      Row image = s.source_image;
      if (image.empty()) {
        Row tk;
        for (int p : t.target_key_positions()) tk.push_back(s.target_image[p]);
        image = t.SourceKeyFromTarget(tk).value_or(Row{});
      }
      AddCopies(out.differences, t.source_table(), d, image, s.target_image);
    }
  }
  return Ok();
}

Result<std::vector<Difference>> Verifier::RecheckImages(Sides& sides,
                                                        const mapping::TableTransform& t,
                                                        const std::vector<Difference>& diffs,
                                                        const std::set<std::string>& rejected) {
  Engine& source = *sides.source;
  Engine& target = *sides.target;
  // Each differing row once, by its target image: compare the counts on both sides again.
  std::map<Row, Row> images;  // target image -> source image
  std::vector<Difference> remaining;
  Row mapped;
  std::string reason;
  for (const auto& d : diffs) {
    if (d.source_key.empty() || d.kind == Difference::Kind::kUnmappable) {
      remaining.push_back(d);
      continue;
    }
    if (!t.Apply(d.source_key, mapped, reason)) {
      remaining.push_back(d);
      continue;
    }
    images.emplace(mapped, d.source_key);
  }
  std::vector<Row> sources, targets;
  for (const auto& [tgt, src] : images) {
    targets.push_back(tgt);
    sources.push_back(src);
  }
  TANDEM_ASSIGN_OR_RETURN(auto have, source.CountImages(t.source_table(), t.source_columns(), sources));
  TANDEM_ASSIGN_OR_RETURN(auto there, target.CountImages(t.target_table(), t.target_columns(), targets));
  for (size_t i = 0; i < sources.size(); ++i) {
    if (rejected.contains(RowToJson(t.SourceKey(sources[i])))) continue;
    if (have[i] != there[i]) AddCopies(remaining, t.source_table(), have[i] - there[i], sources[i], targets[i]);
  }
  return remaining;
}

Result<std::vector<Difference>> Verifier::Recheck(Sides& sides, const mapping::TableTransform& t,
                                                  const std::vector<Difference>& diffs,
                                                  const std::set<std::string>& rejected) {
  if (t.keyless()) return RecheckImages(sides, t, diffs, rejected);
  // A few keys per read: the rows of a read stay within about batch_bytes for rows up to
  // batch_bytes / kRecheckKeys each, and larger ones come a few at a time.
  constexpr size_t kRecheckKeys = 64;
  std::vector<Difference> remaining;
  for (size_t i = 0; i < diffs.size(); i += kRecheckKeys) {
    std::vector<Difference> some(diffs.begin() + static_cast<std::ptrdiff_t>(i),
                                 diffs.begin() + static_cast<std::ptrdiff_t>(std::min(diffs.size(), i + kRecheckKeys)));
    TANDEM_ASSIGN_OR_RETURN(auto left, RecheckSome(sides, t, some, rejected));
    for (auto& d : left) remaining.push_back(std::move(d));
  }
  return remaining;
}

Result<std::vector<Difference>> Verifier::RecheckSome(Sides& sides, const mapping::TableTransform& t,
                                                      const std::vector<Difference>& diffs,
                                                      const std::set<std::string>& rejected) {
  Engine& source = *sides.source;
  Engine& target = *sides.target;
  std::vector<Row> skeys, tkeys;
  std::vector<Difference> remaining;
  for (const auto& d : diffs) {
    if (d.source_key.empty()) {  // no source key to re-read by: the difference stands
      remaining.push_back(d);
      continue;
    }
    skeys.push_back(d.source_key);
    auto tk = t.TargetKey(d.source_key);
    if (tk) tkeys.push_back(*tk);
  }
  TANDEM_ASSIGN_OR_RETURN(auto srows, source.Fetch(t.source_table(), t.source_columns(),
                                                    t.source_key(), skeys));
  TANDEM_ASSIGN_OR_RETURN(auto trows, target.Fetch(t.target_table(), t.target_columns(),
                                                    t.target_key(), tkeys));
  std::unordered_map<std::string, Row> target_by_key;
  for (auto& r : trows) target_by_key.emplace(CanonicalKey(t, r), std::move(r));
  std::set<std::string> seen;
  Row mapped;
  std::string reason;
  for (const auto& in : srows) {
    Row skey = t.SourceKey(in);
    if (rejected.contains(RowToJson(skey))) continue;  // now a reject: expected elsewhere
    Difference d;
    d.table = t.source_table();
    d.source_key = skey;
    if (!t.Apply(in, mapped, reason)) {
      d.kind = Difference::Kind::kUnmappable;
      d.reason = reason;
      remaining.push_back(std::move(d));
      continue;
    }
    std::string ck = CanonicalKey(t, mapped);
    seen.insert(ck);
    for (int p : t.target_key_positions()) d.target_key.push_back(mapped[p]);
    auto it = target_by_key.find(ck);
    if (it == target_by_key.end()) {
      d.kind = Difference::Kind::kMissing;
      remaining.push_back(std::move(d));
      continue;
    }
    CompareRows(t, mapped, it->second, d.fields);
    if (!d.fields.empty()) remaining.push_back(std::move(d));
  }
  // Target rows whose source row is gone.
  for (auto& [ck, row] : target_by_key) {
    if (seen.contains(ck)) continue;
    Difference d;
    d.kind = Difference::Kind::kExtra;
    d.table = t.source_table();
    for (int p : t.target_key_positions()) d.target_key.push_back(row[p]);
    d.source_key = t.SourceKeyFromTarget(d.target_key).value_or(Row{});
    remaining.push_back(std::move(d));
  }
  return remaining;
}

}  // namespace tandem::verify
