// URI helpers every layer needs without linking the engines (the state store opens its own
// SQLite file from a sqlite: URI).
#include <filesystem>

#include "tandem/engine.h"

namespace tandem {

std::optional<std::string> SqlitePath(const std::string& uri, const std::string& base_dir) {
  if (!uri.starts_with("sqlite:")) return std::nullopt;
  std::string path = uri.substr(7);
  if (path.starts_with("//")) path = path.substr(2);  // sqlite:///abs -> /abs
  if (path.empty()) return std::nullopt;
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
  return p.lexically_normal().string();
}

}  // namespace tandem
