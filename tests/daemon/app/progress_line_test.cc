// ProgressLine: given events at given (fake) times, the exact bytes for the terminal.
#include "daemon/app/progress_line.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::FakeClock;

class ProgressLineTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  std::vector<std::string> out_;
  ProgressLine line_{"apply", 20, clock_, [this](std::string_view b) { out_.emplace_back(b); }};

  static std::string Drawn(const std::string& text) { return "\r" + text + "\x1b[K"; }
};

TEST_F(ProgressLineTest, AThousandTokensAtTheDefaultRateLimitSayFiftySeconds) {
  line_.OnProgress({0, 1000});
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0], Drawn("apply: 0/1000 actions done, about 50 s left at --api-qps 20"));
}

TEST_F(ProgressLineTest, RateAndTimeLeftAndTheRateLimitWait) {
  line_.OnProgress({0, 1000});
  clock_.Advance(seconds(10));
  line_.OnWait({ApiWait::Cause::kRateLimit, milliseconds(400), ""});
  line_.OnProgress({200, 1000});
  ASSERT_EQ(out_.size(), 2u);  // the wait was drawn; the progress 0 ms later was not (throttled)
  EXPECT_EQ(out_[1],
            Drawn("apply: 0/1000 actions done, about 50 s left; waiting for the client rate "
                  "limit (--api-qps 20)"));
  clock_.Advance(milliseconds(200));  // still within the wait: the time left is at --api-qps
  line_.OnProgress({204, 1000});
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[2],
            Drawn("apply: 204/1000 actions done, 20.0/s, about 40 s left; waiting for the client "
                  "rate limit (--api-qps 20)"));
  clock_.Advance(seconds(1));  // the wait has passed: the time left is at the observed rate
  line_.OnProgress({210, 1000});
  ASSERT_EQ(out_.size(), 4u);
  EXPECT_EQ(out_[3], Drawn("apply: 210/1000 actions done, 18.8/s, about 43 s left"));
}

TEST_F(ProgressLineTest, ARetryAfterIsShownAtOnceUntilItHasPassed) {
  line_.OnProgress({0, 10});
  clock_.Advance(milliseconds(50));
  line_.OnWait({ApiWait::Cause::kRetry, seconds(30), "429 (Retry-After 30s)"});
  ASSERT_EQ(out_.size(), 2u);  // not throttled
  EXPECT_EQ(out_[1],
            Drawn("apply: 0/10 actions done, about 1 s left at --api-qps 20; waiting 30 s to "
                  "retry: 429 (Retry-After 30s)"));
  clock_.Advance(seconds(30));
  line_.OnProgress({10, 10});  // the last action is always drawn
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[2], Drawn("apply: 10/10 actions done, 0.3/s"));
}

TEST_F(ProgressLineTest, FinishEndsTheLineOnceAndNothingFollows) {
  line_.Finish();
  EXPECT_TRUE(out_.empty());  // nothing was shown: nothing to end
  ProgressLine line("apply", 20, clock_, [this](std::string_view b) { out_.emplace_back(b); });
  line.OnProgress({0, 2});
  clock_.Advance(seconds(1));
  line.OnProgress({2, 2});
  line.Finish();
  line.Finish();
  line.OnProgress({0, 3});
  line.Clear();
  line.Redraw();
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[2], "\rapply: 2/2 actions done, 2.0/s\x1b[K\n");
}

TEST_F(ProgressLineTest, LogLinesGoAroundTheLine) {
  std::ostringstream logs;
  auto plain =
      std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::ostream_sink_mt>(logs));
  plain->set_pattern("%v");
  auto before = spdlog::default_logger();
  spdlog::set_default_logger(plain);
  line_.OnProgress({0, 5});
  KeepLogsClearOf(&line_);
  spdlog::info("a log line");
  RestoreLogging();
  spdlog::info("after");
  spdlog::set_default_logger(before);
  EXPECT_EQ(logs.str(), "a log line\nafter\n");
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[1], "\r\x1b[K");  // cleared before the log line
  EXPECT_EQ(out_[2], out_[0]);     // drawn again after it
}

}  // namespace
}  // namespace crtoken
