#include "engines/reconnect.h"

#include <algorithm>
#include <thread>

namespace tandem {

namespace {

// Sleeps `d` in short slices; false when cancelled meanwhile.
bool Wait(std::chrono::milliseconds d, const Backoff& backoff) {
  auto until = std::chrono::steady_clock::now() + d;
  for (;;) {
    if (backoff.cancelled && backoff.cancelled()) return false;
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        until - now, std::chrono::milliseconds(100)));
  }
}

}  // namespace

Status RunReconnecting(const std::function<Status()>& unit, std::span<const Side> sides,
                       const Backoff& backoff, const ReconnectObserver& observer) {
  Status st = unit();
  if (st || st.error().code != Code::kUnavailable) return st;
  auto started = std::chrono::steady_clock::now();
  auto delay = backoff.first;
  int attempt = 0;
  while (!st && st.error().code == Code::kUnavailable) {
    auto elapsed = std::chrono::steady_clock::now() - started;
    if (elapsed + delay > backoff.give_up_after || !Wait(delay, backoff)) {
      return std::unexpected(Error{
          Code::kUnavailable,
          fmt::format("{} (gave up after {} reconnect attempt{} over {:.1f} s)", st.error().message,
                      attempt, attempt == 1 ? "" : "s",
                      std::chrono::duration<double>(elapsed).count())});
    }
    ++attempt;
    bool any_lost = std::any_of(sides.begin(), sides.end(),
                                [](const Side& s) { return s.engine->ConnectionLost(); });
    Status reopened = Ok();
    for (const auto& side : sides) {
      if (any_lost && !side.engine->ConnectionLost()) continue;
      Status r = side.engine->Reconnect();
      if (observer) {
        observer({side.name, attempt, st.error().message,
                  std::chrono::duration<double>(delay).count(), r.has_value(),
                  r ? "" : r.error().message});
      }
      if (!r && reopened) reopened = r;
    }
    delay = std::min(delay * 2, backoff.most);
    if (!reopened) {
      // The server is still away: wait longer. Any other reconnect error is final.
      if (reopened.error().code != Code::kUnavailable) return reopened;
      st = reopened;
      continue;
    }
    st = unit();
  }
  return st;
}

}  // namespace tandem
