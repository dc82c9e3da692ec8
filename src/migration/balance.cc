#include "migration/balance.h"

#include <chrono>
#include <future>
#include <thread>

#include "engines/reconnect.h"

namespace tandem::migration {

Result<std::vector<Balance>> CountBalances(
    Session& s, const std::vector<const mapping::TableTransform*>& tables,
    const std::function<Result<std::optional<std::string>>()>& activity) {
  std::vector<Balance> out;
  for (const auto* t : tables) {
    Balance b;
    b.table = t->source_table();
    b.target = t->target_table();
    for (int attempt = 0;; ++attempt) {
      std::optional<std::string> before, after;
      if (activity) {
        TANDEM_ASSIGN_OR_RETURN(before, activity());
      }
      // Both sides count at once: each engine is its own connection, used by one thread. A
      // lost connection is re-opened and both counted again, like a chunk.
      const Side sides[] = {{"source", s.source.get()}, {"target", s.target.get()}};
      TANDEM_RETURN_IF_ERROR(RunReconnecting(
          [&]() -> Status {
            auto src_count = std::async(std::launch::async, [&] {
              return s.source->Count(t->source_table(), t->source_scan_key(), {});
            });
            auto tgt_count = s.target->Count(t->target_table(), t->target_scan_key(), {});
            auto src_result = src_count.get();
            TANDEM_ASSIGN_OR_RETURN(b.source, std::move(src_result));
            TANDEM_ASSIGN_OR_RETURN(b.target_rows, std::move(tgt_count));
            return Ok();
          },
          sides, Backoff{}, {}));
      TANDEM_ASSIGN_OR_RETURN(b.rejected, s.state->RejectCount(t->source_table()));
      if (activity) {
        TANDEM_ASSIGN_OR_RETURN(after, activity());
      }
      bool quiet = !activity || (before && after && *before == *after);
      if (b.source == b.target_rows + b.rejected) {
        b.state = Balance::State::kHolds;
        break;
      }
      if (quiet) {
        b.state = Balance::State::kBroken;
        break;
      }
      b.state = Balance::State::kUnsettled;
      b.note = before ? "the source was written to while counting"
                      : "changes are waiting to be applied";
      if (attempt == 4) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::function<Result<std::optional<std::string>>()> StreamActivity(Session& s, bool streaming,
                                                                   bool reverse) {
  if (!streaming) return {};
  return [&s, reverse]() -> Result<std::optional<std::string>> {
    std::string token;
    for (auto [changes, stream] : {std::pair{s.source_changes.get(), "forward"},
                                   std::pair{s.target_changes.get(), "reverse"}}) {
      if (std::string_view(stream) == "reverse" && !reverse) continue;
      TANDEM_ASSIGN_OR_RETURN(auto at, s.state->Position(stream));
      TANDEM_ASSIGN_OR_RETURN(int64_t pending, changes->Pending(at));
      if (pending > 0) return std::optional<std::string>();
      TANDEM_ASSIGN_OR_RETURN(auto last, changes->Last());
      token += last.text + "|";
    }
    return std::optional<std::string>(token);
  };
}

bool PrintBalances(FILE* out, const std::vector<Balance>& balances) {
  std::fprintf(out, "%-28s %12s %12s %10s  %s\n", "table", "source rows", "target rows", "rejected",
               "source = target + rejected");
  bool broken = false;
  for (const auto& b : balances) {
    std::string name = b.table == b.target ? b.table : b.table + " -> " + b.target;
    std::string verdict;
    switch (b.state) {
      case Balance::State::kHolds: verdict = "ok"; break;
      case Balance::State::kBroken:
        verdict = fmt::format("BROKEN: {} != {} + {} ({} row(s) {})", b.source, b.target_rows,
                              b.rejected, std::llabs(b.source - b.target_rows - b.rejected),
                              b.source > b.target_rows + b.rejected ? "missing from the target"
                                                                    : "too many in the target");
        broken = true;
        break;
      case Balance::State::kUnsettled: verdict = "not judged: " + b.note; break;
    }
    std::fprintf(out, "%-28s %12lld %12lld %10lld  %s\n", name.c_str(),
                 static_cast<long long>(b.source), static_cast<long long>(b.target_rows),
                 static_cast<long long>(b.rejected), verdict.c_str());
  }
  if (broken) {
    std::fprintf(out,
                 "!!! ROWS DO NOT ADD UP: source rows != target rows + rejected rows (see BROKEN "
                 "above). A row is missing or extra in the target without a reject to account "
                 "for it: run `tandem verify` to find it, then `tandem copy --restart` or the "
                 "next `tandem start` after fixing the cause.\n");
  }
  return broken;
}

Error BrokenBalanceError(const std::vector<Balance>& balances) {
  std::string tables;
  for (const auto& b : balances) {
    if (b.state == Balance::State::kBroken) tables += (tables.empty() ? "" : ", ") + b.table;
  }
  return Error{Code::kDataLoss,
               fmt::format("row counts do not add up: source != target + rejected for {}", tables)};
}

}  // namespace tandem::migration
