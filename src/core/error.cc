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

std::string Error::ToString() const { return fmt::format("{} ({})", message, CodeName(code)); }

}  // namespace tandem
