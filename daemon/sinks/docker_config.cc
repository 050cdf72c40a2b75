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
  out += "}}}";
  return out;
}

SecretState ParseDockerConfigJson(std::string_view content) {
  SecretState state;
  state.exists = true;
  auto doc = nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return state;
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object() || auths->size() != 1) return state;
  const auto& [host, entry] = *auths->items().begin();
  if (!entry.is_object()) return state;
  state.hostname = host;
  std::string username = StringField(entry, "username");
  std::string password = StringField(entry, "password");
  if (username.empty() || password.empty()) {
    if (auto auth = Base64Decode(StringField(entry, "auth"))) {
      const size_t colon = auth->find(':');
      if (colon != std::string::npos) {
        if (username.empty()) username = auth->substr(0, colon);
        if (password.empty()) password = auth->substr(colon + 1);
      }
    }
  }
  state.username = username;
  state.has_password = !password.empty();
  return state;
}

}  // namespace crtoken
