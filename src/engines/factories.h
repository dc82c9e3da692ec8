// Per-engine constructors behind OpenEngine(). Internal to src/engines/.
#pragma once

#include <memory>
#include <string>

#include "tandem/change_source.h"
#include "tandem/engine.h"

namespace tandem {

// `path` is an absolute or already-resolved file path.
Result<std::unique_ptr<Engine>> OpenSqlite(const std::string& path);
// `uri` is the full postgres:// or postgresql:// URI; `password` overrides a missing one.
Result<std::unique_ptr<Engine>> OpenPostgres(const std::string& uri, const std::string& password);
// `uri` is mysql://user[:pass]@host[:port]/db[?...]; `password` overrides a missing one.
Result<std::unique_ptr<Engine>> OpenMysql(const std::string& uri, const std::string& password);

// Trigger-based change sources behind OpenChangeSource(); invalid_argument when `engine` is
// not that engine's own class.
Result<std::unique_ptr<ChangeSource>> OpenSqliteTriggers(Engine& engine);
Result<std::unique_ptr<ChangeSource>> OpenPostgresTriggers(Engine& engine);
Result<std::unique_ptr<ChangeSource>> OpenMysqlTriggers(Engine& engine);

}  // namespace tandem
