// The token ids crtoken chooses, and what an id read back from the registry says. An id carries
// the owner (one installation of crtoken), the token's key (registry id, token name) and a
// generation, so that whether crtoken owns a token, and which issue of it is live, is read from
// the registry itself (docs/ownership.md):
//
//    xxxxxxxx-gggg-8ttt-vkkk-kkkkkkkkkkkk
//    xxxxxxxx  owner fingerprint: the first 32 bits of SHA-256("crtoken-owner\0" + owner)
//    gggg      generation: 16 bits, bumped on every re-issue (wraps after 65535)
//    8         version 8 (RFC 9562: a custom layout)
//    ttt       tag 0xc72: "a crtoken id"
//    v         variant bits 10 (RFC 9562), then the key hash
//    k...      key hash: the first 62 bits of
//              SHA-256("crtoken-key\0" + owner + "\0" + registry id + "\0" + token name)
//
// The same (owner, registry id, token name, generation) always yields the same id, so a create
// that is retried (or repeated after a crash) with PUT can never make a second token.
//
// Precondition of every function taking an owner: the owner is valid (1 to 63 characters of
// [a-z0-9-]); the command line checks that before anything runs. Pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace crtoken {

// The id of generation `generation` of the token `token_name` of `registry_id`, created by
// `owner`, in lowercase canonical form.
std::string OwnedTokenId(const std::string& owner, const std::string& registry_id,
                         const std::string& token_name, uint16_t generation);

// The owner fingerprint that OwnedTokenId puts in the first 32 bits.
uint32_t OwnerFingerprint(const std::string& owner);
// A fingerprint as the 8 lowercase hex digits it has in an id, for messages.
std::string FingerprintText(uint32_t fingerprint);

enum class TokenIdClass {
  kMine,        // this owner's id for exactly this (registry, name)
  kOtherOwner,  // a crtoken id of another owner
  kCollided,    // this owner's mark, but the key hash of another (registry, name): forged or a
                // collision
  kNotCrtoken,  // anything else: another tool's id, a hand-made token, an id of older versions
};
const char* TokenIdClassName(TokenIdClass cls);

struct TokenIdInfo {
  TokenIdClass cls = TokenIdClass::kNotCrtoken;
  uint16_t generation = 0;   // kMine (and kCollided: what the id says)
  uint32_t fingerprint = 0;  // kMine, kOtherOwner, kCollided: the owner fingerprint in the id
};

// What the token `id` (as the registry lists it, in either case) of `token_name` in `registry_id`
// is to `owner`.
TokenIdInfo ClassifyTokenId(const std::string& owner, const std::string& registry_id,
                            const std::string& token_name, const std::string& id);

// True for the canonical 8-4-4-4-12 hex form the API accepts as a path parameter (either case).
bool IsUuid(const std::string& text);

}  // namespace crtoken
