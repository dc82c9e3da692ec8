#include "tandem/error.h"

namespace tandem {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kUnavailable: return "unavailable";
    case Code::kAborted: return "aborted";
    case Code::kDeadlineExceeded: return "deadline_exceeded";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kDataLoss: return "data_loss";
    case Code::kInternal: return "internal";
  }
  return "internal";
}

std::string_view ProblemName(Problem problem) {
  switch (problem) {
    case Problem::kNone: return "none";
    case Problem::kNullViolation: return "null_violation";
    case Problem::kInvalidEncoding: return "invalid_encoding";
    case Problem::kMojibake: return "mojibake";
    case Problem::kControlCharacter: return "control_character";
    case Problem::kInvalidDate: return "invalid_date";
    case Problem::kDstGap: return "dst_gap";
    case Problem::kDstFold: return "dst_fold";
    case Problem::kTooLong: return "too_long";
    case Problem::kOutOfRange: return "out_of_range";
    case Problem::kTypeMismatch: return "type_mismatch";
    case Problem::kDuplicateKey: return "duplicate_key";
    case Problem::kOrphanReference: return "orphan_reference";
    case Problem::kUnmappedValue: return "unmapped_value";
    case Problem::kExpressionError: return "expression_error";
    case Problem::kRefusedByTarget: return "refused_by_target";
  }
  return "unknown";
}

std::string Error::ToString() const { return fmt::format("{} ({})", message, CodeName(code)); }

}  // namespace tandem
