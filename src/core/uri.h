// The one parser of database URIs: every engine's connect code and every redaction use it,
// so what is hidden from messages is exactly what is sent to the server as a password.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tandem/error.h"

namespace tandem {

// scheme://[user[:password]@]host[:port][/database][?k=v&...], or, for sqlite and file,
// scheme:PATH (sqlite:///abs/path, sqlite:rel.db; no user, password or parameters).
//
// The user info ends at the LAST '@' of the URI, and the user at the first ':' of the user
// info, so a password may hold '@', '/', ':', '?' and '#' unescaped. User, password, host,
// database and parameters are percent-decoded (%2F is '/'); a '%' not followed by two hex
// digits is an error. A host in brackets is an IPv6 address ([::1]:5432 -> host "::1").
struct Uri {
  struct Param {
    std::string key;    // as written (not lowered)
    std::string value;  // decoded
  };
  // A piece of the original text, [begin, end), for redaction.
  struct Span {
    size_t begin = 0;
    size_t end = 0;
  };

  std::string scheme;  // lowered: "postgres", "mysql", "sqlite"...
  std::string user;
  std::optional<std::string> password;  // nullopt: none written (not even "user:@")
  std::string host;                     // empty: the driver's default
  std::optional<unsigned> port;
  std::string database;  // the path without its leading '/'; for sqlite: the file path
  std::vector<Param> params;

  // Where the password (after the ':') and every `password=` parameter sit in the text.
  std::optional<Span> password_span;
  std::vector<Span> password_params;  // each spans "password=value" (without '&')

  // The value of parameter `key` (compared case-insensitively), nullopt when absent.
  std::optional<std::string> ParamValue(std::string_view key) const;
};

// Parses `uri`. Errors are kInvalidArgument and never quote the user info or parameters.
Result<Uri> ParseUri(std::string_view uri);

// Decodes %XX escapes; nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view s);

}  // namespace tandem
