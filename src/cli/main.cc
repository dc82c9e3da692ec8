// tandem's command line: parse with CLI11, call the library, map the result to an exit code.
#include <cstdio>
#include <functional>

#include <CLI/CLI.hpp>

#include "migration/commands.h"
#include "migration/session.h"

namespace {

using tandem::migration::kExitInvalid;

int Finish(const tandem::Result<int>& r) {
  if (r) return *r;
  std::fprintf(stderr, "tandem: %s\n", r.error().message.c_str());
  return tandem::migration::ExitFor(r.error());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tandem: move a live database to a new one, with no downtime and no lost row"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tandem 0.1.0");
  std::function<tandem::Result<int>()> run;
  std::string config = "tandem.yaml";

  tandem::migration::InitOptions init;
  auto* cmd_init = app.add_subcommand("init", "write a draft mapping listing every source column");
  cmd_init->add_option("--source", init.source, "source database URI")->required();
  cmd_init->add_option("--target", init.target, "target database URI")->required();
  cmd_init->add_option("-o,--output", init.output, "where to write the mapping");
  cmd_init->add_flag("--force", init.force, "overwrite an existing file");
  cmd_init->callback([&] { run = [&] { return tandem::migration::Init(init, stdout); }; });

  auto* cmd_check = app.add_subcommand("check", "validate the mapping against both databases");
  cmd_check->add_option("-c,--config", config, "mapping file");
  cmd_check->callback([&] { run = [&] { return tandem::migration::Check(config, stdout); }; });

  tandem::migration::CopyOptions copy;
  auto* cmd_copy = app.add_subcommand("copy", "copy every table through the mapping (resumable)");
  cmd_copy->add_option("-c,--config", copy.config_path, "mapping file");
  cmd_copy->add_flag("--restart", copy.restart, "forget checkpoints and copy everything again");
  cmd_copy->callback([&] { run = [&] { return tandem::migration::Copy(copy, stdout, stderr); }; });

  std::string reject_table;
  int reject_limit = 100;
  auto* cmd_rejects = app.add_subcommand("rejects", "list rows that could not land, with reasons");
  cmd_rejects->add_option("-c,--config", config, "mapping file");
  cmd_rejects->add_option("--table", reject_table, "only this source table");
  cmd_rejects->add_option("--limit", reject_limit, "at most this many per table");
  cmd_rejects->callback([&] {
    run = [&] { return tandem::migration::ShowRejects(config, reject_table, reject_limit, stdout); };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? rc : kExitInvalid;
  }
  return Finish(run());
}
