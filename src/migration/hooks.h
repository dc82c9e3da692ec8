// Hooks: user commands run at each switch so the application (or its pooler) can follow.
#pragma once

#include <map>
#include <string>

#include "mapping/config.h"

namespace tandem::migration {

// Runs hooks.<name> from the mapping with /bin/sh in the mapping's directory, with
// TANDEM_HOOK, TANDEM_PHASE, TANDEM_READS, TANDEM_WRITES (old|new) and `extra` in the
// environment, and the rest of tandem's environment except the passwords
// (TANDEM_SOURCE_PASSWORD, TANDEM_TARGET_PASSWORD, PGPASSWORD, MYSQL_PWD). No hook
// configured: Ok. A hook that fails (non-zero exit) is an error (kFailedPrecondition) that
// names it, so the switch aborts.
Status RunHook(const mapping::Config& cfg, const std::string& name,
               const std::map<std::string, std::string>& env);

}  // namespace tandem::migration
