// A credentials file's content. Parsing gives credentials whose Authorization header has no
// control character (nothing can be injected into the request), or a kInvalid error that never
// shows what a line holds after its key (it may be a secret).
#include <string>
#include <string_view>

#include "daemon/registry/credentials.h"
#include "tests/fuzz/fuzz_targets.h"

namespace crtoken::fuzz {
namespace {

// Characters that no fixed part of an error message contains: a key or value with one of them
// that shows up in a message was echoed from the file.
bool Distinctive(std::string_view s) {
  return s.size() >= 6 && s.find_first_of("!$%&*+<>?@[]^`{|}~") != std::string_view::npos;
}

}  // namespace

void FuzzOneCredentials(const uint8_t* data, size_t size) {
  const std::string content(reinterpret_cast<const char*>(data), size);
  const auto credentials = ParseCredentialsFile(content, "fuzz.creds");
  if (credentials.ok()) {
    for (unsigned char c : credentials.value().AuthorizationHeader()) {
      CRTOKEN_FUZZ_CHECK(c >= 0x20 && c != 0x7f);
    }
    return;
  }
  CRTOKEN_FUZZ_CHECK(credentials.error().kind == ErrorKind::kInvalid);
  const std::string& message = credentials.error().message;
  std::string_view rest(content);
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    const size_t eq = line.find('=');
    if (eq != std::string_view::npos) {
      const std::string_view key = line.substr(0, eq);
      const std::string_view value = line.substr(eq + 1);
      if (Distinctive(key)) CRTOKEN_FUZZ_CHECK(message.find(key) == std::string::npos);
      if (Distinctive(value)) CRTOKEN_FUZZ_CHECK(message.find(value) == std::string::npos);
    }
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
}

}  // namespace crtoken::fuzz
