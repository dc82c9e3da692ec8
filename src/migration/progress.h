// What people watch while tandem works: a bar per table on a terminal, one JSON line per
// event otherwise (DESIGN.md "Outputs people look at").
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "copy/backfill.h"
#include "engines/reconnect.h"
#include "state/state_store.h"

namespace tandem::migration {

// Picks the terminal bar when `out` is a terminal, JSON lines otherwise.
std::unique_ptr<copy::Progress> MakeProgress(FILE* out);

// Now, in seconds since the Unix epoch (UTC), as the state store records times.
double NowUnix();
// A Unix time as ISO 8601 UTC to the second: "2026-12-01T20:41:21Z".
std::string IsoTime(double unix_s);

// Writes one JSON event line {"event": kind, "at": ISO time, ...fields}.
void EmitEvent(FILE* out, std::string_view kind, const std::string& fields_json_object);

// The state-store key of the last reconnect attempt, for `tandem status`: a JSON object
// {"command": "start"|"verify"|"copy", "side": "source"|"target", "attempt": n,
//  "error": what failed, "waited_s": backoff slept, "reconnected": bool,
//  "reconnect_error": "" or why the re-open failed, "at": unix seconds}.
inline constexpr std::string_view kLastReconnectKey = "last_reconnect";

// Reports each reconnect attempt of `command`: a "reconnect" event line on `err` and the
// kLastReconnectKey entry in `store` (best effort: a state store that is down too does not
// stop the retry). REQUIRES: `err` and `store` outlive the observer.
ReconnectObserver ReportReconnects(FILE* err, state::StateStore& store, std::string command);

}  // namespace tandem::migration
