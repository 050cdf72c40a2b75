#include "emulator/faults.h"

#include <algorithm>

namespace crtoken::emulator {

nlohmann::ordered_json FaultRule::ToJson() const {
  nlohmann::ordered_json j;
  j["id"] = id;
  j["method"] = method.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(method);
  j["path"] = path.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(path);
  j["status"] = status == 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(status);
  j["retryAfter"] =
      retry_after.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(retry_after);
  j["delayMs"] = delay_ms;
  j["reset"] = reset;
  j["afterApply"] = after_apply;
  j["times"] = times < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(times);
  j["hits"] = hits;
  return j;
}

std::optional<FaultRule> FaultRules::Add(const nlohmann::json& spec, std::string* error) {
  if (!spec.is_object()) {
    *error = "a fault rule must be a JSON object";
    return std::nullopt;
  }
  static const char* kKnown[] = {"method",  "path",  "status",     "retryAfter",
                                 "delayMs", "reset", "afterApply", "times"};
  for (const auto& item : spec.items()) {
    const std::string& key = item.key();  // not a structured binding: clang 14 cannot capture one
    if (std::find_if(std::begin(kKnown), std::end(kKnown),
                     [&](const char* k) { return key == k; }) == std::end(kKnown)) {
      *error = "unknown field \"" + key +
               "\" (known: method, path, status, retryAfter, delayMs, reset, afterApply, times)";
      return std::nullopt;
    }
  }
  FaultRule rule;
  if (spec.contains("method") && !spec["method"].is_null()) {
    if (!spec["method"].is_string()) {
      *error = "method: must be a string such as \"GET\"";
      return std::nullopt;
    }
    rule.method = spec["method"].get<std::string>();
    std::transform(rule.method.begin(), rule.method.end(), rule.method.begin(), ::toupper);
  }
  if (spec.contains("path") && !spec["path"].is_null()) {
    if (!spec["path"].is_string()) {
      *error = "path: must be a string (a regular expression)";
      return std::nullopt;
    }
    rule.path = spec["path"].get<std::string>();
    try {
      rule.path_regex = std::regex(rule.path, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      *error = "path: not a valid regular expression: " + std::string(e.what());
      return std::nullopt;
    }
  }
  if (spec.contains("status") && !spec["status"].is_null()) {
    if (!spec["status"].is_number_integer() || spec["status"].get<int64_t>() < 100 ||
        spec["status"].get<int64_t>() > 599) {
      *error = "status: must be an integer between 100 and 599";
      return std::nullopt;
    }
    rule.status = spec["status"].get<int>();
  }
  if (spec.contains("retryAfter") && !spec["retryAfter"].is_null()) {
    const auto& ra = spec["retryAfter"];
    if (ra.is_string()) {
      rule.retry_after = ra.get<std::string>();
    } else if (ra.is_number_integer() && ra.get<int64_t>() >= 0) {
      rule.retry_after = std::to_string(ra.get<int64_t>());
    } else {
      *error = "retryAfter: must be a string (seconds or an HTTP-date) or a non-negative integer";
      return std::nullopt;
    }
    if (rule.retry_after.find_first_of("\r\n") != std::string::npos) {
      *error = "retryAfter: must not contain line breaks";
      return std::nullopt;
    }
  }
  if (spec.contains("delayMs") && !spec["delayMs"].is_null()) {
    if (!spec["delayMs"].is_number_integer() || spec["delayMs"].get<int64_t>() < 0) {
      *error = "delayMs: must be a non-negative integer";
      return std::nullopt;
    }
    rule.delay_ms = spec["delayMs"].get<int64_t>();
  }
  if (spec.contains("reset") && !spec["reset"].is_null()) {
    if (!spec["reset"].is_boolean()) {
      *error = "reset: must be true or false";
      return std::nullopt;
    }
    rule.reset = spec["reset"].get<bool>();
  }
  if (spec.contains("afterApply") && !spec["afterApply"].is_null()) {
    if (!spec["afterApply"].is_boolean()) {
      *error = "afterApply: must be true or false";
      return std::nullopt;
    }
    rule.after_apply = spec["afterApply"].get<bool>();
  }
  if (spec.contains("times") && !spec["times"].is_null()) {
    if (!spec["times"].is_number_integer() || spec["times"].get<int64_t>() < 1) {
      *error = "times: must be a positive integer (absent = forever)";
      return std::nullopt;
    }
    rule.times = spec["times"].get<int64_t>();
  }
  if (rule.status == 0 && !rule.reset && rule.delay_ms == 0) {
    *error = "a rule needs at least one effect: status, delayMs or reset";
    return std::nullopt;
  }
  if (rule.after_apply && rule.status == 0 && !rule.reset) {
    *error = "afterApply: needs status or reset (what replaces the real answer)";
    return std::nullopt;
  }
  std::lock_guard<std::mutex> lock(mu_);
  rule.id = next_id_++;
  rules_.push_back(rule);
  return rule;
}

void FaultRules::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.clear();
}

nlohmann::ordered_json FaultRules::ToJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& r : rules_) out.push_back(r.ToJson());
  return out;
}

std::optional<FaultAction> FaultRules::Match(const std::string& method, const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : rules_) {
    if (r.times == 0) continue;
    if (!r.method.empty() && r.method != method) continue;
    if (!r.path.empty() && !std::regex_search(target, r.path_regex)) continue;
    if (r.times > 0) --r.times;
    ++r.hits;
    return FaultAction{r.id, r.status, r.retry_after, r.delay_ms, r.reset, r.after_apply};
  }
  return std::nullopt;
}

}  // namespace crtoken::emulator
