// The inverse of a table mapping, for the reverse stream (new -> old) after `switch writes`.
#pragma once

#include <vector>

#include "mapping/transform.h"

namespace tandem::mapping {

// Builds the mapping from the target table back to the source table: renames invert, casts
// cast back to the source column's type, a one-to-one value map inverts, constants added by
// the mapping are not written back, from_tz/to_tz and the `timezone:` default convert back to
// the old wall clock (a fold takes the earlier instant, a gap is refused), decode of a bytes
// column with latin1/cp1252/mariadb_latin1/utf-8 encodes back. A transform that cannot be
// inverted (trim, lower, upper, default, fix_mojibake, expr, decode with another encoding or
// into a text column, a many-to-one map) refuses unless the column says `reverse: as_is`
// (write the new value back unchanged); an `add:` expression whose `from:` columns are not
// mapped otherwise refuses unless it says `reverse: none`. zero_date needs nothing (it only
// touches values the new side cannot hold). Problems (each naming table and column) go to
// `problems`. `cfg` gives the file's `timezone:`.
std::optional<TableTransform> CompileReverse(const TableMap& forward, const TableSchema& source,
                                             const TableSchema& target,
                                             std::vector<std::string>& problems,
                                             const Config* cfg = nullptr);

// Compiles the reverse of every mapped table; the error lists every problem.
Result<std::vector<TableTransform>> CompileAllReverse(const Config& cfg,
                                                      const std::vector<TableSchema>& source,
                                                      const std::vector<TableSchema>& target);

}  // namespace tandem::mapping
