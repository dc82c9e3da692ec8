// Reconnects: what every unit of work (a backfill chunk, a change batch, a verify range) does
// when a connection is lost. The unit is redone whole after the lost side is re-opened, which
// is safe because each unit is one target transaction (or only reads) and applying it twice is
// harmless (DESIGN.md).
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <string>

#include "tandem/engine.h"

namespace tandem {

// Exponential backoff between reconnect attempts: `first`, doubling up to `most`; after
// `give_up_after` without a successful unit the last error is returned.
struct Backoff {
  std::chrono::milliseconds first{200};
  std::chrono::milliseconds most{10000};
  std::chrono::milliseconds give_up_after{std::chrono::minutes(5)};
  // Polled while waiting; true ends the wait early with the last error (Ctrl-C, stop).
  std::function<bool()> cancelled;
};

// One reconnect attempt, for the JSON event line and the state store.
struct ReconnectAttempt {
  std::string side;   // "source" or "target"
  int attempt = 0;    // 1, 2, ... within this unit
  std::string error;  // what failed (no password: engine errors never carry one)
  double waited_s = 0;  // the backoff slept before this attempt
  bool reconnected = false;  // whether Reconnect() succeeded
  std::string reconnect_error;  // Reconnect()'s error when it failed
};
using ReconnectObserver = std::function<void(const ReconnectAttempt&)>;

// A connection a unit of work uses, named for messages.
struct Side {
  std::string name;  // "source" or "target"
  Engine* engine;
};

// Runs `unit`. While it fails with kUnavailable: waits (backoff), re-opens each side that
// reports ConnectionLost() (every side when none does: the error cannot be placed), telling
// `observer` about each attempt, and runs `unit` again. Any other error, or kUnavailable past
// `backoff.give_up_after`, is returned as is (the latter with the attempts counted).
// REQUIRES: `unit` can be redone from its start after a failure.
Status RunReconnecting(const std::function<Status()>& unit, std::span<const Side> sides,
                       const Backoff& backoff, const ReconnectObserver& observer);

// The same for a unit with a result.
template <typename T>
Result<T> RunReconnecting(const std::function<Result<T>()>& unit, std::span<const Side> sides,
                          const Backoff& backoff, const ReconnectObserver& observer) {
  Result<T> out = std::unexpected(Error{Code::kInternal, "not run"});
  Status st = RunReconnecting(
      [&]() -> Status {
        out = unit();
        if (!out) return std::unexpected(out.error());
        return Ok();
      },
      sides, backoff, observer);
  if (!st) return std::unexpected(std::move(st.error()));
  return out;
}

}  // namespace tandem
