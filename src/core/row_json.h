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
// A readable JSON object {"col": display value} for reports. A display value longer than
// `max_chars` is cut there and says how much was left out ("…(+1048576 more)"): a reject holds
// a readable copy of its row, and rows of large values would otherwise make the rejects of a
// chunk as large as the chunk (the row itself stays in the source, found by its key).
inline constexpr size_t kReadableValueChars = 4096;
nlohmann::json RowToReadableJson(const Row& row, const std::vector<std::string>& columns,
                                 size_t max_chars = kReadableValueChars);

}  // namespace tandem
