#include "verify/verifier.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <unordered_map>

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
  for (const auto& t : tables_) {
    auto r = VerifyTable(t);
    if (!r) return std::unexpected(r.error().Context(fmt::format("verify {}", t.source_table())));
    report.tables.push_back(std::move(*r));
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
      TANDEM_ASSIGN_OR_RETURN(auto rejected, RejectedKeys(tables_[i]));
      std::vector<Difference> remaining;
      TANDEM_RETURN_IF_ERROR(Reconnecting([&]() -> Status {
        TANDEM_ASSIGN_OR_RETURN(remaining, Recheck(tables_[i], tr.differences, rejected));
        return Ok();
      }));
      report.transient += static_cast<int64_t>(tr.differences.size() - remaining.size());
      tr.differences = std::move(remaining);
    }
  }
  for (const auto& t : report.tables) report.differences += static_cast<int64_t>(t.differences.size());
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

Result<std::set<std::string>> Verifier::RejectedKeys(const mapping::TableTransform& t) {
  TANDEM_ASSIGN_OR_RETURN(auto rejects, state_.Rejects(t.source_table(), INT32_MAX));
  std::set<std::string> keys;
  for (const auto& r : rejects) keys.insert(RowToJson(r.key));
  return keys;
}

Result<TableResult> Verifier::VerifyTable(const mapping::TableTransform& t) {
  TableResult out;
  out.source_table = t.source_table();
  out.target_table = t.target_table();
  TANDEM_ASSIGN_OR_RETURN(auto rejected, RejectedKeys(t));
  if (t.keyless()) {
    TANDEM_RETURN_IF_ERROR(Reconnecting([&]() -> Status {
      out.source_rows = out.target_rows = out.rejected = 0;
      out.differences.clear();
      return CompareMultiset(t, rejected, out);
    }));
    out.ranges = 1;
    return out;
  }
  std::vector<KeyRange> ranges{KeyRange{}};
  if (t.key_ranges_portable()) {
    TANDEM_RETURN_IF_ERROR(Reconnecting([&]() -> Status {
      TANDEM_ASSIGN_OR_RETURN(
          ranges, PlanRanges(source_, t.source_table(), t.source_key(), options_.range_rows));
      return Ok();
    }));
  }
  for (const auto& r : ranges) {
    // A range compared again starts from nothing: what a cut-short attempt counted is dropped.
    TableResult part;
    TANDEM_RETURN_IF_ERROR(Reconnecting([&]() -> Status {
      part = TableResult{};
      return CompareRange(t, r, rejected, part);
    }));
    out.source_rows += part.source_rows;
    out.target_rows += part.target_rows;
    out.rejected += part.rejected;
    for (auto& d : part.differences) out.differences.push_back(std::move(d));
    ++out.ranges;
  }
  return out;
}

Status Verifier::Reconnecting(const std::function<Status()>& unit) {
  const Side sides[] = {{"source", &source_}, {"target", &target_}};
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

}  // namespace

Status Verifier::CompareRange(const mapping::TableTransform& t, const KeyRange& range,
                              const std::set<std::string>& rejected, TableResult& out) {
  // The source side of the range, mapped, by canonical target key. Memory is bounded by the
  // range size; key order may differ between engines (collations), so no merge join.
  struct Expected {
    Row source_key;
    Row mapped;
  };
  std::unordered_map<std::string, Expected> expected;
  {
    // Each side is read to its end before anything else uses its connection: the engine may
    // stream the range (ScanRequest::exclusive).
    TANDEM_ASSIGN_OR_RETURN(auto reader, source_.Scan({t.source_table(), t.source_columns(),
                                                       t.source_key(), range, options_.batch_rows,
                                                       /*exclusive=*/true}));
    std::vector<Row> batch;
    Row mapped;
    std::string reason;
    while (reader->Next(batch)) {
      for (const auto& in : batch) {
        Row skey = t.SourceKey(in);
        if (rejected.contains(RowToJson(skey))) {
          ++out.rejected;
          continue;
        }
        ++out.source_rows;
        if (!t.Apply(in, mapped, reason)) {
          Difference d;
          d.kind = Difference::Kind::kUnmappable;
          d.table = t.source_table();
          d.source_key = skey;
          d.reason = reason;
          out.differences.push_back(std::move(d));
          continue;
        }
        std::string ck = CanonicalKey(t, mapped);
        expected.emplace(std::move(ck), Expected{std::move(skey), std::move(mapped)});
      }
    }
    TANDEM_RETURN_IF_ERROR(reader->status());
  }
  TANDEM_ASSIGN_OR_RETURN(KeyRange trange, t.TargetRange(range));
  TANDEM_ASSIGN_OR_RETURN(auto reader, target_.Scan({t.target_table(), t.target_columns(),
                                                     t.target_key(), trange, options_.batch_rows,
                                                     /*exclusive=*/true}));
  std::vector<Row> batch;
  while (reader->Next(batch)) {
    for (const auto& row : batch) {
      ++out.target_rows;
      std::string ck = CanonicalKey(t, row);
      auto it = expected.find(ck);
      Row tkey;
      for (int p : t.target_key_positions()) tkey.push_back(row[p]);
      if (it == expected.end()) {
        Difference d;
        d.kind = Difference::Kind::kExtra;
        d.table = t.source_table();
        d.target_key = tkey;
        d.source_key = t.SourceKeyFromTarget(tkey).value_or(Row{});
        // A rejected source row must not be in the target either.
        out.differences.push_back(std::move(d));
        continue;
      }
      std::vector<FieldDiff> fields;
      CompareRows(t, it->second.mapped, row, fields);
      if (!fields.empty()) {
        Difference d;
        d.kind = Difference::Kind::kChanged;
        d.table = t.source_table();
        d.source_key = it->second.source_key;
        d.target_key = tkey;
        d.fields = std::move(fields);
        out.differences.push_back(std::move(d));
      }
      expected.erase(it);
    }
  }
  TANDEM_RETURN_IF_ERROR(reader->status());
  for (auto& [ck, e] : expected) {
    Difference d;
    d.kind = Difference::Kind::kMissing;
    d.table = t.source_table();
    d.source_key = e.source_key;
    for (int p : t.target_key_positions()) d.target_key.push_back(e.mapped[p]);
    out.differences.push_back(std::move(d));
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

Status Verifier::CompareMultiset(const mapping::TableTransform& t,
                                 const std::set<std::string>& rejected, TableResult& out) {
  TANDEM_ASSIGN_OR_RETURN(int64_t estimate, source_.EstimateRows(t.source_table(), {}));
  int64_t parts = std::max<int64_t>(1, (estimate + kMultisetPartitionRows - 1) / kMultisetPartitionRows);
  // One scan of a side, calling `row(hash, source image or empty, target-shaped row)` for the
  // rows of partition `part`.
  auto scan_source = [&](int64_t part, bool count,
                         const std::function<void(uint64_t, const Row&, const Row&)>& row) -> Status {
    TANDEM_ASSIGN_OR_RETURN(auto reader, source_.Scan({t.source_table(), t.source_columns(), {},
                                                       KeyRange{}, options_.batch_rows, true}));
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
    TANDEM_ASSIGN_OR_RETURN(auto reader, target_.Scan({t.target_table(), t.target_columns(), {},
                                                       KeyRange{}, options_.batch_rows, true}));
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

Result<std::vector<Difference>> Verifier::RecheckImages(const mapping::TableTransform& t,
                                                        const std::vector<Difference>& diffs,
                                                        const std::set<std::string>& rejected) {
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
  TANDEM_ASSIGN_OR_RETURN(auto have, source_.CountImages(t.source_table(), t.source_columns(), sources));
  TANDEM_ASSIGN_OR_RETURN(auto there, target_.CountImages(t.target_table(), t.target_columns(), targets));
  for (size_t i = 0; i < sources.size(); ++i) {
    if (rejected.contains(RowToJson(t.SourceKey(sources[i])))) continue;
    if (have[i] != there[i]) AddCopies(remaining, t.source_table(), have[i] - there[i], sources[i], targets[i]);
  }
  return remaining;
}

Result<std::vector<Difference>> Verifier::Recheck(const mapping::TableTransform& t,
                                                  const std::vector<Difference>& diffs,
                                                  const std::set<std::string>& rejected) {
  if (t.keyless()) return RecheckImages(t, diffs, rejected);
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
  TANDEM_ASSIGN_OR_RETURN(auto srows, source_.Fetch(t.source_table(), t.source_columns(),
                                                    t.source_key(), skeys));
  TANDEM_ASSIGN_OR_RETURN(auto trows, target_.Fetch(t.target_table(), t.target_columns(),
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
