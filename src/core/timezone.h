// Time zones of the IANA database (the system's /usr/share/zoneinfo, read by Howard Hinnant's
// date/tz library built with USE_OS_TZDB), for naive timestamps that mean local time
// somewhere: the mapping's `from_tz` / `to_tz` steps and `timezone:` defaults, and
// `tandem assess` (dst_gap, dst_fold). Internal (not part of include/tandem/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tandem/error.h"

namespace date {
class time_zone;
}

namespace tandem {

// One zone. Cheap to copy (the zone database lives for the whole process); thread-safe.
class TimeZone {
 public:
  // The zone named `name` ("Europe/Paris", "America/New_York", "UTC"; exact IANA spelling,
  // case-sensitive). Failure: kInvalidArgument "unknown time zone 'Europe/Pariss'"; also
  // kFailedPrecondition when the system zone database cannot be read at all (tzdata missing).
  static Result<TimeZone> Find(std::string_view name);
  // UTC without a database lookup.
  static TimeZone Utc();

  const std::string& name() const { return name_; }
  bool is_utc() const { return zone_ == nullptr; }

  // How a naive local time (microseconds since 1970-01-01 00:00:00 on the zone's wall clock)
  // falls in this zone.
  struct Local {
    enum class Kind {
      kUnique,  // exactly one instant: `utc`
      kGap,     // the wall clock skipped it (spring forward): no instant has it
      kFold,    // the wall clock showed it twice (fall back)
    };
    Kind kind = Kind::kUnique;
    // kUnique: the instant (microseconds since 1970-01-01 00:00:00 UTC).
    // kGap: the instant `shift_forward` gives: the local time read with the offset in force
    //   before the gap, i.e. moved forward by the gap's length (Europe/Paris 2024-03-31
    //   02:30 -> 03:30 CEST = 01:30 UTC), as PostgreSQL and java.time do.
    // kFold: the earlier of the two instants (the first pass, still on summer time).
    int64_t utc = 0;
    // kFold: the later instant (the second pass); otherwise equal to `utc`.
    int64_t utc_later = 0;
    // UTC offsets (seconds east) before and after the transition (kGap, kFold); for kUnique
    // both are the offset in force.
    int offset_before = 0;
    int offset_after = 0;
  };
  // REQUIRES: local_micros within years -32767..32767 (every Value::Timestamp an engine
  // produces is).
  Local Resolve(int64_t local_micros) const;

  // The wall-clock time in this zone of the instant `utc_micros`: always exactly one.
  int64_t ToLocal(int64_t utc_micros) const;

 private:
  TimeZone(const date::time_zone* zone, std::string name) : zone_(zone), name_(std::move(name)) {}
  const date::time_zone* zone_ = nullptr;  // nullptr: UTC
  std::string name_;
};

// Human words for a resolution, for reject messages: "2024-03-31 02:30:00 does not exist in
// Europe/Paris (the clocks jump from UTC+01:00 to UTC+02:00)", "2024-10-27 02:30:00 happens
// twice in Europe/Paris (UTC+02:00, then UTC+01:00)". "" for kUnique.
std::string DescribeLocal(const TimeZone& zone, int64_t local_micros, const TimeZone::Local& r);

}  // namespace tandem
