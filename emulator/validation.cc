#include "emulator/validation.h"

#include <charconv>

namespace crtoken::emulator {
namespace {

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || IsDigit(c); }

std::string TypeName(const nlohmann::json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  return "an object";
}

std::string ParseExpiry(const std::string& where, const nlohmann::json& v, int64_t now,
                        int64_t min_expiry_seconds, int64_t* out) {
  if (!v.is_string()) return where + ": must be a date-time string or null, got " + TypeName(v);
  if (!ParseTime(v.get<std::string>(), out)) {
    return where + ": \"" + v.get<std::string>() +
           "\" is not an RFC 3339 date-time (e.g. 2027-06-30T00:00:00Z)";
  }
  if (*out <= now + min_expiry_seconds) {
    return where + ": " + v.get<std::string>() + " must lie in the future" +
           (min_expiry_seconds > 0
                ? " (at least " + std::to_string(min_expiry_seconds) + " seconds ahead)"
                : std::string());
  }
  return "";
}

std::string ParseStatus(const std::string& where, const nlohmann::json& v, std::string* out) {
  if (!v.is_string() || (v != "enabled" && v != "disabled")) {
    return where + ": must be \"enabled\" or \"disabled\", got " + v.dump();
  }
  *out = v.get<std::string>();
  return "";
}

std::string ParseScopes(const std::string& where, const nlohmann::json& v,
                        std::vector<Scope>* out) {
  out->clear();
  if (v.is_null()) return "";
  if (!v.is_array()) return where + ": must be an array of scopes, got " + TypeName(v);
  for (size_t i = 0; i < v.size(); ++i) {
    const auto& s = v[i];
    std::string at = where + "[" + std::to_string(i) + "]";
    if (!s.is_object()) return at + ": must be an object, got " + TypeName(s);
    Scope scope;
    for (const char* field : {"name", "type", "actions"}) {
      if (!s.contains(field)) return at + "." + field + ": required";
    }
    if (!s["name"].is_string()) return at + ".name: must be a string, got " + TypeName(s["name"]);
    if (!s["type"].is_string()) return at + ".type: must be a string, got " + TypeName(s["type"]);
    scope.name = s["name"].get<std::string>();
    scope.type = s["type"].get<std::string>();
    const auto& actions = s["actions"];
    if (!actions.is_null()) {
      if (!actions.is_array()) {
        return at + ".actions: must be an array of strings, got " + TypeName(actions);
      }
      for (size_t k = 0; k < actions.size(); ++k) {
        if (!actions[k].is_string()) {
          return at + ".actions[" + std::to_string(k) + "]: must be a string, got " +
                 TypeName(actions[k]);
        }
        scope.actions.push_back(actions[k].get<std::string>());
      }
    }
    out->push_back(std::move(scope));
  }
  return "";
}

std::string ParseSchedule(const std::string& where, const nlohmann::json& v,
                          std::optional<nlohmann::json>* out) {
  if (v.is_null()) {
    out->reset();
    return "";
  }
  if (!v.is_object()) return where + ": must be an object, got " + TypeName(v);
  if (!v.contains("days")) return where + ".days: required";
  if (!v.contains("time")) return where + ".time: required";
  static const char* kDays[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                "Friday", "Saturday", "Sunday"};
  const auto& days = v["days"];
  if (!days.is_null()) {
    if (!days.is_array()) return where + ".days: must be an array, got " + TypeName(days);
    for (size_t i = 0; i < days.size(); ++i) {
      bool ok = false;
      for (const char* d : kDays) ok = ok || (days[i].is_string() && days[i] == d);
      if (!ok) {
        return where + ".days[" + std::to_string(i) + "]: must be one of Monday..Sunday, got " +
               days[i].dump();
      }
    }
  }
  if (!v["time"].is_string() || !IsTimeOfDay(v["time"].get<std::string>())) {
    return where + ".time: must be a time of day such as \"01:23:00+00:00\", got " +
           v["time"].dump();
  }
  *out = nlohmann::json{{"days", days.is_null() ? nlohmann::json::array() : days},
                        {"time", v["time"]}};
  return "";
}

// The {"properties": {"name": "..."}} envelope of a create/replace body: `props` points at the
// properties object and `name` holds the name; or the error message.
std::string PropertiesWithName(const nlohmann::json& body, const nlohmann::json** props,
                               std::string* name) {
  if (!body.is_object()) return "request body: must be an object, got " + TypeName(body);
  auto p = body.find("properties");
  if (p == body.end()) return "properties: required";
  if (!p->is_object()) return "properties: must be an object, got " + TypeName(*p);
  auto n = p->find("name");
  if (n == p->end()) return "properties.name: required";
  if (!n->is_string()) return "properties.name: must be a string, got " + TypeName(*n);
  *props = &*p;
  *name = n->get<std::string>();
  return "";
}

}  // namespace

bool IsUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!IsHex(s[i])) {
      return false;
    }
  }
  return true;
}

bool IsTokenName(const std::string& s) {
  if (s.size() < 2 || s.size() > 63 || !IsAlpha(s.front())) return false;
  if (!IsAlpha(s.back()) && !IsDigit(s.back())) return false;
  for (char c : s) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '-') return false;
  }
  return true;
}

bool IsRegistryName(const std::string& s) {
  if (s.size() < 3 || s.size() > 63 || !(s.front() >= 'a' && s.front() <= 'z')) return false;
  if (!IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

const std::vector<std::string>& Locations() {
  static const std::vector<std::string> kLocations = {"de/fra", "de/txl", "es/vit", "fr/par",
                                                      "gb/lhr", "us/ewr", "us/las", "us/mci"};
  return kLocations;
}

std::optional<nlohmann::json> ParseBody(const std::string& body, std::string* error) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    *error = "request body: required (a JSON object)";
    return std::nullopt;
  }
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    *error = "request body: invalid JSON at byte " + std::to_string(e.byte) + ": " +
             std::string(e.what()).substr(std::string(e.what()).rfind(':') + 2);
    return std::nullopt;
  }
}

std::string ParseTokenInput(const nlohmann::json& body, int64_t now, int64_t min_expiry_seconds,
                            TokenInput* out) {
  const nlohmann::json* props = nullptr;
  if (std::string err = PropertiesWithName(body, &props, &out->name); !err.empty()) return err;
  const auto& p = *props;
  if (!IsTokenName(out->name)) {
    return "properties.name: \"" + out->name +
           "\" does not match ^[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]$";
  }
  out->status = "enabled";
  if (p.contains("status")) {
    std::string err = ParseStatus("properties.status", p["status"], &out->status);
    if (!err.empty()) return err;
  }
  out->expiry.reset();
  if (p.contains("expiryDate") && !p["expiryDate"].is_null()) {
    int64_t t = 0;
    std::string err =
        ParseExpiry("properties.expiryDate", p["expiryDate"], now, min_expiry_seconds, &t);
    if (!err.empty()) return err;
    out->expiry = t;
  }
  out->scopes.clear();
  if (p.contains("scopes")) return ParseScopes("properties.scopes", p["scopes"], &out->scopes);
  return "";
}

std::string ParseTokenPatch(const nlohmann::json& body, int64_t now, int64_t min_expiry_seconds,
                            TokenPatch* out) {
  if (!body.is_object()) return "request body: must be an object, got " + TypeName(body);
  if (body.contains("status")) {
    std::string status;
    std::string err = ParseStatus("status", body["status"], &status);
    if (!err.empty()) return err;
    out->status = status;
  }
  if (body.contains("expiryDate")) {
    out->set_expiry = true;
    if (!body["expiryDate"].is_null()) {
      int64_t t = 0;
      std::string err = ParseExpiry("expiryDate", body["expiryDate"], now, min_expiry_seconds, &t);
      if (!err.empty()) return err;
      out->expiry = t;
    }
  }
  if (body.contains("scopes")) {
    std::vector<Scope> scopes;
    std::string err = ParseScopes("scopes", body["scopes"], &scopes);
    if (!err.empty()) return err;
    out->scopes = std::move(scopes);
  }
  return "";
}

std::string ParseRegistryInput(const nlohmann::json& body, RegistryInput* out) {
  const nlohmann::json* props = nullptr;
  if (std::string err = PropertiesWithName(body, &props, &out->name); !err.empty()) return err;
  const auto& p = *props;
  if (!IsRegistryName(out->name)) {
    return "properties.name: \"" + out->name + "\" does not match ^[a-z][-a-z0-9]{1,61}[a-z0-9]$";
  }
  if (!p.contains("location")) return "properties.location: required";
  if (!p["location"].is_string()) {
    return "properties.location: must be a string, got " + TypeName(p["location"]);
  }
  out->location = p["location"].get<std::string>();
  bool known = false;
  for (const auto& l : Locations()) known = known || l == out->location;
  if (!known) {
    return "properties.location: \"" + out->location +
           "\" is not a known location (see GET /locations)";
  }
  out->gc_schedule.reset();
  if (p.contains("garbageCollectionSchedule")) {
    return ParseSchedule("properties.garbageCollectionSchedule", p["garbageCollectionSchedule"],
                         &out->gc_schedule);
  }
  return "";
}

std::string ParseRegistryPatch(const nlohmann::json& body,
                               std::optional<nlohmann::json>* gc_schedule) {
  if (!body.is_object()) return "request body: must be an object, got " + TypeName(body);
  if (body.contains("garbageCollectionSchedule")) {
    std::optional<nlohmann::json> schedule;
    std::string err =
        ParseSchedule("garbageCollectionSchedule", body["garbageCollectionSchedule"], &schedule);
    if (!err.empty()) return err;
    *gc_schedule = schedule ? *schedule : nlohmann::json();
  }
  return "";
}

std::string ParseIntParam(const std::string& name, const std::string& value, int64_t min,
                          int64_t* out) {
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), *out);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
    return name + ": must be an integer, got \"" + value + "\"";
  }
  if (*out < min) return name + ": must be at least " + std::to_string(min) + ", got " + value;
  return "";
}

}  // namespace crtoken::emulator
