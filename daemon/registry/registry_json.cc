#include "daemon/registry/registry_json.h"

#include <nlohmann/json.hpp>

#include "daemon/common/json_text.h"
#include "reconciler/time_util.h"

namespace crtoken {
namespace {

using nlohmann::json;

// `what` quotes the server (an id, a status it sent): made printable here, like DescribeErrorBody's
// text, so that it cannot forge a log line.
Error Malformed(const std::string& what) {
  return Error{ErrorKind::kUnavailable,
               "malformed response: " + PrintableText(what, kMaxApiMessageBytes)};
}

// Reads an optional string member; null and absent give "". A non-string is an error.
bool OptString(const json& obj, const char* key, std::string* out, std::string* err) {
  out->clear();
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_string()) {
    *err = std::string("'") + key + "' is not a string";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

// An integer member that the spec marks required; tolerates numbers sent as strings.
bool ReqInt(const json& obj, const char* key, int64_t* out, std::string* err) {
  auto it = obj.find(key);
  if (it != obj.end() && it->is_number_integer()) {
    *out = it->get<int64_t>();
    return true;
  }
  if (it != obj.end() && it->is_string()) {
    try {
      size_t used = 0;
      const std::string s = it->get<std::string>();
      *out = std::stoll(s, &used);
      if (used == s.size()) return true;
    } catch (const std::exception&) {
    }
  }
  *err = std::string("'") + key + "' is missing or not an integer";
  return false;
}

bool ParseTokenObject(const json& j, ObservedToken* token, Password* password, std::string* err) {
  if (!j.is_object()) {
    *err = "token is not an object";
    return false;
  }
  if (!OptString(j, "id", &token->id, err)) return false;
  if (token->id.empty()) {
    *err = "token without an id";
    return false;
  }
  auto props = j.find("properties");
  if (props == j.end() || !props->is_object()) {
    *err = "token " + token->id + " has no properties object";
    return false;
  }
  if (!OptString(*props, "name", &token->name, err)) return false;
  if (token->name.empty()) {
    *err = "token " + token->id + " has no name";
    return false;
  }
  std::string status;
  if (!OptString(*props, "status", &status, err)) return false;
  if (status.empty() || status == "enabled") {
    token->status = TokenStatus::kEnabled;
  } else if (status == "disabled") {
    token->status = TokenStatus::kDisabled;
  } else {
    *err = "token " + token->id + " has an unknown status '" + status + "'";
    return false;
  }
  std::string expiry;
  if (!OptString(*props, "expiryDate", &expiry, err)) return false;
  token->expiry.reset();
  if (!expiry.empty()) {
    token->expiry = ParseRfc3339(expiry);
    if (!token->expiry) {
      *err = "token " + token->id + " has an invalid expiryDate '" + expiry + "'";
      return false;
    }
  }
  token->scopes.clear();
  auto scopes = props->find("scopes");
  if (scopes != props->end() && !scopes->is_null()) {
    if (!scopes->is_array()) {
      *err = "token " + token->id + ": 'scopes' is not an array";
      return false;
    }
    for (const json& s : *scopes) {
      if (!s.is_object()) {
        *err = "token " + token->id + ": a scope is not an object";
        return false;
      }
      Scope scope;
      if (!OptString(s, "name", &scope.name, err) || !OptString(s, "type", &scope.type, err)) {
        return false;
      }
      auto actions = s.find("actions");
      if (actions != s.end() && !actions->is_null()) {
        if (!actions->is_array()) {
          *err = "token " + token->id + ": scope actions are not an array";
          return false;
        }
        for (const json& a : *actions) {
          if (!a.is_string()) {
            *err = "token " + token->id + ": a scope action is not a string";
            return false;
          }
          scope.actions.push_back(a.get<std::string>());
        }
      }
      token->scopes.push_back(std::move(scope));
    }
  }
  if (password != nullptr) {
    *password = Password();
    auto creds = props->find("credentials");
    if (creds != props->end() && creds->is_object()) {
      auto pw = creds->find("password");
      if (pw != creds->end() && pw->is_string()) *password = Password(pw->get<std::string>());
    }
  }
  return true;
}

bool ParseRegistryObject(const json& j, RegistryInfo* info, std::string* err) {
  if (!j.is_object()) {
    *err = "registry is not an object";
    return false;
  }
  if (!OptString(j, "id", &info->id, err)) return false;
  if (info->id.empty()) {
    *err = "registry without an id";
    return false;
  }
  auto props = j.find("properties");
  if (props == j.end() || !props->is_object()) {
    *err = "registry " + info->id + " has no properties object";
    return false;
  }
  if (!OptString(*props, "name", &info->name, err) ||
      !OptString(*props, "hostname", &info->hostname, err)) {
    return false;
  }
  info->state.clear();
  auto meta = j.find("metadata");
  if (meta != j.end() && meta->is_object() && !OptString(*meta, "state", &info->state, err)) {
    return false;
  }
  return true;
}

bool Parse(const std::string& body, json* out, std::string* err) {
  try {
    *out = json::parse(body);
    return true;
  } catch (const json::parse_error& e) {
    // Not e.what(): it quotes the bytes read, which could be part of a secret.
    *err = "invalid JSON at byte " + std::to_string(e.byte);
    return false;
  } catch (const json::exception& e) {
    *err = "invalid JSON";
    return false;
  }
}

// The request bodies are written by hand with the one JSON escaper (json_text.h): a create is sent
// for every token, and building a nlohmann document first cost ten times the writing.
void AppendScopes(std::string& out, const std::vector<Scope>& scopes) {
  out += '[';
  for (size_t i = 0; i < scopes.size(); ++i) {
    const Scope& s = scopes[i];
    out += i == 0 ? "{\"name\":" : ",{\"name\":";
    AppendJsonString(out, s.name);
    out += ",\"type\":";
    AppendJsonString(out, s.type);
    out += ",\"actions\":[";
    for (size_t a = 0; a < s.actions.size(); ++a) {
      if (a > 0) out += ',';
      AppendJsonString(out, s.actions[a]);
    }
    out += "]}";
  }
  out += ']';
}

}  // namespace

Result<ObservedToken> DecodeToken(const std::string& body, Password* password) {
  json j;
  std::string err;
  ObservedToken token;
  if (!Parse(body, &j, &err) || !ParseTokenObject(j, &token, password, &err)) {
    return Malformed(err);
  }
  return token;
}

Result<TokenPage> DecodeTokenPage(const std::string& body) {
  json j;
  std::string err;
  if (!Parse(body, &j, &err)) return Malformed(err);
  if (!j.is_object()) return Malformed("token list is not an object");
  TokenPage page;
  if (!ReqInt(j, "count", &page.count, &err) || !ReqInt(j, "total", &page.total, &err)) {
    return Malformed("token list: " + err);
  }
  // offset and limit are echoes of the request; tolerated when absent.
  if (!ReqInt(j, "offset", &page.offset, &err)) page.offset = -1;
  if (!ReqInt(j, "limit", &page.limit, &err)) page.limit = -1;
  auto items = j.find("items");
  if (items != j.end() && !items->is_null()) {
    if (!items->is_array()) return Malformed("token list: 'items' is not an array");
    for (const json& item : *items) {
      ObservedToken token;
      if (!ParseTokenObject(item, &token, nullptr, &err)) return Malformed(err);
      page.items.push_back(std::move(token));
    }
  }
  if (page.count < 0 || page.total < 0 || static_cast<size_t>(page.count) != page.items.size()) {
    return Malformed("token list: count " + std::to_string(page.count) + " but " +
                     std::to_string(page.items.size()) + " items");
  }
  return page;
}

Result<RegistryInfo> DecodeRegistry(const std::string& body) {
  json j;
  std::string err;
  RegistryInfo info;
  if (!Parse(body, &j, &err) || !ParseRegistryObject(j, &info, &err)) return Malformed(err);
  return info;
}

Result<RegistryPage> DecodeRegistryPage(const std::string& body) {
  json j;
  std::string err;
  if (!Parse(body, &j, &err)) return Malformed(err);
  if (!j.is_object()) return Malformed("registry list is not an object");
  RegistryPage page;
  auto items = j.find("items");
  if (items != j.end() && !items->is_null()) {
    if (!items->is_array()) return Malformed("registry list: 'items' is not an array");
    for (const json& item : *items) {
      RegistryInfo info;
      if (!ParseRegistryObject(item, &info, &err)) return Malformed(err);
      page.items.push_back(std::move(info));
    }
  }
  auto pagination = j.find("pagination");
  if (pagination != j.end() && pagination->is_object() &&
      !OptString(*pagination, "token", &page.next_token, &err)) {
    return Malformed("registry list: pagination " + err);
  }
  return page;
}

std::string EncodeTokenCreate(const TokenFields& fields) {
  std::string out;
  out.reserve(128 + 64 * fields.scopes.size());
  out += "{\"properties\":{\"name\":";
  AppendJsonString(out, fields.name);
  out += ",\"status\":";
  AppendJsonString(out, TokenStatusName(fields.status));
  if (fields.expiry) {
    out += ",\"expiryDate\":";
    AppendJsonString(out, FormatRfc3339(*fields.expiry));
  }
  out += ",\"scopes\":";
  AppendScopes(out, fields.scopes);
  out += "}}";
  return out;
}

std::string EncodeTokenPatch(const TokenPatch& patch) {
  std::string out = "{";
  const auto member = [&out](const char* name) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += name;
    out += "\":";
  };
  if (patch.status) {
    member("status");
    AppendJsonString(out, TokenStatusName(*patch.status));
  }
  if (patch.expiry) {
    member("expiryDate");
    if (*patch.expiry) {
      AppendJsonString(out, FormatRfc3339(**patch.expiry));
    } else {
      out += "null";
    }
  }
  if (patch.scopes) {
    member("scopes");
    AppendScopes(out, *patch.scopes);
  }
  out += '}';
  return out;
}

std::string DescribeErrorBody(const std::string& body) {
  if (body.empty()) return "";
  std::string out;
  try {
    const json j = json::parse(body);
    auto messages = j.is_object() ? j.find("messages") : j.end();
    if (j.is_object() && messages != j.end() && messages->is_array()) {
      for (const json& m : *messages) {
        if (out.size() > kMaxApiMessageBytes) break;  // the rest would be cut anyway
        if (!m.is_object()) continue;
        auto text = m.find("message");
        if (text == m.end() || !text->is_string()) continue;
        if (!out.empty()) out += "; ";
        out += text->get<std::string>();
        auto code = m.find("errorCode");
        if (code != m.end() && code->is_string() && !code->get<std::string>().empty()) {
          out += " (errorCode " + code->get<std::string>() + ")";
        }
      }
    }
  } catch (const json::exception&) {
  }
  if (!out.empty()) return PrintableText(out, kMaxApiMessageBytes);
  return PrintableText(body, 200);
}

}  // namespace crtoken
