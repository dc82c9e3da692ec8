#include <cstdlib>
#include <filesystem>

#include "engines/factories.h"
#include "engines/mysql/mysql_types.h"
#include "engines/postgres/pg_values.h"
#include "engines/sqlite/sqlite_dialect.h"
#include "tandem/engine.h"

namespace tandem {

std::string EngineKindOfUri(const std::string& uri) {
  if (uri.starts_with("sqlite:")) return "sqlite";
  if (uri.starts_with("postgres://") || uri.starts_with("postgresql://")) return "postgres";
  if (uri.starts_with("mysql://") || uri.starts_with("mariadb://")) return "mysql";
  return "";
}

std::string EngineTypeName(std::string_view engine_kind, const PortableType& type) {
  if (engine_kind == "sqlite") return sqlite::SqliteTypeFor(type);
  if (engine_kind == "postgres") return pg::PgTypeFor(type);
  if (engine_kind == "mysql") return mysql::MysqlTypeFor(type, {}).sql;
  return type.ToString();
}

Result<std::unique_ptr<Engine>> OpenEngine(const std::string& uri, const std::string& base_dir,
                                           const std::string& password_env,
                                           IfMissing if_missing) {
  std::string password;
  if (!password_env.empty()) {
    if (const char* p = std::getenv(password_env.c_str())) password = p;
  }
  auto starts = [&](std::string_view p) { return uri.starts_with(p); };
  if (starts("sqlite:")) {
    auto path = SqlitePath(uri, base_dir);
    if (!path) return Fail(Code::kInvalidArgument, "sqlite URI has no path: {}", uri);
    std::error_code ec;
    if (if_missing == IfMissing::kFail && !std::filesystem::exists(*path, ec)) {
      return Fail(Code::kNotFound, "sqlite database {} does not exist", *path);
    }
    return OpenSqlite(*path);
  }
  if (starts("postgres://") || starts("postgresql://")) return OpenPostgres(uri, password);
  if (starts("mysql://") || starts("mariadb://")) return OpenMysql(uri, password);
  return Fail(Code::kInvalidArgument,
              "unknown database URI '{}': expected sqlite:PATH, postgres://... or mysql://...",
              RedactUri(uri));
}

Result<std::unique_ptr<ChangeSource>> OpenChangeSource(Engine& engine, std::string_view method) {
  if (method != "triggers") {
    return Fail(Code::kInvalidArgument, "capture method '{}' is not known (known: triggers)",
                method);
  }
  std::string_view kind = engine.kind();
  if (kind == "sqlite") return OpenSqliteTriggers(engine);
  if (kind == "postgres") return OpenPostgresTriggers(engine);
  if (kind == "mysql") return OpenMysqlTriggers(engine);
  return Fail(Code::kInvalidArgument, "no {} capture for engine '{}'", method, kind);
}

}  // namespace tandem
