// What people watch while tandem works: a bar per table on a terminal, one JSON line per
// event otherwise (DESIGN.md "Outputs people look at").
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "copy/backfill.h"

namespace tandem::migration {

// Picks the terminal bar when `out` is a terminal, JSON lines otherwise.
std::unique_ptr<copy::Progress> MakeProgress(FILE* out);

// Writes one JSON event line {"event": kind, "at": ISO time, ...fields}.
void EmitEvent(FILE* out, std::string_view kind, const std::string& fields_json_object);

}  // namespace tandem::migration
