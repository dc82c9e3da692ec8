// A lossless JSON form of values and rows, for the state store (chunk bounds, reject rows)
// and reports. Plain JSON scalars for null, bool, int and text; ["tag", payload] otherwise.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tandem/value.h"

namespace tandem {

nlohmann::json ValueToJson(const Value& v);
Result<Value> ValueFromJson(const nlohmann::json& j);
std::string RowToJson(const Row& row);
Result<Row> RowFromJson(std::string_view text);
// A readable JSON object {"col": display value} for reports.
nlohmann::json RowToReadableJson(const Row& row, const std::vector<std::string>& columns);

}  // namespace tandem
