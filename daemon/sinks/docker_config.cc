#include "daemon/sinks/docker_config.h"

#include <nlohmann/json.hpp>

#include "daemon/common/base64.h"
#include "daemon/common/json_text.h"

namespace crtoken {
namespace {

std::string StringField(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// The record of a parsed document: all four members, or none.
SecretRecord RecordOf(const nlohmann::json& doc) {
  auto member = doc.find("crtoken");
  if (member == doc.end() || !member->is_object()) return {};
  SecretRecord record{StringField(*member, "owner"), StringField(*member, "registryId"),
                      StringField(*member, "token"), StringField(*member, "tokenId")};
  if (record.owner.empty() || record.registry_id.empty() || record.token_name.empty() ||
      record.token_id.empty()) {
    return {};
  }
  return record;
}

// Everything of a dockerconfigjson that crtoken reads. `password` is set only for a single-entry
// "auths" whose entry is an object.
struct Parsed {
  std::string hostname;
  std::string username;
  std::string password;
  SecretRecord record;
};

Parsed Parse(std::string_view content) {
  Parsed out;
  auto doc = nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return out;
  out.record = RecordOf(doc);
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object() || auths->size() != 1) return out;
  // The object iterator itself: items().begin() is a temporary, and a reference into it (or a
  // structured binding of it) would dangle past this statement.
  const auto first = auths->begin();
  const std::string& host = first.key();
  const nlohmann::json& entry = first.value();
  if (!entry.is_object()) return out;
  out.hostname = host;
  out.username = StringField(entry, "username");
  out.password = StringField(entry, "password");
  if (out.username.empty() || out.password.empty()) {
    if (auto auth = Base64Decode(StringField(entry, "auth"))) {
      const size_t colon = auth->find(':');
      if (colon != std::string::npos) {
        if (out.username.empty()) out.username = auth->substr(0, colon);
        if (out.password.empty()) out.password = auth->substr(colon + 1);
      }
    }
  }
  return out;
}

}  // namespace

std::string DockerConfigJson(const DockerCredential& c) {
  const std::string& password = c.password.Reveal();
  std::string out = "{\"auths\":{";
  AppendJsonString(out, c.hostname);
  out += ":{\"username\":";
  AppendJsonString(out, c.username);
  out += ",\"password\":";
  AppendJsonString(out, password);
  out += ",\"auth\":";
  AppendJsonString(out, Base64Encode(c.username + ":" + password));
  out += "}}";
  if (!c.record.empty()) {
    out += ",\"crtoken\":{\"owner\":";
    AppendJsonString(out, c.record.owner);
    out += ",\"registryId\":";
    AppendJsonString(out, c.record.registry_id);
    out += ",\"token\":";
    AppendJsonString(out, c.record.token_name);
    out += ",\"tokenId\":";
    AppendJsonString(out, c.record.token_id);
    out += '}';
  }
  out += '}';
  return out;
}

SecretState ParseDockerConfigJson(std::string_view content) {
  Parsed parsed = Parse(content);
  SecretState state;
  state.exists = true;
  state.hostname = std::move(parsed.hostname);
  state.username = std::move(parsed.username);
  state.has_password = !parsed.password.empty();
  state.record = std::move(parsed.record);
  return state;
}

std::optional<DockerCredential> ReadDockerCredential(std::string_view content) {
  Parsed parsed = Parse(content);
  if (parsed.password.empty()) return std::nullopt;
  return DockerCredential{std::move(parsed.hostname), std::move(parsed.username),
                          Password(std::move(parsed.password)), std::move(parsed.record)};
}

}  // namespace crtoken
