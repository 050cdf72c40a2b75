// Command-line flags of crtoken-emulator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "emulator/store.h"

namespace crtoken::emulator {

struct EmulatorOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::vector<std::string> registries;  // --registry NAME (seeded Running)
  std::optional<std::string> token;     // --token T (Bearer)
  std::optional<std::string> user;      // --user U --password P (Basic)
  std::optional<std::string> password;
  StorePolicy policy;
  int put_replace_status = 201;       // --put-replace-status 200|201
  int64_t max_limit = 1000;           // --max-limit N
  bool reject_over_max = false;       // --limit-over-max clamp|reject
  bool omit_last_page_token = false;  // --registry-last-token absent (not spec-valid)
  bool observed_nulls = false;  // --observed-nulls: lastModifiedBy/-UserId as null (not spec-valid)
  int64_t min_expiry_seconds = 0;  // --min-expiry-seconds N
  bool log_requests = false;       // --log-requests: one line per API request on stderr
};

// The --help text.
std::string EmulatorUsage();

// Parses argv[1..]. On error returns nullopt with a one-line message in *error. Sets *help when
// --help was given (and *version for --version).
std::optional<EmulatorOptions> ParseEmulatorArgs(const std::vector<std::string>& args,
                                                 std::string* error, bool* help, bool* version);

}  // namespace crtoken::emulator
