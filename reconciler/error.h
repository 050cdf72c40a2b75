// Errors as values. The domain never sees a third-party exception: adapters in daemon/ catch what
// their library throws and return one of these kinds with a message that names where.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace crtoken {

enum class ErrorKind {
  kInvalid,       // 400, or input the caller must fix; retrying will not help
  kUnauthorized,  // 401, 403
  kNotFound,      // 404
  kConflict,      // 409: a name already taken by another token
  kRateLimited,   // 429 after the client's own retries were exhausted
  kUnavailable,   // 5xx, timeout, connection error, malformed response: transient
  kIo,            // local I/O: a secret or state file could not be written or read
  kInternal,      // a bug or an impossible state
};

const char* ErrorKindName(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;

  // True when the same call may succeed later without a change of input.
  bool Transient() const {
    return kind == ErrorKind::kUnavailable || kind == ErrorKind::kRateLimited ||
           kind == ErrorKind::kIo;
  }
  std::string ToString() const { return std::string(ErrorKindName(kind)) + ": " + message; }
};

// A value or an Error. Deliberately small: ok(), value(), error().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Success, or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design
  static Status Ok() { return Status(); }
  bool ok() const { return !error_.has_value(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

}  // namespace crtoken
