#include "daemon/app/progress_line.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <memory>

namespace crtoken {
namespace {

using std::chrono::steady_clock;

std::string Seconds(double s) {
  const long n = std::lround(std::ceil(s));
  if (n < 120) return std::to_string(n) + " s";
  return std::to_string((n + 30) / 60) + " min";
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

ProgressLine::ProgressLine(const char* command, double qps, const Clock& clock, WriteFn write)
    : command_(command), qps_(qps), clock_(clock), write_(std::move(write)) {}

void ProgressLine::OnProgress(const PassProgress& progress) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = clock_.Monotonic();
  // A new pass (apply may take more than one) starts its count and rate afresh.
  if (!start_ || progress.done == 0 || progress.total != progress_.total) start_ = now;
  progress_ = progress;
  DrawLocked(progress.done == 0 || progress.done == progress.total);
}

void ProgressLine::OnWait(const ApiWait& wait) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto until = clock_.Monotonic() + wait.delay;
  if (wait.cause == ApiWait::Cause::kRateLimit) {
    if (until > rate_limited_until_) rate_limited_until_ = until;
    DrawLocked(false);
    return;
  }
  retry_until_ = until;
  retry_delay_ = wait.delay;
  retry_reason_ = wait.reason;
  DrawLocked(true);
}

std::string ProgressLine::Text() const {
  std::lock_guard<std::mutex> lock(mu_);
  return TextLocked();
}

std::string ProgressLine::TextLocked() const {
  const auto now = clock_.Monotonic();
  const int done = progress_.done;
  const int left = progress_.total - done;
  std::string text = command_ + ": " + std::to_string(done) + "/" +
                     std::to_string(progress_.total) + " actions done";
  const double elapsed = start_ ? std::chrono::duration<double>(now - *start_).count() : 0.0;
  const bool rate_limited = now < rate_limited_until_;
  double rate = 0;
  if (done > 0 && elapsed > 0) {
    rate = done / elapsed;
    text += ", " + Fixed(rate, 1) + "/s";
  }
  if (left > 0) {
    if (rate > 0 && !rate_limited) {
      text += ", about " + Seconds(left / rate) + " left";
    } else {
      text += ", about " + Seconds(left / qps_) + " left";
      if (!rate_limited) text += " at --api-qps " + Fixed(qps_, qps_ == std::floor(qps_) ? 0 : 1);
    }
  }
  if (now < retry_until_) {
    text += "; waiting " + Seconds(std::chrono::duration<double>(retry_delay_).count()) +
            " to retry: " + retry_reason_;
  } else if (rate_limited) {
    text += "; waiting for the client rate limit (--api-qps " +
            Fixed(qps_, qps_ == std::floor(qps_) ? 0 : 1) + ")";
  }
  return text;
}

void ProgressLine::DrawLocked(bool force) {
  if (finished_ || progress_.total == 0) return;
  const auto now = clock_.Monotonic();
  if (!force && drawn_at_ && now - *drawn_at_ < kMinInterval) return;
  drawn_at_ = now;
  shown_ = true;
  write_("\r" + TextLocked() + "\x1b[K");
}

void ProgressLine::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shown_ && !finished_) write_("\r\x1b[K");
}

void ProgressLine::Redraw() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shown_ && !finished_) write_("\r" + TextLocked() + "\x1b[K");
}

void ProgressLine::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (shown_) write_("\r" + TextLocked() + "\x1b[K\n");
}

namespace {

// Forwards each log record to the logger's own sinks with the progress line cleared around it.
class AroundProgressSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  AroundProgressSink(std::vector<spdlog::sink_ptr> inner, ProgressLine* line)
      : inner_(std::move(inner)), line_(line) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    line_->Clear();
    for (auto& s : inner_) {
      if (s->should_log(msg.level)) s->log(msg);
    }
    for (auto& s : inner_) s->flush();
    line_->Redraw();
  }
  void flush_() override {
    for (auto& s : inner_) s->flush();
  }
  void set_formatter_(std::unique_ptr<spdlog::formatter>) override {}  // the inner sinks format

 private:
  std::vector<spdlog::sink_ptr> inner_;
  ProgressLine* line_;
};

std::shared_ptr<spdlog::logger>& PlainLogger() {
  static std::shared_ptr<spdlog::logger> plain;
  return plain;
}

}  // namespace

void KeepLogsClearOf(ProgressLine* line) {
  auto current = spdlog::default_logger();
  PlainLogger() = current;
  auto wrapped = std::make_shared<spdlog::logger>(
      current->name(), std::make_shared<AroundProgressSink>(current->sinks(), line));
  wrapped->set_level(current->level());
  wrapped->flush_on(current->flush_level());
  spdlog::set_default_logger(wrapped);
}

void RestoreLogging() {
  if (PlainLogger()) spdlog::set_default_logger(PlainLogger());
  PlainLogger().reset();
}

}  // namespace crtoken
