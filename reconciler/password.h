// A token password. It has no formatter and no operator<<, so passing one to a log call or a
// stream is a compile error; Reveal() is called only where the password is written to a sink or
// compared in a test.
//
// It lives in memory no longer than needed: the buffer is zeroed when a Password is destroyed,
// reassigned or moved from (a short password sits in the string object itself, so a move alone
// would leave a copy behind). Copies are explicit (Clone), so each one is a visible decision; pass
// a Password by reference and move it where it changes hands. (What a library made of the bytes
// before they became a Password, such as an HTTP response body, is beyond its reach.)
#pragma once

#include <string.h>

#include <string>
#include <utility>

namespace crtoken {

class Password {
 public:
  Password() = default;
  // Takes the bytes of `value`, and wipes what a move leaves behind in it.
  explicit Password(std::string&& value) : value_(std::move(value)) { Wipe(value); }
  explicit Password(const std::string& value) : value_(value) {}
  Password(Password&& other) noexcept : value_(std::move(other.value_)) { other.Clear(); }
  Password& operator=(Password&& other) noexcept {
    if (this != &other) {
      Clear();
      value_ = std::move(other.value_);
      other.Clear();
    }
    return *this;
  }
  Password(const Password&) = delete;
  Password& operator=(const Password&) = delete;
  ~Password() { Clear(); }

  // A second copy of the password, for the rare holder that must keep its own.
  Password Clone() const { return Password(value_); }

  const std::string& Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  // Zeroes the whole buffer (its capacity, not just its size) and empties the string.
  static void Wipe(std::string& s) noexcept {
    s.resize(s.capacity());  // never reallocates: makes the whole buffer addressable
    ::explicit_bzero(s.data(), s.size());
    s.clear();
  }
  void Clear() noexcept { Wipe(value_); }

  std::string value_;
};

}  // namespace crtoken
