#include "migration/hooks.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string_view>
#include <vector>

extern char** environ;

namespace tandem::migration {

namespace {

// The passwords tandem reads from its environment, and those the client tools read: a hook is
// the user's script (a pooler reload, a notification) and has no use for them.
constexpr std::string_view kSecretVariables[] = {"TANDEM_SOURCE_PASSWORD", "TANDEM_TARGET_PASSWORD",
                                                 "PGPASSWORD", "MYSQL_PWD"};

// Whether "NAME=value" sets one of kSecretVariables.
bool IsSecret(std::string_view var) {
  std::string_view name = var.substr(0, var.find('='));
  for (std::string_view s : kSecretVariables) {
    if (name == s) return true;
  }
  return false;
}

}  // namespace

Status RunHook(const mapping::Config& cfg, const std::string& name,
               const std::map<std::string, std::string>& env) {
  auto it = cfg.hooks.find(name);
  if (it == cfg.hooks.end() || it->second.empty()) return Ok();
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) {
    if (!IsSecret(*e)) vars.emplace_back(*e);
  }
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
