// What every trigger-based change source does alike: its Position is the change table's
// sequence number as decimal text ("" is 0, before every change). Internal to src/engines/.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>

#include "tandem/change_source.h"

namespace tandem {

inline Position SeqPosition(int64_t seq) { return Position{seq == 0 ? "" : std::to_string(seq)}; }

// The sequence number of a trigger position; invalid_argument for anything else (a position
// of another capture method, or a corrupted checkpoint).
inline Result<int64_t> SeqOf(const Position& p, std::string_view what) {
  if (p.text.empty()) return int64_t{0};
  int64_t seq = -1;
  auto [ptr, ec] = std::from_chars(p.text.data(), p.text.data() + p.text.size(), seq);
  if (ec != std::errc() || ptr != p.text.data() + p.text.size() || seq < 0) {
    return Fail(Code::kInvalidArgument,
                "{}: '{}' is not a position of trigger capture (a change sequence number)", what,
                p.text);
  }
  return seq;
}

class SeqChangeSource : public ChangeSource {
 public:
  std::string_view method() const override { return "triggers"; }
  Result<bool> Covers(const Position& a, const Position& b) const override {
    TANDEM_ASSIGN_OR_RETURN(int64_t sa, SeqOf(a, "compare positions"));
    TANDEM_ASSIGN_OR_RETURN(int64_t sb, SeqOf(b, "compare positions"));
    return sa >= sb;
  }
};

}  // namespace tandem
