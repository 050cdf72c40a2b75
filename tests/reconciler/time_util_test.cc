#include "reconciler/time_util.h"

#include <gtest/gtest.h>

namespace crtoken {
namespace {

using std::chrono::sys_days;
using namespace std::chrono_literals;

TEST(ParseRfc3339, AcceptsZuluOffsetsAndFractions) {
  const Instant base = sys_days{std::chrono::year{2027} / 1 / 1};
  EXPECT_EQ(ParseRfc3339("2027-01-01T00:00:00Z"), base);
  EXPECT_EQ(ParseRfc3339("2027-01-01T01:00:00+01:00"), base);
  EXPECT_EQ(ParseRfc3339("2026-12-31T23:30:00-00:30"), base);
  EXPECT_EQ(ParseRfc3339("2027-01-01t00:00:00.999z"), base);
  EXPECT_EQ(ParseRfc3339("2027-01-01T00:00:00.000+00:00"), base);
}

TEST(ParseRfc3339, RejectsWhatIsNotAFullDateTime) {
  for (const char* bad :
       {"", "2027-01-01", "2027-01-01T00:00:00", "2027-02-30T00:00:00Z", "2027-13-01T00:00:00Z",
        "2027-01-01T24:00:00Z", "2027-01-01 00:00:00Z", "2027-01-01T00:00:00+0100",
        "2027-01-01T00:00:00Zjunk", "2027-01-01T00:00:00.Z", "tomorrow"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
}

TEST(FormatRfc3339, WritesTheApiForm) {
  EXPECT_EQ(FormatRfc3339(sys_days{std::chrono::year{2027} / 6 / 30} + 13h + 5min + 9s),
            "2027-06-30T13:05:09Z");
  auto round_trip = ParseRfc3339("2030-02-28T23:59:59+02:00");
  ASSERT_TRUE(round_trip);
  EXPECT_EQ(FormatRfc3339(*round_trip), "2030-02-28T21:59:59Z");
}

TEST(ParseDuration, UnitsAndCompounds) {
  EXPECT_EQ(ParseDuration("30s"), std::chrono::milliseconds(30s));
  EXPECT_EQ(ParseDuration("5m"), std::chrono::milliseconds(5min));
  EXPECT_EQ(ParseDuration("1h30m"), std::chrono::milliseconds(90min));
  EXPECT_EQ(ParseDuration("7d"), std::chrono::milliseconds(168h));
  EXPECT_EQ(ParseDuration("250ms"), std::chrono::milliseconds(250));
  for (const char* bad : {"", "5", "-5s", "5x", "s", "1.5h"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace crtoken
