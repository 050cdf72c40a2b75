#include "reconciler/token_id.h"

#include <openssl/evp.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <stdexcept>

namespace crtoken {
namespace {

// The crtoken namespace UUID: fixed forever, since changing it changes every token id.
// ("c7a1d8e2-4b3f-4e6a-9f0d-2a5b7c3e1f90", chosen once at random.)
constexpr std::array<uint8_t, 16> kNamespace = {0xc7, 0xa1, 0xd8, 0xe2, 0x4b, 0x3f, 0x4e, 0x6a,
                                                0x9f, 0x0d, 0x2a, 0x5b, 0x7c, 0x3e, 0x1f, 0x90};

}  // namespace

std::string DeterministicTokenId(const std::string& registry_id, const std::string& token_name,
                                 int generation) {
  const std::string name = registry_id + "/" + token_name + "/" + std::to_string(generation);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, kNamespace.data(), kNamespace.size()) == 1 &&
            EVP_DigestUpdate(ctx, name.data(), name.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1 && digest_len >= 16;
  EVP_MD_CTX_free(ctx);
  // SHA-1 from the default provider cannot fail short of memory exhaustion; a silent fallback id
  // would break determinism, so this is treated as fatal.
  if (!ok) throw std::runtime_error("DeterministicTokenId: SHA-1 digest failed");

  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

bool IsUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace crtoken
