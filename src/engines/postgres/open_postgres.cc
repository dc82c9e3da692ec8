// Placeholder until the PostgreSQL engine lands; replaced by postgres_engine.cc.
#include "engines/factories.h"

namespace tandem {
Result<std::unique_ptr<Engine>> OpenPostgres(const std::string& uri, const std::string&) {
  return Fail(Code::kFailedPrecondition, "the PostgreSQL engine is not built yet ({})",
              RedactUri(uri));
}
}  // namespace tandem
