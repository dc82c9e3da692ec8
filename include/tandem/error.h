// Errors and results. A call that can fail returns Result<T> or Status; the code says what
// the caller should do next (see STYLE.md), the message names the operation, the object and
// the server's words, and never a password.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace tandem {

enum class Code {
  kUnavailable,         // connection lost: retry with backoff
  kAborted,             // deadlock, serialization failure: retry the unit of work
  kDeadlineExceeded,    // a wait (a drain, a catch-up) ran out of time: retry later or raise it
  kFailedPrecondition,  // no primary key, missing privilege...: stop, tell the user how to fix
  kInvalidArgument,     // bad mapping, flags or URI
  kNotFound,            // a named table, column or file does not exist
  kDataLoss,            // an invariant about rows broke
  kInternal,            // a bug in tandem
};

std::string_view CodeName(Code code);

// What is wrong with a value or a row that cannot land: the kind of a reject and of an
// `assess` finding. kNone for errors that are not about a value.
enum class Problem {
  kNone,
  kNullViolation,     // NULL into NOT NULL (or on_null: reject)
  kInvalidEncoding,   // bytes that are not valid text in the declared or target encoding
  kMojibake,          // UTF-8 that was decoded as cp1252/latin1 and re-encoded
  kControlCharacter,  // NUL or another C0 control in text
  kInvalidDate,       // a zero or impossible date or timestamp
  kDstGap,            // a local time that does not exist in its zone
  kDstFold,           // a local time that exists twice in its zone
  kTooLong,           // text or bytes over the target length
  kOutOfRange,        // a number, precision, fraction or date the target type cannot hold
  kTypeMismatch,      // a value that does not cast to the target type at all
  kDuplicateKey,      // collides with another row on a target primary or unique key
  kOrphanReference,   // no parent row for a target foreign key
  kUnmappedValue,     // not in the column's `map` (on_unmapped: reject)
  kExpressionError,   // an `expr` transform failed
  kRefusedByTarget,   // the target database refused the row
};

// "null_violation", "dst_gap", ...: the name used in reports, JSON and the reject store.
std::string_view ProblemName(Problem problem);

struct Error {
  Code code = Code::kInternal;
  std::string message;
  Problem problem = Problem::kNone;  // set by casts and transforms refusing a value

  // Prefixes the message with what the caller was doing: "copy customers: <message>".
  Error& Context(std::string_view what) {
    message = fmt::format("{}: {}", what, message);
    return *this;
  }
  std::string ToString() const;
};

// A value or the Error that prevented it. [[nodiscard]]: an ignored error does not compile
// quietly (libstdc++'s std::expected is not marked so); discard one on purpose with (void).
template <typename T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(const std::expected<T, Error>& e) : std::expected<T, Error>(e) {}
  Result(std::expected<T, Error>&& e) : std::expected<T, Error>(std::move(e)) {}
};
using Status = Result<void>;

inline Status Ok() { return {}; }

template <typename... Args>
std::unexpected<Error> Fail(Code code, fmt::format_string<Args...> f, Args&&... args) {
  return std::unexpected(Error{code, fmt::format(f, std::forward<Args>(args)...)});
}

// Propagates an error from an expression returning Status or Result<T>.
#define TANDEM_RETURN_IF_ERROR(expr)                      \
  do {                                                    \
    auto _st = (expr);                                    \
    if (!_st) return std::unexpected(std::move(_st.error())); \
  } while (0)

#define TANDEM_CONCAT_INNER(a, b) a##b
#define TANDEM_CONCAT(a, b) TANDEM_CONCAT_INNER(a, b)
// Declares `lhs` from a Result<T>, or returns its error.
#define TANDEM_ASSIGN_OR_RETURN(lhs, expr) \
  TANDEM_ASSIGN_OR_RETURN_IMPL(TANDEM_CONCAT(_res_, __LINE__), lhs, expr)
#define TANDEM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)     \
  auto tmp = (expr);                                     \
  if (!tmp) return std::unexpected(std::move(tmp.error())); \
  lhs = std::move(*tmp)

}  // namespace tandem
