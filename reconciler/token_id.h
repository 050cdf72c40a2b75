// Deterministic token ids: the same (registry, token name, generation) always yields the same
// UUID, so a create that is retried (or repeated after a crash) with PUT can never make a second
// token. A re-issue bumps the generation and so gets a fresh id.
#pragma once

#include <string>

namespace crtoken {

// A name-based UUID (RFC 4122 version 5: SHA-1) in the fixed crtoken namespace over
// "<registry_id>/<token_name>/<generation>", in lowercase canonical form
// ("xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx"). Pure and thread-safe.
std::string DeterministicTokenId(const std::string& registry_id, const std::string& token_name,
                                 int generation);

// True for the canonical 8-4-4-4-12 hex form the API accepts as a path parameter (either case).
bool IsUuid(const std::string& text);

}  // namespace crtoken
