// A dockerconfigjson file or Secret payload as a sink reads it back. The reader never throws;
// ReadDockerCredential has a credential exactly when ParseDockerConfigJson reports a password;
// and a credential read, written again (as SecretSink::Stamp does), reads back the same.
#include <string_view>

#include "daemon/sinks/docker_config.h"
#include "tests/fuzz/fuzz_targets.h"

namespace crtoken::fuzz {

void FuzzOneDockerConfig(const uint8_t* data, size_t size) {
  const std::string_view content(reinterpret_cast<const char*>(data), size);
  const SecretState state = ParseDockerConfigJson(content);
  CRTOKEN_FUZZ_CHECK(state.exists);
  const auto credential = ReadDockerCredential(content);
  CRTOKEN_FUZZ_CHECK(credential.has_value() == state.has_password);
  if (!credential) return;
  CRTOKEN_FUZZ_CHECK(credential->hostname == state.hostname);
  CRTOKEN_FUZZ_CHECK(credential->username == state.username);
  CRTOKEN_FUZZ_CHECK(credential->record == state.record);

  const auto again = ReadDockerCredential(DockerConfigJson(*credential));
  CRTOKEN_FUZZ_CHECK(again.has_value());
  CRTOKEN_FUZZ_CHECK(again->hostname == credential->hostname);
  CRTOKEN_FUZZ_CHECK(again->username == credential->username);
  CRTOKEN_FUZZ_CHECK(again->password.Reveal() == credential->password.Reveal());
  CRTOKEN_FUZZ_CHECK(again->record == credential->record);
}

}  // namespace crtoken::fuzz
