// The inverse of a table mapping, for the reverse stream (new -> old) after `switch writes`.
#pragma once

#include <vector>

#include "mapping/transform.h"

namespace tandem::mapping {

// Builds the mapping from the target table back to the source table: renames invert, casts
// cast back to the source column's type, a one-to-one value map inverts, constants added by
// the mapping are not written back. A transform that cannot be inverted (trim, lower, upper,
// default, a many-to-one map) refuses unless the column says `reverse: as_is` (write the new
// value back unchanged). Problems (each naming table and column) go to `problems`.
std::optional<TableTransform> CompileReverse(const TableMap& forward, const TableSchema& source,
                                             const TableSchema& target,
                                             std::vector<std::string>& problems);

// Compiles the reverse of every mapped table; the error lists every problem.
Result<std::vector<TableTransform>> CompileAllReverse(const Config& cfg,
                                                      const std::vector<TableSchema>& source,
                                                      const std::vector<TableSchema>& target);

}  // namespace tandem::mapping
