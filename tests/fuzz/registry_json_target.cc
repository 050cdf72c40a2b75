// A Container Registry API response body, as each decoder would receive it: every decoder must
// return a value or a kUnavailable "malformed response" error, and the error describer a
// printable, bounded text; never throw or crash.
#include <string>

#include "daemon/registry/registry_json.h"
#include "tests/fuzz/fuzz_targets.h"

namespace crtoken::fuzz {
namespace {

template <typename T>
void CheckDecoded(const Result<T>& r) {
  if (!r.ok()) {
    CRTOKEN_FUZZ_CHECK(r.error().kind == ErrorKind::kUnavailable);
    CRTOKEN_FUZZ_CHECK(!r.error().message.empty());
    // What the server sent reaches logs through the message: no line breaks, no escapes.
    for (unsigned char c : r.error().message) CRTOKEN_FUZZ_CHECK(c >= 0x20 && c != 0x7f);
  }
}

}  // namespace

void FuzzOneRegistryJson(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  Password password;
  CheckDecoded(DecodeToken(body, &password));
  CheckDecoded(DecodeTokenPage(body));
  CheckDecoded(DecodeRegistry(body));
  CheckDecoded(DecodeRegistryPage(body));
  const std::string described = DescribeErrorBody(body);
  // Printable and capped: escaping may grow a kept byte to six ("\u001b"), plus the cut marker.
  CRTOKEN_FUZZ_CHECK(described.size() <= 6 * kMaxApiMessageBytes + 64);
  for (unsigned char c : described) CRTOKEN_FUZZ_CHECK(c >= 0x20 && c != 0x7f);
}

}  // namespace crtoken::fuzz
