#include <cstdlib>
#include <fstream>

#include "engine_suite.h"

namespace tandem::testing {

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
