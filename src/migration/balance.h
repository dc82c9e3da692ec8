// The invariant of every migration (DESIGN.md, "reject"): per table,
//   source rows = target rows + rejected rows,
// counted on the databases themselves and in the reject store. The copy summary, `tandem
// start`, `tandem status` and `tandem rejects retry` check it and say so loudly when it breaks.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mapping/transform.h"
#include "migration/session.h"

namespace tandem::migration {

struct Balance {
  std::string table, target;
  int64_t source = 0, target_rows = 0, rejected = 0;
  enum class State {
    kHolds,
    kBroken,     // the counts do not add up while nothing was being written
    kUnsettled,  // writes were in flight while counting (changes not applied yet): not judged
  };
  State state = State::kHolds;
  std::string note;  // why unsettled
};

// Counts source and target rows of each table (both sides at once) and its rejects.
//
// `activity` (optional) tells whether writes are in flight: nullopt when changes are known to
// be unapplied, else a token (e.g. the change log's last position) that differs when a write
// happened. A table that does not add up is counted again (up to 5 times, 0.2 s apart) while
// the token moves; it is kBroken only when the counts were taken with nothing in flight.
Result<std::vector<Balance>> CountBalances(
    Session& s, const std::vector<const mapping::TableTransform*>& tables,
    const std::function<Result<std::optional<std::string>>()>& activity = {});

// The `activity` for CountBalances while change streams run: nullopt while the forward stream
// (and, with `reverse`, the reverse one) has changes not applied yet, else the change logs'
// last positions. Empty (no activity to watch) when `streaming` is false.
std::function<Result<std::optional<std::string>>()> StreamActivity(Session& s, bool streaming,
                                                                   bool reverse);

// Prints one line per table (source rows, target rows, rejected, and "ok", "BROKEN: ..." or
// "not judged: ..."), and returns true when some table is broken.
bool PrintBalances(FILE* out, const std::vector<Balance>& balances);

// The error a command returns after PrintBalances found a broken table (kDataLoss).
Error BrokenBalanceError(const std::vector<Balance>& balances);

}  // namespace tandem::migration
