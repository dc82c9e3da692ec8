// The checks that guard each switch (DESIGN.md: "guarded by checks (lag, last verify)").
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "migration/migration.h"
#include "migration/runbook.h"

namespace tandem::migration {

// The last verify's summary ({"started_at", "at", "differences", "transient"}), if any.
Result<std::optional<nlohmann::json>> LastVerify(Migration& m);

// True when the last verify found no difference and started after the backfill finished.
Result<bool> CleanVerifySinceBackfill(Migration& m, const MigrationState& st);

// Refuses (kFailedPrecondition) while a stream holds a table whose columns changed: its
// changes are kept, not applied, so the other side is behind on it. Not overridden by --force.
Status HoldGuard(Migration& m);

// Refuses (kFailedPrecondition) when the forward stream is more than o.max_lag changes
// behind, unless o.force.
Status LagGuard(Migration& m, const SwitchOptions& o);

// Refuses (kFailedPrecondition) while an index, check or foreign key of the mapping failed to
// build on the target (state key copy::kSchemaFailuresKey), unless o.force. A failed object
// since deleted from the mapping no longer counts.
Status SchemaGuard(Migration& m, const SwitchOptions& o);

}  // namespace tandem::migration
