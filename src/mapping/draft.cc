#include "mapping/draft.h"

#include <regex>

#include <fmt/format.h>

#include "core/text.h"

namespace tandem::mapping {

std::string YamlScalar(std::string_view s) {
  static const std::regex kPlain("^[A-Za-z_][A-Za-z0-9_]*$");
  static const std::regex kReserved(
      "^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|"
      "null|Null|NULL)$");
  std::string str(s);
  if (std::regex_match(str, kPlain) && !std::regex_match(str, kReserved)) return str;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string DraftYaml(const std::string& source_uri, const std::string& target_uri,
                      const std::vector<TableSchema>& tables,
                      const std::function<std::string(const PortableType&)>& target_type) {
  std::string y;
  y += "# tandem mapping, drafted by `tandem init`. Every source column is listed: map it\n";
  y += "# ({to: name, type: t, transform: [trim, lower], on_null: keep|default|reject}) or drop it\n";
  y += "# with a reason ({drop: \"why\"}). Passwords belong in TANDEM_SOURCE_PASSWORD and\n";
  y += "# TANDEM_TARGET_PASSWORD, not here.\n";
  y += fmt::format("source: {}\n", YamlScalar(source_uri));
  y += fmt::format("target: {}\n", YamlScalar(target_uri));
  y += "tables:\n";
  for (const auto& t : tables) {
    y += fmt::format("  - source: {}\n", YamlScalar(t.name));
    y += fmt::format("    target: {}\n", YamlScalar(t.name));
    if (t.primary_key.empty()) {
      y += "    # no primary key: name unique, non-null columns here or the table is refused\n";
      y += "    key: []\n";
    } else {
      std::string k;
      for (const auto& c : t.primary_key) k += (k.empty() ? "" : ", ") + YamlScalar(c);
      y += fmt::format("    key: [{}]\n", k);
    }
    y += "    columns:\n";
    for (const auto& c : t.columns) {
      std::string type = c.type.ToString();
      if (type.find(',') != std::string::npos) type = "\"" + type + "\"";  // flow-map comma
      std::string note;
      if (target_type) {
        std::string engine_type = target_type(c.type);
        if (!engine_type.empty()) note = "  # target: " + engine_type;
      }
      if (c.generated) note += note.empty() ? "  # generated in the source" : "; generated in the source";
      y += fmt::format("      {}: {{to: {}, type: {}}}{}\n", YamlScalar(c.name), YamlScalar(c.name),
                       type, note);
    }
  }
  return y;
}

}  // namespace tandem::mapping
