#include "reconciler/token_id.h"

#include <openssl/evp.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

namespace crtoken {
namespace {

constexpr uint8_t kVersionAndTagHigh = 0x8c;  // version 8, then the tag's first hex digit (c)
constexpr uint8_t kTagLow = 0x72;             // the tag's last two hex digits (72)

using Digest = std::array<uint8_t, 32>;

// SHA-256 of the parts joined by NUL bytes.
Digest Sha256(std::initializer_list<const std::string*> parts) {
  std::string input;
  bool first = true;
  for (const std::string* part : parts) {
    if (!first) input.push_back('\0');
    first = false;
    input += *part;
  }
  Digest digest;
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != digest.size()) {
    // SHA-256 of the default provider fails only when memory is exhausted; an id computed any
    // other way would break determinism.
    std::fputs("crtoken: SHA-256 failed computing a token id\n", stderr);
    std::abort();
  }
  return digest;
}

const std::string kOwnerDomain = "crtoken-owner";
const std::string kKeyDomain = "crtoken-key";

// The first 62 bits of the key digest.
uint64_t KeyHash(const std::string& owner, const std::string& registry_id,
                 const std::string& token_name) {
  const Digest d = Sha256({&kKeyDomain, &owner, &registry_id, &token_name});
  uint64_t first = 0;
  for (int i = 0; i < 8; ++i) first = (first << 8) | d[i];
  return first >> 2;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The 16 bytes of a canonical UUID; false when `text` is not one.
bool ParseUuid(const std::string& text, std::array<uint8_t, 16>* out) {
  if (!IsUuid(text)) return false;
  std::string hex;
  for (char c : text) {
    if (c != '-') hex.push_back(c);
  }
  for (size_t i = 0; i < 16; ++i) {
    (*out)[i] = static_cast<uint8_t>(HexValue(hex[2 * i]) << 4 | HexValue(hex[2 * i + 1]));
  }
  return true;
}

}  // namespace

uint32_t OwnerFingerprint(const std::string& owner) {
  // One owner per process in practice: the last fingerprint is kept per thread.
  thread_local std::string cached_owner;
  thread_local uint32_t cached = 0;
  thread_local bool valid = false;
  if (valid && cached_owner == owner) return cached;
  const Digest d = Sha256({&kOwnerDomain, &owner});
  cached = static_cast<uint32_t>(d[0]) << 24 | static_cast<uint32_t>(d[1]) << 16 |
           static_cast<uint32_t>(d[2]) << 8 | d[3];
  cached_owner = owner;
  valid = true;
  return cached;
}

std::string FingerprintText(uint32_t fingerprint) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", fingerprint);
  return text;
}

std::string OwnedTokenId(const std::string& owner, const std::string& registry_id,
                         const std::string& token_name, uint16_t generation) {
  const uint32_t fp = OwnerFingerprint(owner);
  const uint64_t key = KeyHash(owner, registry_id, token_name);
  std::array<uint8_t, 16> b;
  for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(fp >> (24 - 8 * i));
  b[4] = static_cast<uint8_t>(generation >> 8);
  b[5] = static_cast<uint8_t>(generation);
  b[6] = kVersionAndTagHigh;
  b[7] = kTagLow;
  b[8] = static_cast<uint8_t>(0x80 | ((key >> 56) & 0x3f));  // variant 10, then 6 bits of key
  for (int i = 9; i < 16; ++i) b[i] = static_cast<uint8_t>(key >> (8 * (15 - i)));
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

const char* TokenIdClassName(TokenIdClass cls) {
  switch (cls) {
    case TokenIdClass::kMine:
      return "mine";
    case TokenIdClass::kOtherOwner:
      return "another owner's";
    case TokenIdClass::kCollided:
      return "forged or collided";
    case TokenIdClass::kNotCrtoken:
      return "not crtoken's";
  }
  return "not crtoken's";
}

TokenIdInfo ClassifyTokenId(const std::string& owner, const std::string& registry_id,
                            const std::string& token_name, const std::string& id) {
  TokenIdInfo info;
  std::array<uint8_t, 16> b;
  if (!ParseUuid(id, &b)) return info;
  // The tag and the version first: most ids that are not crtoken's stop here, without a hash.
  if (b[6] != kVersionAndTagHigh || b[7] != kTagLow || (b[8] & 0xc0) != 0x80) return info;
  info.fingerprint = static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 |
                     static_cast<uint32_t>(b[2]) << 8 | b[3];
  info.generation = static_cast<uint16_t>(b[4] << 8 | b[5]);
  if (info.fingerprint != OwnerFingerprint(owner)) {
    info.cls = TokenIdClass::kOtherOwner;
    return info;
  }
  uint64_t key = b[8] & 0x3f;
  for (int i = 9; i < 16; ++i) key = (key << 8) | b[i];
  info.cls = key == KeyHash(owner, registry_id, token_name) ? TokenIdClass::kMine
                                                            : TokenIdClass::kCollided;
  return info;
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
