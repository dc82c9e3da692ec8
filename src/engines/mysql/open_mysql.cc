// Placeholder until the MariaDB engine lands; replaced by mysql_engine.cc.
#include "engines/factories.h"

namespace tandem {
Result<std::unique_ptr<Engine>> OpenMysql(const std::string& uri, const std::string&) {
  return Fail(Code::kFailedPrecondition, "the MariaDB engine is not built yet ({})",
              RedactUri(uri));
}
}  // namespace tandem
