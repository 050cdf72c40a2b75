// TEMPORARY: a weak stand-in for DeterministicTokenId until the API client branch (which owns
// reconciler/token_id.{h,cc}) is merged; its strong definition replaces this one at link time.
// Delete this file when merging main after that branch lands.
#include <openssl/sha.h>

#include <cstdio>

#include "reconciler/token_id.h"

namespace crtoken {

__attribute__((weak)) std::string DeterministicTokenId(const std::string& registry_id,
                                                       const std::string& token_name,
                                                       int generation) {
  const std::string input =
      "crtoken/" + registry_id + "/" + token_name + "/" + std::to_string(generation);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(
      out, sizeof(out), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
      digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
      digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]);
  return out;
}

}  // namespace crtoken
