// `tandem init`: a draft mapping that lists every table and every column of the source.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/schema.h"

namespace tandem::mapping {

// Writes tandem.yaml text: every source table identity-mapped, every column with its portable
// type, tables without a primary key flagged with a comment and a `key:` to fill in.
// `target_type` names the column type the target engine will create for a portable type; it
// is written as a comment next to each column (nothing when it returns "").
std::string DraftYaml(const std::string& source_uri, const std::string& target_uri,
                      const std::vector<TableSchema>& tables,
                      const std::function<std::string(const PortableType&)>& target_type = {});

// What the draft needs to know about the two engines.
struct DraftEngines {
  std::string source_kind, target_kind;  // "sqlite", "postgres", "mysql"; "" when unknown
  std::function<std::string(const PortableType&)> target_type;
  std::vector<UnmigratedObject> unmigrated;  // listed as comments at the top
  // Why a column's type was drafted from its stored values, by table and column (see
  // TypeFromStoredClasses); written as a comment next to the column.
  std::map<std::pair<std::string, std::string>, std::string> type_notes;
};

// A column's type drafted from what its values are stored as (Engine::StoredClasses), and why.
struct StoredTypeChoice {
  PortableType type;
  std::string why;
};
// For a column with no declared type, the type that takes its values: integers alone bigint,
// reals alone double, both decimal, any text (and numbers) text, any blob bytes, no values
// text. For a declared type, the same when none of its values can ever become that type (a
// DATETIME holding only integers); when only some cannot, the declared type is kept and `why`
// says how many values will be rejected. nullopt when there is nothing to say.
std::optional<StoredTypeChoice> TypeFromStoredClasses(const Column& column,
                                                      const StoredClassCounts& counts);
// The draft with each table's defaults, identities, indexes, foreign keys and checks,
// translated to the target engine. What cannot be translated is written as a comment that
// says why, and is left out of the mapping.
std::string DraftYaml(const std::string& source_uri, const std::string& target_uri,
                      const std::vector<TableSchema>& tables, const DraftEngines& engines);

// An SQL condition (a CHECK, a partial index predicate) written for engine `from`, rewritten
// for engine `to`: identifier quotes, PostgreSQL casts ('a'::text), = ANY (ARRAY[...]) as
// IN (...), ~~ as LIKE. nullopt when something engine-specific is left.
std::optional<std::string> TranslateSql(std::string_view expr, std::string_view from,
                                        std::string_view to);

// Quotes a YAML scalar when it needs it (spaces, reserved words like `yes` or `null`, ...).
std::string YamlScalar(std::string_view s);

}  // namespace tandem::mapping
