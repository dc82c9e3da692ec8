#include "migration/hooks.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

extern char** environ;

namespace tandem::migration {

Status RunHook(const mapping::Config& cfg, const std::string& name,
               const std::map<std::string, std::string>& env) {
  auto it = cfg.hooks.find(name);
  if (it == cfg.hooks.end() || it->second.empty()) return Ok();
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) vars.emplace_back(*e);
  vars.push_back("TANDEM_HOOK=" + name);
  vars.push_back("TANDEM_CONFIG=" + cfg.path);
  vars.push_back("TANDEM_HOOK_DIR=" + cfg.dir);
  for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
  std::vector<char*> envp;  // points into `vars`, which no longer changes
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string script = "cd \"$TANDEM_HOOK_DIR\" && " + it->second;
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), envp.data());
  if (rc != 0) {
    return Fail(Code::kFailedPrecondition, "hook {} ({}): cannot start: {}", name, it->second,
                std::strerror(rc));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Fail(Code::kFailedPrecondition, "hook {} ({}) failed with {} {}", name, it->second,
                WIFEXITED(status) ? "exit code" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  }
  return Ok();
}

}  // namespace tandem::migration
