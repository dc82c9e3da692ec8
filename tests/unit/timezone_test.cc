// Time zones from the system tzdata (src/core/timezone.h).
#include "core/timezone.h"

#include <gtest/gtest.h>

#include "tandem/value.h"

namespace tandem {
namespace {

int64_t Ts(const char* s) { return *ParseTimestamp(s); }
std::string Fmt(int64_t us) { return FormatTimestamp(us); }

TEST(TimeZone, UnknownNamesAreRefused) {
  auto z = TimeZone::Find("Europe/Pariss");
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error().code, Code::kInvalidArgument);
  EXPECT_NE(z.error().message.find("unknown time zone 'Europe/Pariss'"), std::string::npos);
  EXPECT_FALSE(TimeZone::Find(""));
  EXPECT_TRUE(TimeZone::Find("UTC"));
  EXPECT_TRUE(TimeZone::Find("Etc/UTC"));
}

TEST(TimeZone, ParisUniqueGapAndFold) {
  auto paris = *TimeZone::Find("Europe/Paris");
  auto winter = paris.Resolve(Ts("2024-01-15 12:00:00"));
  EXPECT_EQ(winter.kind, TimeZone::Local::Kind::kUnique);
  EXPECT_EQ(Fmt(winter.utc), "2024-01-15 11:00:00");
  auto summer = paris.Resolve(Ts("2024-07-01 12:00:00.250000"));
  EXPECT_EQ(Fmt(summer.utc), "2024-07-01 10:00:00.25");

  // 2024-03-31: 02:00 CET becomes 03:00 CEST.
  auto gap = paris.Resolve(Ts("2024-03-31 02:30:00"));
  EXPECT_EQ(gap.kind, TimeZone::Local::Kind::kGap);
  EXPECT_EQ(Fmt(gap.utc), "2024-03-31 01:30:00");  // shift_forward: 03:30 CEST
  EXPECT_EQ(Fmt(paris.ToLocal(gap.utc)), "2024-03-31 03:30:00");
  EXPECT_EQ(gap.offset_before, 3600);
  EXPECT_EQ(gap.offset_after, 7200);
  EXPECT_EQ(paris.Resolve(Ts("2024-03-31 02:00:00")).kind, TimeZone::Local::Kind::kGap);
  EXPECT_EQ(paris.Resolve(Ts("2024-03-31 01:59:59.999999")).kind, TimeZone::Local::Kind::kUnique);
  EXPECT_EQ(paris.Resolve(Ts("2024-03-31 03:00:00")).kind, TimeZone::Local::Kind::kUnique);
  EXPECT_EQ(DescribeLocal(paris, Ts("2024-03-31 02:30:00"), gap),
            "2024-03-31 02:30:00 does not exist in Europe/Paris (the clocks jump from UTC+01:00 "
            "to UTC+02:00)");

  // 2024-10-27: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happens twice.
  auto fold = paris.Resolve(Ts("2024-10-27 02:30:00"));
  EXPECT_EQ(fold.kind, TimeZone::Local::Kind::kFold);
  EXPECT_EQ(Fmt(fold.utc), "2024-10-27 00:30:00");        // earlier: CEST
  EXPECT_EQ(Fmt(fold.utc_later), "2024-10-27 01:30:00");  // later: CET
  EXPECT_EQ(Fmt(paris.ToLocal(fold.utc)), "2024-10-27 02:30:00");
  EXPECT_EQ(Fmt(paris.ToLocal(fold.utc_later)), "2024-10-27 02:30:00");
  EXPECT_EQ(paris.Resolve(Ts("2024-10-27 03:00:00")).kind, TimeZone::Local::Kind::kUnique);
  EXPECT_EQ(paris.Resolve(Ts("2024-10-27 01:59:59")).kind, TimeZone::Local::Kind::kUnique);
  EXPECT_EQ(DescribeLocal(paris, Ts("2024-10-27 02:30:00"), fold),
            "2024-10-27 02:30:00 happens twice in Europe/Paris (UTC+02:00, then UTC+01:00)");
}

TEST(TimeZone, NewYorkUniqueGapAndFold) {
  auto ny = *TimeZone::Find("America/New_York");
  EXPECT_EQ(Fmt(ny.Resolve(Ts("2024-01-15 12:00:00")).utc), "2024-01-15 17:00:00");
  // 2024-03-10: 02:00 EST becomes 03:00 EDT.
  auto gap = ny.Resolve(Ts("2024-03-10 02:15:00"));
  EXPECT_EQ(gap.kind, TimeZone::Local::Kind::kGap);
  EXPECT_EQ(Fmt(gap.utc), "2024-03-10 07:15:00");  // = 03:15 EDT
  EXPECT_EQ(Fmt(ny.ToLocal(gap.utc)), "2024-03-10 03:15:00");
  // 2024-11-03: 02:00 EDT becomes 01:00 EST.
  auto fold = ny.Resolve(Ts("2024-11-03 01:30:00"));
  EXPECT_EQ(fold.kind, TimeZone::Local::Kind::kFold);
  EXPECT_EQ(Fmt(fold.utc), "2024-11-03 05:30:00");
  EXPECT_EQ(Fmt(fold.utc_later), "2024-11-03 06:30:00");
  EXPECT_EQ(fold.offset_before, -4 * 3600);
  EXPECT_EQ(fold.offset_after, -5 * 3600);
}

TEST(TimeZone, UtcIsIdentity) {
  auto utc = TimeZone::Utc();
  EXPECT_TRUE(utc.is_utc());
  auto r = utc.Resolve(Ts("2024-03-31 02:30:00"));
  EXPECT_EQ(r.kind, TimeZone::Local::Kind::kUnique);
  EXPECT_EQ(Fmt(r.utc), "2024-03-31 02:30:00");
  EXPECT_EQ(Fmt(utc.ToLocal(Ts("2024-03-31 02:30:00"))), "2024-03-31 02:30:00");
}

TEST(TimeZone, ToLocalAndBackAgreeOutsideTransitions) {
  auto paris = *TimeZone::Find("Europe/Paris");
  for (int64_t utc = Ts("1990-01-01 00:00:00"); utc < Ts("2030-01-01 00:00:00");
       utc += int64_t{7919} * 60 * 1'000'000) {
    int64_t local = paris.ToLocal(utc);
    auto r = paris.Resolve(local);
    ASSERT_NE(r.kind, TimeZone::Local::Kind::kGap) << Fmt(local);
    EXPECT_TRUE(r.utc == utc || r.utc_later == utc) << Fmt(utc);
  }
}

}  // namespace
}  // namespace tandem
