#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "engine_suite.h"

namespace tandem::testing {

std::string Describe(const std::vector<Change>& changes) {
  std::string out;
  for (const auto& c : changes) {
    out += fmt::format("{}:", c.position.text);
    out += DescribeKeys({c});
  }
  return out;
}

std::string DescribeKeys(const std::vector<Change>& changes) {
  std::string out;
  for (const auto& c : changes) {
    out += fmt::format("{}{}(", c.table, c.op);
    for (size_t i = 0; i < c.key.size(); ++i) out += (i ? "," : "") + c.key[i].ToDisplay();
    out += ") ";
  }
  return out;
}

std::string TestServerVar(const std::string& key) {
  const char* dir = std::getenv("TANDEM_TEST_SERVERS");
  if (!dir) return "";
  std::ifstream in(std::string(dir) + "/env");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key + "=")) return line.substr(key.size() + 1);
  }
  return "";
}

}  // namespace tandem::testing
