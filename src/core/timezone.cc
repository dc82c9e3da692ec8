#include "core/timezone.h"

#include <chrono>
#include <stdexcept>

#include <date/tz.h>

#include "tandem/value.h"

namespace tandem {

namespace {

using Micros = std::chrono::microseconds;

std::string Offset(int seconds) {
  char sign = seconds < 0 ? '-' : '+';
  int s = seconds < 0 ? -seconds : seconds;
  return s % 60 == 0 ? fmt::format("UTC{}{:02}:{:02}", sign, s / 3600, s / 60 % 60)
                     : fmt::format("UTC{}{:02}:{:02}:{:02}", sign, s / 3600, s / 60 % 60, s % 60);
}

}  // namespace

Result<TimeZone> TimeZone::Find(std::string_view name) {
  if (name == "UTC") return Utc();
  try {
    const date::time_zone* z = date::locate_zone(name);
    return TimeZone(z, std::string(name));
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    // locate_zone says "<name> not found in timezone database" for a name it does not know;
    // anything else is the database itself (no /usr/share/zoneinfo).
    if (what.find("not found") != std::string::npos) {
      return Fail(Code::kInvalidArgument,
                  "unknown time zone '{}' (use an IANA name such as Europe/Paris, "
                  "America/New_York or UTC)",
                  name);
    }
    return Fail(Code::kFailedPrecondition,
                "cannot read the system time zone database (/usr/share/zoneinfo, package "
                "tzdata): {}",
                what);
  }
}

TimeZone TimeZone::Utc() { return TimeZone(nullptr, "UTC"); }

TimeZone::Local TimeZone::Resolve(int64_t local_micros) const {
  Local r;
  if (!zone_) {
    r.utc = r.utc_later = local_micros;
    return r;
  }
  date::local_time<Micros> lt{Micros{local_micros}};
  auto info = zone_->get_info(date::floor<std::chrono::seconds>(lt));
  auto to_utc = [&](std::chrono::seconds offset) {
    return local_micros - std::chrono::duration_cast<Micros>(offset).count();
  };
  switch (info.result) {
    case date::local_info::unique:
      r.kind = Local::Kind::kUnique;
      r.utc = r.utc_later = to_utc(info.first.offset);
      r.offset_before = r.offset_after = static_cast<int>(info.first.offset.count());
      break;
    case date::local_info::nonexistent:
      // first: the period before the gap, second: after it.
      r.kind = Local::Kind::kGap;
      r.utc = r.utc_later = to_utc(info.first.offset);
      r.offset_before = static_cast<int>(info.first.offset.count());
      r.offset_after = static_cast<int>(info.second.offset.count());
      break;
    case date::local_info::ambiguous:
      r.kind = Local::Kind::kFold;
      r.utc = to_utc(info.first.offset);
      r.utc_later = to_utc(info.second.offset);
      r.offset_before = static_cast<int>(info.first.offset.count());
      r.offset_after = static_cast<int>(info.second.offset.count());
      break;
  }
  return r;
}

int64_t TimeZone::ToLocal(int64_t utc_micros) const {
  if (!zone_) return utc_micros;
  date::sys_time<Micros> st{Micros{utc_micros}};
  auto info = zone_->get_info(date::floor<std::chrono::seconds>(st));
  return utc_micros + std::chrono::duration_cast<Micros>(info.offset).count();
}

std::string DescribeLocal(const TimeZone& zone, int64_t local_micros, const TimeZone::Local& r) {
  switch (r.kind) {
    case TimeZone::Local::Kind::kGap:
      return fmt::format("{} does not exist in {} (the clocks jump from {} to {})",
                         FormatTimestamp(local_micros), zone.name(), Offset(r.offset_before),
                         Offset(r.offset_after));
    case TimeZone::Local::Kind::kFold:
      return fmt::format("{} happens twice in {} ({}, then {})", FormatTimestamp(local_micros),
                         zone.name(), Offset(r.offset_before), Offset(r.offset_after));
    case TimeZone::Local::Kind::kUnique: break;
  }
  return "";
}

}  // namespace tandem
