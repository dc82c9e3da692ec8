#include "core/row_json.h"

#include <cmath>

#include "core/text.h"

namespace tandem {

namespace {

std::string Hex(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> Unhex(std::string_view s) {
  if (s.size() % 2) return std::nullopt;
  std::string out;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); i += 2) {
    int a = nib(s[i]), b = nib(s[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    out += static_cast<char>(a * 16 + b);
  }
  return out;
}

}  // namespace

nlohmann::json ValueToJson(const Value& v) {
  using nlohmann::json;
  switch (v.kind()) {
    case Kind::kNull: return nullptr;
    case Kind::kBool: return v.as_bool();
    case Kind::kInt: return v.as_int();
    case Kind::kText:
      // JSON holds only UTF-8; text that is not (mojibake, raw latin1) keeps its bytes.
      if (!IsValidUtf8(v.as_str())) return json::array({"x", Hex(v.as_str())});
      return v.as_str();
    case Kind::kFloat: return json::array({"f", v.ToString()});
    case Kind::kDecimal: return json::array({"n", v.as_str()});
    case Kind::kBytes: return json::array({"b", Hex(v.as_str())});
    case Kind::kDate: return json::array({"d", v.as_int()});
    case Kind::kTime: return json::array({"t", v.as_int()});
    case Kind::kTimestamp: return json::array({"ts", v.as_int()});
    case Kind::kTimestampTz: return json::array({"tz", v.as_int()});
    case Kind::kJson: return json::array({"j", v.as_str()});
    case Kind::kUuid: return json::array({"u", Hex(v.as_str())});
    case Kind::kUndecodable: return json::array({"e", v.as_str()});
  }
  return nullptr;
}

Result<Value> ValueFromJson(const nlohmann::json& j) {
  if (j.is_null()) return Value::Null();
  if (j.is_boolean()) return Value::Bool(j.get<bool>());
  if (j.is_number_integer()) return Value::Int(j.get<int64_t>());
  if (j.is_string()) return Value::Text(j.get<std::string>());
  if (j.is_array() && j.size() == 2 && j[0].is_string()) {
    std::string tag = j[0].get<std::string>();
    const auto& p = j[1];
    if (tag == "f" && p.is_string()) {
      auto v = CastTo(Value::Text(p.get<std::string>()), PortableType{.kind = Kind::kFloat});
      if (v) return v;
    }
    if (tag == "n" && p.is_string()) return Value::Decimal(p.get<std::string>());
    if ((tag == "b" || tag == "u" || tag == "x") && p.is_string()) {
      if (auto raw = Unhex(p.get<std::string>())) {
        if (tag == "x") return Value::Text(*raw);
        return tag == "b" ? Value::Bytes(*raw) : Value::Uuid(*raw);
      }
    }
    if (p.is_number_integer()) {
      int64_t x = p.get<int64_t>();
      if (tag == "d") return Value::Date(static_cast<int32_t>(x));
      if (tag == "t") return Value::Time(x);
      if (tag == "ts") return Value::Timestamp(x);
      if (tag == "tz") return Value::TimestampTz(x);
    }
    if (tag == "j" && p.is_string()) return Value::Json(p.get<std::string>());
    if (tag == "e" && p.is_string()) return Value::Undecodable(p.get<std::string>());
  }
  return Fail(Code::kDataLoss, "stored value {} is not in tandem's value form", j.dump());
}

std::string RowToJson(const Row& row) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& v : row) a.push_back(ValueToJson(v));
  return a.dump();
}

Result<Row> RowFromJson(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return Fail(Code::kDataLoss, "stored row '{}' is not a JSON array", text);
  }
  Row row;
  for (const auto& x : j) {
    TANDEM_ASSIGN_OR_RETURN(Value v, ValueFromJson(x));
    row.push_back(std::move(v));
  }
  return row;
}

nlohmann::json RowToReadableJson(const Row& row, const std::vector<std::string>& columns,
                                 size_t max_chars) {
  nlohmann::json o = nlohmann::json::object();
  for (size_t i = 0; i < row.size() && i < columns.size(); ++i) {
    const Value& v = row[i];
    if (v.is_null()) {
      o[columns[i]] = nullptr;
    } else if (v.kind() == Kind::kInt) {
      o[columns[i]] = v.as_int();
    } else if (v.kind() == Kind::kBool) {
      o[columns[i]] = v.as_bool();
    } else if (v.kind() == Kind::kText && !IsValidUtf8(v.as_str())) {
      o[columns[i]] = ValueToJson(v);
    } else if (v.as_str().size() > max_chars) {
      // Cut the payload before formatting it (bytes print as hex, twice their size), at a
      // UTF-8 character boundary for text.
      size_t cut = max_chars / (v.kind() == Kind::kBytes ? 2 : 1);
      if (v.kind() != Kind::kBytes) {
        while (cut > 0 && (static_cast<unsigned char>(v.as_str()[cut]) & 0xC0) == 0x80) --cut;
      }
      Value head = v;
      head.SetStr(v.kind(), std::string_view(v.as_str()).substr(0, cut));
      o[columns[i]] = fmt::format("{}…(+{} more)", head.ToString(), v.as_str().size() - cut);
    } else {
      o[columns[i]] = v.ToString();
    }
  }
  return o;
}

}  // namespace tandem
