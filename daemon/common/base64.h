// Standard base64 with padding (RFC 4648, section 4): the one codec of crtoken, for the
// dockerconfigjson "auth" field, Kubernetes Secret data and kubeconfig *-data fields, and HTTP
// Basic credentials. (crtoken-emulator has its own: it shares no code with crtoken.) Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace crtoken {

std::string Base64Encode(std::string_view raw);
// Decodes standard base64 (padding required, no whitespace); nullopt when `text` is not that.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace crtoken
