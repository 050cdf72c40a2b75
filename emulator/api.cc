#include "emulator/api.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <regex>
#include <thread>
#include <vector>

#include "emulator/json_writer.h"
#include "emulator/validation.h"

namespace crtoken::emulator {
namespace {

using Json = nlohmann::ordered_json;
constexpr char kBase[] = "/containerregistries";

// ---- small codecs -------------------------------------------------------------------------

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Decodes standard or URL-safe base64, padding optional. False on a bad character.
bool Base64Decode(const std::string& in, std::string* out) {
  out->clear();
  int buffer = 0, bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = B64Value(c);
    if (v < 0) return false;
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return true;
}

// URL-safe base64 without padding.
std::string Base64UrlEncode(const std::string& in) {
  std::string out;
  int buffer = 0, bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kB64[(buffer << (6 - bits)) & 0x3f]);
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string FormDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The first value of each query parameter.
std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= query.size() && !query.empty()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(pos, amp - pos);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string key = FormDecode(pair.substr(0, eq));
      std::string value = eq == std::string::npos ? "" : FormDecode(pair.substr(eq + 1));
      out.emplace(key, value);
    }
    pos = amp + 1;
  }
  return out;
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

// A stable pseudo user id for a user name (metadata.createdByUserId).
std::string UserIdFor(const std::string& user) {
  uint64_t h1 = 1469598103934665603ULL, h2 = 1099511628211ULL ^ 0x9e3779b97f4a7c15ULL;
  for (unsigned char c : user) {
    h1 = (h1 ^ c) * 1099511628211ULL;
    h2 = (h2 ^ c) * 0x100000001b3ULL + 0x9e37;
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(h1 >> 32),
                static_cast<unsigned>((h1 >> 16) & 0xffff), static_cast<unsigned>(h1 & 0xfff),
                static_cast<unsigned>(h2 >> 52),
                static_cast<unsigned long long>(h2 & 0xffffffffffffULL));
  return buf;
}

// ---- responses ----------------------------------------------------------------------------

void SendJson(HttpResponse* resp, int status, const Json& body) {
  resp->status = status;
  resp->headers.emplace_back("Content-Type", "application/json");
  // Text from the request (a path segment, say) may not be UTF-8: replace, never throw.
  resp->body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json ErrorBody(int status, const std::string& message) {
  return Json{{"httpStatus", status},
              {"messages",
               Json::array({Json{{"errorCode", std::to_string(status)}, {"message", message}}})}};
}

void SendError(HttpResponse* resp, int status, const std::string& message) {
  SendJson(resp, status, ErrorBody(status, message));
}

int StatusFor(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return 200;
    case Outcome::kNotFound:
      return 404;
    case Outcome::kConflict:
      return 409;
    case Outcome::kInvalid:
      return 400;
  }
  return 500;
}

Json TimeOrNull(const std::optional<int64_t>& t) { return t ? Json(FormatTime(*t)) : Json(); }

Json MetadataJson(const Audit& a, const std::string& state, bool observed_nulls) {
  Json m;
  m["createdBy"] = a.created_by.user;
  m["createdByUserId"] = a.created_by.user_id;
  m["createdDate"] = FormatTime(a.created);
  if (a.modified) {
    m["lastModifiedBy"] = a.modified_by.user;
    m["lastModifiedByUserId"] = a.modified_by.user_id;
  } else if (observed_nulls) {
    m["lastModifiedBy"] = nullptr;
    m["lastModifiedByUserId"] = nullptr;
  }
  m["lastModifiedDate"] = TimeOrNull(a.modified);
  m["state"] = state;
  return m;
}

void WriteToken(JsonWriter& w, const Token& t, bool with_password, bool observed_nulls) {
  w.BeginObject();
  w.Key("id").String(t.id).Key("type").String("token").Key("href").String("");
  w.Key("metadata").BeginObject();
  w.Key("createdBy").String(t.audit.created_by.user);
  w.Key("createdByUserId").String(t.audit.created_by.user_id);
  w.Key("createdDate").String(FormatTime(t.audit.created));
  if (t.audit.modified) {
    w.Key("lastModifiedBy").String(t.audit.modified_by.user);
    w.Key("lastModifiedByUserId").String(t.audit.modified_by.user_id);
    w.Key("lastModifiedDate").String(FormatTime(*t.audit.modified));
  } else {
    if (observed_nulls) w.Key("lastModifiedBy").Null().Key("lastModifiedByUserId").Null();
    w.Key("lastModifiedDate").Null();
  }
  w.Key("state").String(t.status);
  w.EndObject();
  w.Key("properties").BeginObject();
  w.Key("name").String(t.name);
  w.Key("credentials").BeginObject();
  w.Key("username").String(t.name).Key("password").String(with_password ? t.password : "");
  w.EndObject();
  w.Key("expiryDate");
  if (t.expiry) {
    w.String(FormatTime(*t.expiry));
  } else {
    w.Null();
  }
  w.Key("scopes").BeginArray();
  for (const auto& s : t.scopes) {
    w.BeginObject().Key("name").String(s.name).Key("type").String(s.type);
    w.Key("actions").BeginArray();
    for (const auto& a : s.actions) w.String(a);
    w.EndArray().EndObject();
  }
  w.EndArray();
  w.Key("status").String(t.status);
  w.EndObject();
  w.EndObject();
}

void SendToken(HttpResponse* resp, int status, const Token& t, bool with_password,
               bool observed_nulls) {
  resp->status = status;
  resp->headers.emplace_back("Content-Type", "application/json");
  JsonWriter w(&resp->body);
  WriteToken(w, t, with_password, observed_nulls);
}

Json RegistryJson(const RegistryInfo& r, int64_t now, bool observed_nulls) {
  Json props;
  props["name"] = r.name;
  props["location"] = r.location;
  props["hostname"] = r.Hostname(now);
  if (r.gc_schedule && !r.gc_schedule->is_null()) {
    props["garbageCollectionSchedule"] = Json::parse(r.gc_schedule->dump());
  }
  props["storageUsage"] = Json{{"bytes", 0}, {"updatedAt", nullptr}};
  Json j;
  j["id"] = r.id;
  j["type"] = "registry";
  j["href"] = "";
  j["metadata"] = MetadataJson(r.audit, r.State(now), observed_nulls);
  j["properties"] = std::move(props);
  return j;
}

std::string LocationUrl(const HttpRequest& req, const std::string& path) {
  const std::string& host = req.Header("host");
  return host.empty() ? path : "http://" + host + path;
}

}  // namespace

// ---- Emulator -----------------------------------------------------------------------------

Emulator::Emulator(EmulatorOptions options)
    : options_(std::move(options)), store_(&clock_, options_.policy) {
  for (const auto& name : options_.registries) store_.SeedRegistry(name);
}

void Emulator::Handle(const HttpRequest& req, HttpResponse* resp) {
  if (req.path.rfind("/_emulator/", 0) == 0) {
    HandleAdmin(req, resp);
    return;
  }
  // Counted until it is answered and logged, so that a test can wait for the requests a killed
  // client left behind (a delayed one is applied up to its delay later) before judging the state.
  in_flight_.fetch_add(1);
  struct Answered {
    std::atomic<int>& count;
    ~Answered() { count.fetch_sub(1); }
  } answered{in_flight_};
  std::optional<FaultAction> fault = faults_.Match(req.method, req.target);
  if (fault && fault->delay_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(fault->delay_ms));
  }
  if (!fault || fault->after_apply || (!fault->reset && fault->status == 0)) {
    HandleApi(req, resp);
  }
  if (fault && fault->reset) {
    *resp = HttpResponse();
    resp->reset = true;
  } else if (fault && fault->status != 0) {
    *resp = HttpResponse();
    SendError(resp, fault->status,
              std::string(ReasonPhrase(fault->status)) + " (injected by fault rule " +
                  std::to_string(fault->rule_id) + ")");
    if (!fault->retry_after.empty()) resp->headers.emplace_back("Retry-After", fault->retry_after);
  }
  if (req.method == "HEAD") {
    // A HEAD answer has no body, so it carries no Content-Type either: a JSON media type over an
    // empty body breaks clients that parse by Content-Type (Prism does).
    resp->body.clear();
    std::erase_if(resp->headers, [](const auto& h) { return h.first == "Content-Type"; });
  }
  int status = resp->reset ? 0 : resp->status;
  log_.Add({req.method, req.target, status});
  if (options_.log_requests) {
    std::string line = req.method + " " + req.target + " -> " + std::to_string(status) + "\n";
    std::cerr << line << std::flush;
  }
}

bool Emulator::Authorize(const HttpRequest& req, Caller* caller) const {
  const std::string& auth = req.Header("authorization");
  size_t sp = auth.find(' ');
  if (sp == std::string::npos) return false;
  std::string scheme = ToLower(auth.substr(0, sp));
  size_t cred_start = auth.find_first_not_of(' ', sp);
  std::string cred = cred_start == std::string::npos ? "" : auth.substr(cred_start);
  bool any = !options_.token && !options_.user;
  if (scheme == "bearer") {
    if (cred.empty()) return false;
    if (!any && (!options_.token || *options_.token != cred)) return false;
    caller->user = "api-token";
  } else if (scheme == "basic") {
    std::string decoded;
    if (!Base64Decode(cred, &decoded) || decoded.empty()) return false;
    size_t colon = decoded.find(':');
    std::string user = decoded.substr(0, colon);
    std::string pass = colon == std::string::npos ? "" : decoded.substr(colon + 1);
    if (!any && (!options_.user || *options_.user != user || *options_.password != pass)) {
      return false;
    }
    caller->user = user.empty() ? "anonymous" : user;
  } else {
    return false;
  }
  caller->user_id = UserIdFor(caller->user);
  return true;
}

void Emulator::HandleAdmin(const HttpRequest& req, HttpResponse* resp) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/_emulator/requests") {
    if (m == "GET") return SendJson(resp, 200, log_.ToJson());
    if (m == "DELETE") {
      log_.Clear();
      resp->status = 204;
      return;
    }
  } else if (p == "/_emulator/state") {
    if (m == "GET") return SendJson(resp, 200, store_.StateJson());
  } else if (p == "/_emulator/inflight") {
    if (m == "GET") return SendJson(resp, 200, Json{{"inFlight", in_flight_.load()}});
  } else if (p == "/_emulator/faults") {
    if (m == "GET") return SendJson(resp, 200, faults_.ToJson());
    if (m == "DELETE") {
      faults_.Clear();
      resp->status = 204;
      return;
    }
    if (m == "POST") {
      std::string error;
      std::optional<nlohmann::json> body = ParseBody(req.body, &error);
      if (!body) return SendError(resp, 400, error);
      std::optional<FaultRule> rule = faults_.Add(*body, &error);
      if (!rule) return SendError(resp, 400, error);
      return SendJson(resp, 201, rule->ToJson());
    }
  } else if (p == "/_emulator/clock") {
    if (m == "GET") {
      return SendJson(resp, 200,
                      Json{{"now", FormatTime(clock_.Now())}, {"offsetSeconds", clock_.offset()}});
    }
    if (m == "POST") {
      std::string error;
      std::optional<nlohmann::json> body = ParseBody(req.body, &error);
      if (!body) return SendError(resp, 400, error);
      if (!body->is_object() || !body->contains("advanceSeconds") ||
          !(*body)["advanceSeconds"].is_number_integer() ||
          (*body)["advanceSeconds"].get<int64_t>() < 0) {
        return SendError(resp, 400, "advanceSeconds: required, a non-negative integer");
      }
      clock_.Advance((*body)["advanceSeconds"].get<int64_t>());
      store_.StateJson();  // applies expiry now, so the state reads consistently afterwards
      return SendJson(resp, 200,
                      Json{{"now", FormatTime(clock_.Now())}, {"offsetSeconds", clock_.offset()}});
    }
  } else {
    return SendError(resp, 404, "unknown admin endpoint " + p);
  }
  const bool read_only = p == "/_emulator/state" || p == "/_emulator/inflight";
  resp->headers.emplace_back("Allow", read_only ? "GET" : "GET, POST, DELETE");
  SendError(resp, 405, "method " + m + " not allowed on " + p);
}

// The base endpoint of a registry's Docker Registry HTTP API V2, as `docker login` probes it: 200
// for a token's valid credential, 401 otherwise. The registry is the one whose hostname is the
// `host` query parameter or, without one, the Host header (its port ignored): every registry of
// the emulator is served on its one address.
void Emulator::HandleLogin(const HttpRequest& req, HttpResponse* resp) {
  if (req.method != "GET" && req.method != "HEAD") {
    resp->headers.emplace_back("Allow", "GET, HEAD");
    return SendError(resp, 405, "method " + req.method + " not allowed on " + req.path);
  }
  const auto query = ParseQuery(req.query);
  std::string hostname;
  if (auto it = query.find("host"); it != query.end()) {
    hostname = it->second;
  } else {
    hostname = req.Header("host");
    if (size_t colon = hostname.rfind(':'); colon != std::string::npos) hostname.resize(colon);
  }
  std::string user, password;
  const std::string& auth = req.Header("authorization");
  if (auth.size() > 6 && ToLower(auth.substr(0, 6)) == "basic ") {
    std::string decoded;
    if (Base64Decode(auth.substr(6), &decoded)) {
      size_t colon = decoded.find(':');
      if (colon != std::string::npos) {
        user = decoded.substr(0, colon);
        password = decoded.substr(colon + 1);
      }
    }
  }
  switch (store_.CheckLogin(hostname, user, password)) {
    case Store::Login::kOk:
      resp->headers.emplace_back("Docker-Distribution-API-Version", "registry/2.0");
      return SendJson(resp, 200, Json::object());
    case Store::Login::kNoRegistry:
      return SendError(resp, 404, "no running registry has the hostname '" + hostname + "'");
    case Store::Login::kDenied:
      break;
  }
  resp->headers.emplace_back("Docker-Distribution-API-Version", "registry/2.0");
  resp->headers.emplace_back("WWW-Authenticate", "Basic realm=\"" + hostname + "\"");
  SendJson(resp, 401,
           Json{{"errors", Json::array({Json{{"code", "UNAUTHORIZED"},
                                             {"message", "authentication required"},
                                             {"detail", nullptr}}})}});
}

void Emulator::HandleApi(const HttpRequest& req, HttpResponse* resp) {
  const std::string& m = req.method;
  std::string path = req.path;
  if (path == "/v2/" || path == "/v2") return HandleLogin(req, resp);
  if (path.rfind(kBase, 0) != 0 ||
      (path.size() > sizeof(kBase) - 1 && path[sizeof(kBase) - 1] != '/')) {
    return SendError(resp, 404,
                     "no such resource: " + path + " (the API lives under " + kBase + "/)");
  }
  Caller caller;
  if (!Authorize(req, &caller)) {
    resp->headers.emplace_back("WWW-Authenticate", "Basic realm=\"containerregistries\"");
    return SendError(resp, 401, "missing or invalid credentials (Basic or Bearer)");
  }
  // "/containerregistries" alone is the root, as "/containerregistries/" is (no segments).
  std::vector<std::string> seg =
      SplitPath(path.size() > sizeof(kBase) ? path.substr(sizeof(kBase)) : std::string());
  const auto query = ParseQuery(req.query);
  const int64_t now = clock_.Now();
  const bool nulls = options_.observed_nulls;
  auto not_allowed = [&](const char* allow) {
    resp->headers.emplace_back("Allow", allow);
    SendError(resp, 405, "method " + m + " not allowed on " + path);
  };
  auto parse_limit = [&](int64_t* limit) -> bool {
    *limit = 100;
    auto it = query.find("limit");
    if (it == query.end()) return true;
    std::string err = ParseIntParam("limit", it->second, 1, limit);
    if (!err.empty()) {
      SendError(resp, 400, err);
      return false;
    }
    if (*limit > options_.max_limit) {
      if (options_.reject_over_max) {
        SendError(
            resp, 400,
            "limit: must be at most " + std::to_string(options_.max_limit) + ", got " + it->second);
        return false;
      }
      *limit = options_.max_limit;
    }
    return true;
  };
  auto body_json = [&](std::optional<nlohmann::json>* out) -> bool {
    std::string err;
    *out = ParseBody(req.body, &err);
    if (!*out) SendError(resp, 400, err);
    return out->has_value();
  };

  // /locations
  if (seg.size() == 1 && seg[0] == "locations") {
    if (m != "GET") return not_allowed("GET");
    Json items = Json::array();
    for (const auto& l : Locations()) items.push_back(Json{{"id", l}});
    return SendJson(resp, 200,
                    Json{{"id", "locations"},
                         {"type", "collection"},
                         {"href", ""},
                         {"items", std::move(items)}});
  }
  // /names/{name}
  if (seg.size() == 2 && seg[0] == "names") {
    if (m != "HEAD") return not_allowed("HEAD");
    if (!IsRegistryName(seg[1])) {
      return SendError(resp, 400,
                       "name: \"" + seg[1] + "\" does not match ^[a-z][-a-z0-9]{1,61}[a-z0-9]$");
    }
    if (store_.RegistryNameInUse(seg[1])) {
      resp->status = 200;
      return;
    }
    return SendError(resp, 404, "the registry name \"" + seg[1] + "\" is available");
  }
  if (seg.empty() || seg[0] != "registries" || seg.size() > 4 ||
      (seg.size() >= 3 && seg[2] != "tokens" && !(seg.size() == 4 && seg[2] == "repositories"))) {
    return SendError(resp, 404, "no such resource: " + path);
  }

  // /registries
  if (seg.size() == 1) {
    if (m == "GET") {
      int64_t limit = 0;
      if (!parse_limit(&limit)) return;
      uint64_t start = 0;
      auto tok = query.find("pagination.token");
      if (tok != query.end() && !tok->second.empty()) {
        std::string decoded;
        nlohmann::json cursor;
        if (Base64Decode(tok->second, &decoded)) {
          cursor = nlohmann::json::parse(decoded, nullptr, false);
        }
        if (!cursor.is_object() || !cursor.contains("start") ||
            !cursor["start"].is_number_unsigned()) {
          return SendError(resp, 400, "pagination.token: not a token this API issued");
        }
        start = cursor["start"].get<uint64_t>();
      }
      std::string filter;
      if (auto f = query.find("filter.name"); f != query.end()) filter = f->second;
      RegistryPage page = store_.ListRegistries(filter, start, limit);
      Json items = Json::array();
      for (const auto& r : page.items) items.push_back(RegistryJson(r, now, nulls));
      std::string next_token =
          page.next_seq ? Base64UrlEncode("{\"start\":" + std::to_string(*page.next_seq) + "}")
                        : "";
      std::string self = std::string(kBase) + "/registries?limit=" + std::to_string(limit);
      if (!filter.empty()) self += "&filter.name=" + UrlEncode(filter);
      Json links{{"self", tok != query.end() && !tok->second.empty()
                              ? self + "&pagination.token=" + UrlEncode(tok->second)
                              : self},
                 {"next", next_token.empty() ? "" : self + "&pagination.token=" + next_token},
                 {"previous", ""}};
      return SendJson(resp, 200,
                      Json{{"id", "registries"},
                           {"type", "collection"},
                           {"href", ""},
                           {"items", std::move(items)},
                           {"pagination", next_token.empty() && options_.omit_last_page_token
                                              ? Json{{"limit", limit}}
                                              : Json{{"limit", limit}, {"token", next_token}}},
                           {"_links", std::move(links)}});
    }
    if (m == "POST") {
      std::optional<nlohmann::json> body;
      if (!body_json(&body)) return;
      RegistryInput in;
      std::string err = ParseRegistryInput(*body, &in);
      if (!err.empty()) return SendError(resp, 400, err);
      Result<RegistryInfo> r = store_.CreateRegistry(in, caller);
      if (!r.ok()) return SendError(resp, StatusFor(r.outcome), r.message);
      resp->headers.emplace_back(
          "Location", LocationUrl(req, std::string(kBase) + "/registries/" + r.value.id));
      return SendJson(resp, 201, RegistryJson(r.value, now, nulls));
    }
    return not_allowed("GET, POST");
  }

  const std::string& rid = seg[1];
  if (!IsUuid(rid)) {
    return SendError(resp, 400, "registryId: \"" + rid + "\" is not a UUID");
  }

  // /registries/{registryId}
  if (seg.size() == 2) {
    if (m == "GET") {
      std::optional<RegistryInfo> r = store_.GetRegistry(rid);
      if (!r) return SendError(resp, 404, "registry " + rid + " not found");
      return SendJson(resp, 200, RegistryJson(*r, now, nulls));
    }
    if (m == "DELETE") {
      if (!store_.DeleteRegistry(rid))
        return SendError(resp, 404, "registry " + rid + " not found");
      resp->status = 204;
      return;
    }
    if (m == "PUT") {
      std::optional<nlohmann::json> body;
      if (!body_json(&body)) return;
      RegistryInput in;
      std::string err = ParseRegistryInput(*body, &in);
      if (!err.empty()) return SendError(resp, 400, err);
      bool created = false;
      Result<RegistryInfo> r = store_.PutRegistry(rid, in, caller, &created);
      if (!r.ok()) return SendError(resp, StatusFor(r.outcome), r.message);
      resp->headers.emplace_back(
          "Location", LocationUrl(req, std::string(kBase) + "/registries/" + r.value.id));
      return SendJson(resp, 201, RegistryJson(r.value, now, nulls));
    }
    if (m == "PATCH") {
      std::optional<nlohmann::json> body;
      if (!body_json(&body)) return;
      std::optional<nlohmann::json> schedule;
      std::string err = ParseRegistryPatch(*body, &schedule);
      if (!err.empty()) return SendError(resp, 400, err);
      Result<RegistryInfo> r = store_.PatchRegistry(rid, schedule, caller);
      if (!r.ok()) return SendError(resp, StatusFor(r.outcome), "registry " + rid + " not found");
      return SendJson(resp, 200, RegistryJson(r.value, now, nulls));
    }
    return not_allowed("GET, PUT, PATCH, DELETE");
  }

  // /registries/{registryId}/repositories/{name}: the emulator stores no images, so deleting a
  // repository's contents always succeeds on a known registry.
  if (seg[2] == "repositories") {
    if (m != "DELETE") return not_allowed("DELETE");
    if (!store_.GetRegistry(rid)) return SendError(resp, 404, "registry " + rid + " not found");
    static const std::regex kRepo("^[a-z0-9]+(?:[._-][a-z0-9]+)*$");
    if (!std::regex_match(seg[3], kRepo)) {
      return SendError(resp, 404, "no repository named \"" + seg[3] + "\"");
    }
    resp->status = 204;
    return;
  }

  // /registries/{registryId}/tokens
  if (seg.size() == 3) {
    if (m == "GET") {
      int64_t offset = 0, limit = 0;
      if (auto it = query.find("offset"); it != query.end()) {
        std::string err = ParseIntParam("offset", it->second, 0, &offset);
        if (!err.empty()) return SendError(resp, 400, err);
      }
      if (!parse_limit(&limit)) return;
      Result<TokenPage> page = store_.ListTokens(rid, offset, limit);
      if (!page.ok()) return SendError(resp, 404, "registry " + rid + " not found");
      std::string base = std::string(kBase) + "/registries/" + ToLower(rid) + "/tokens";
      auto link = [&](int64_t off) {
        return base + "?offset=" + std::to_string(off) + "&limit=" + std::to_string(limit);
      };
      int64_t count = static_cast<int64_t>(page.value.items.size());
      resp->status = 200;
      resp->headers.emplace_back("Content-Type", "application/json");
      resp->body.reserve(512 + 600 * page.value.items.size());
      JsonWriter w(&resp->body);
      w.BeginObject();
      w.Key("id").String("tokens").Key("type").String("collection").Key("href").String("");
      w.Key("items").BeginArray();
      for (const auto& t : page.value.items) WriteToken(w, t, false, nulls);
      w.EndArray();
      w.Key("count").Int(count).Key("limit").Int(limit).Key("offset").Int(offset);
      w.Key("total").Int(page.value.total);
      w.Key("_links").BeginObject();
      w.Key("self").String(link(offset));
      w.Key("next").String(offset + count < page.value.total ? link(offset + count) : "");
      w.Key("previous").String(offset > 0 ? link(std::max<int64_t>(0, offset - limit)) : "");
      w.EndObject();
      w.EndObject();
      return;
    }
    if (m == "POST") {
      std::optional<nlohmann::json> body;
      if (!body_json(&body)) return;
      TokenInput in;
      std::string err = ParseTokenInput(*body, now, options_.min_expiry_seconds, &in);
      if (!err.empty()) return SendError(resp, 400, err);
      Result<Token> t = store_.CreateToken(rid, in, caller);
      if (!t.ok()) {
        return SendError(
            resp, StatusFor(t.outcome),
            t.outcome == Outcome::kNotFound ? "registry " + rid + " not found" : t.message);
      }
      resp->headers.emplace_back(
          "Location", LocationUrl(req, std::string(kBase) + "/registries/" + ToLower(rid) +
                                           "/tokens/" + t.value.id));
      return SendToken(resp, 201, t.value, true, nulls);
    }
    return not_allowed("GET, POST");
  }

  // /registries/{registryId}/tokens/{tokenId}
  const std::string& tid = seg[3];
  if (!IsUuid(tid)) return SendError(resp, 400, "tokenId: \"" + tid + "\" is not a UUID");
  auto not_found = [&](const std::string& message) {
    SendError(resp, 404,
              message == "registry not found" ? "registry " + rid + " not found"
                                              : "token " + tid + " not found");
  };
  if (m == "GET") {
    Result<Token> t = store_.GetToken(rid, tid);
    if (!t.ok()) return not_found(t.message);
    return SendToken(resp, 200, t.value, false, nulls);
  }
  if (m == "DELETE") {
    Result<bool> r = store_.DeleteToken(rid, tid);
    if (!r.ok()) return not_found(r.message);
    resp->status = 204;
    return;
  }
  if (m == "PUT") {
    std::optional<nlohmann::json> body;
    if (!body_json(&body)) return;
    TokenInput in;
    std::string err = ParseTokenInput(*body, now, options_.min_expiry_seconds, &in);
    if (!err.empty()) return SendError(resp, 400, err);
    Result<PutTokenResult> r = store_.PutToken(rid, tid, in, caller);
    if (!r.ok()) {
      if (r.outcome == Outcome::kNotFound) return not_found(r.message);
      return SendError(resp, StatusFor(r.outcome), r.message);
    }
    resp->headers.emplace_back("Location",
                               LocationUrl(req, std::string(kBase) + "/registries/" + ToLower(rid) +
                                                    "/tokens/" + r.value.token.id));
    int status = r.value.created ? 201 : options_.put_replace_status;
    return SendToken(resp, status, r.value.token, r.value.password_issued, nulls);
  }
  if (m == "PATCH") {
    std::optional<nlohmann::json> body;
    if (!body_json(&body)) return;
    TokenPatch patch;
    std::string err = ParseTokenPatch(*body, now, options_.min_expiry_seconds, &patch);
    if (!err.empty()) return SendError(resp, 400, err);
    Result<Token> t = store_.PatchToken(rid, tid, patch, caller);
    if (!t.ok()) return not_found(t.message);
    return SendToken(resp, 200, t.value, false, nulls);
  }
  return not_allowed("GET, PUT, PATCH, DELETE");
}

// ---- EmulatorServer -----------------------------------------------------------------------

EmulatorServer::EmulatorServer(EmulatorOptions options)
    : emulator_(std::make_unique<Emulator>(std::move(options))),
      server_(
          [this](const HttpRequest& req, HttpResponse* resp) { emulator_->Handle(req, resp); }) {}

EmulatorServer::~EmulatorServer() { Stop(); }

bool EmulatorServer::Start(std::string* error) {
  return server_.Start(emulator_->options().host, emulator_->options().port, error);
}

void EmulatorServer::Stop() { server_.Stop(); }

}  // namespace crtoken::emulator
