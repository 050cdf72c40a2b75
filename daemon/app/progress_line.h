// The progress line of `crtoken apply` on a terminal: one line on stderr, rewritten in place
// ("\r" + text + erase to the end of the line), fed by the reconcile pass (PassProgress: actions
// done of total) and by the API client (ApiWait: what it waits for). The caller decides whether to
// show one at all (apply does only when stderr is a terminal); nothing here tests for a terminal.
//
//   apply: 0/1000 actions done, about 50 s left at --api-qps 20
//   apply: 240/1000 actions done, 20.1/s, about 38 s left; waiting for the client rate limit ...
//   apply: 300/1000 actions done, 19.7/s, about 36 s left; waiting 30 s to retry: 429 (...)
//
// "About N left" is the actions left at the observed rate; before the first action completes, and
// while the client rate limit holds requests back, at the rate limit (--api-qps). A wait is shown
// until it has passed. Drawn on each event, at most once per kMinInterval, except that the first
// event, the last action and a retry wait are always drawn. Text only: never a name or a secret.
//
// Thread-safe: events may come from any thread. Time comes from a Clock (tests use a fake one).
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/registry/http_registry_api.h"
#include "reconciler/clock.h"
#include "reconciler/reconciler.h"

namespace crtoken {

class ProgressLine {
 public:
  using WriteFn = std::function<void(std::string_view)>;
  static constexpr std::chrono::milliseconds kMinInterval{200};

  // `qps`: the client's rate limit; `write` receives the bytes for the terminal.
  ProgressLine(const char* command, double qps, const Clock& clock, WriteFn write);

  void OnProgress(const PassProgress& progress);
  void OnWait(const ApiWait& wait);

  // Around other output to the same terminal (log lines): Clear() erases the line, Redraw() draws
  // it again (nothing when nothing is shown). Finish() leaves the last line and ends it with a
  // newline, once; later events draw nothing.
  void Clear();
  void Redraw();
  void Finish();

  // The text of the line as it would be drawn now (without the control characters).
  std::string Text() const;

 private:
  std::string TextLocked() const;
  void DrawLocked(bool force);

  const std::string command_;
  const double qps_;
  const Clock& clock_;
  WriteFn write_;
  mutable std::mutex mu_;
  PassProgress progress_;
  std::optional<std::chrono::steady_clock::time_point> start_;  // the first progress event
  std::optional<std::chrono::steady_clock::time_point> drawn_at_;
  std::chrono::steady_clock::time_point rate_limited_until_{};
  std::chrono::steady_clock::time_point retry_until_{};
  std::chrono::milliseconds retry_delay_{0};
  std::string retry_reason_;
  bool shown_ = false;
  bool finished_ = false;
};

// Routes the default logger's output around `line` (cleared before each log line, drawn again
// after it), so log lines and the progress line do not mix. `line` must outlive the logger's use;
// RestoreLogging() puts the plain logger back.
void KeepLogsClearOf(ProgressLine* line);
void RestoreLogging();

}  // namespace crtoken
