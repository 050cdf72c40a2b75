// The time source. The planner takes `now` as a value; the controller and the reconciler get a
// Clock so that tests can drive time.
#pragma once

#include <chrono>

namespace crtoken {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // For scheduling: monotonic, never jumps.
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
};

class SystemClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace crtoken
