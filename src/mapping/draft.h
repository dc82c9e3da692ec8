// `tandem init`: a draft mapping that lists every table and every column of the source.
#pragma once

#include <functional>
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

// Quotes a YAML scalar when it needs it (spaces, reserved words like `yes` or `null`, ...).
std::string YamlScalar(std::string_view s);

}  // namespace tandem::mapping
