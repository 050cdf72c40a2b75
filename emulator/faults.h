// Fault rules (POST /_emulator/faults): answer matching API requests with an error status, a
// delay, or a dropped connection.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace crtoken::emulator {

struct FaultRule {
  int64_t id = 0;
  std::string method;  // "" = any method
  std::string path;    // "" = any path; else an ECMAScript regex searched in path+query
  std::regex path_regex;
  int status = 0;           // 0 = answer normally (after the delay)
  std::string retry_after;  // "" = no Retry-After header
  int64_t delay_ms = 0;
  bool reset = false;
  // The request is applied to the state first; then status/reset replace the answer (a lost
  // response to a committed change: the ambiguous failure a client must survive).
  bool after_apply = false;
  int64_t times = -1;  // remaining applications; -1 = forever
  int64_t hits = 0;

  nlohmann::ordered_json ToJson() const;
};

// What to do with one request (a copy of the rule that matched).
struct FaultAction {
  int64_t rule_id = 0;
  int status = 0;
  std::string retry_after;
  int64_t delay_ms = 0;
  bool reset = false;
  bool after_apply = false;
};

// Thread-safe.
class FaultRules {
 public:
  // Parses and adds a rule. On bad input returns nullopt and fills *error (naming the field).
  std::optional<FaultRule> Add(const nlohmann::json& spec, std::string* error);
  void Clear();
  nlohmann::ordered_json ToJson() const;
  // The first rule (in the order added) that matches and still has applications left; it is
  // consumed by one. nullopt when none matches.
  std::optional<FaultAction> Match(const std::string& method, const std::string& target);

 private:
  mutable std::mutex mu_;
  std::vector<FaultRule> rules_;
  int64_t next_id_ = 1;
};

}  // namespace crtoken::emulator
