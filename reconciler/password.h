// A token password. It has no formatter and no operator<<, so passing one to a log call or a
// stream is a compile error; Reveal() is called only where the password is written to a sink or
// compared in a test.
#pragma once

#include <string>
#include <utility>

namespace crtoken {

class Password {
 public:
  Password() = default;
  explicit Password(std::string value) : value_(std::move(value)) {}
  const std::string& Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  std::string value_;
};

}  // namespace crtoken
