// The emulator's clock: wall time plus an offset that POST /_emulator/clock moves forward.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace crtoken::emulator {

// Thread-safe.
class EmulatorClock {
 public:
  // Seconds since the Unix epoch, as the emulator sees them.
  int64_t Now() const;
  // Moves the clock by `seconds` (>= 0).
  void Advance(int64_t seconds) { offset_ += seconds; }
  int64_t offset() const { return offset_; }

 private:
  std::atomic<int64_t> offset_{0};
};

// "YYYY-MM-DDTHH:MM:SSZ" (the form the real service writes).
std::string FormatTime(int64_t unix_seconds);
// RFC 3339 date-time (as JSON Schema's `date-time`): YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM),
// 'T' and 'Z' in either case. Fractional seconds are truncated. False when malformed.
bool ParseTime(const std::string& text, int64_t* unix_seconds);
// RFC 3339 partial-time with optional offset, as in "01:23:00+00:00" (the spec's `format: time`).
bool IsTimeOfDay(const std::string& text);

}  // namespace crtoken::emulator
