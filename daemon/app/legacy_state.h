// The ownership file of versions before the stateless ownership (docs/ownership.md, "Upgrading
// from a state directory"): <state-dir>/ownership.json, read once so that the migration can hand
// its tokens over. Read-only: nothing here writes the format any more.
//
// The format (version 1): {"version": 1, "records": [{"registryId", "registryName", "tokenName",
// "tokenId", "generation", "phase": "creating"|"created"|"ready", "secret": {"file": PATH} or
// {"kubernetes": {"namespace", "name"}}, "sourceFile", and "sourceFileHex" (the exact bytes of a
// name that is not UTF-8)}, ...]}.
//
// A missing file (or state dir) is "nothing to migrate"; an unreadable or corrupt file is an error
// naming the path and what is wrong (never "nothing to migrate": its tokens would be stranded). The
// read is bounded: a FIFO, a device or a huge file is refused unread. Never throws.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "daemon/common/file_ops.h"
#include "reconciler/error.h"
#include "reconciler/types.h"

namespace crtoken {

// One token the earlier version created or adopted.
struct LegacyRecord {
  enum class Phase {
    kCreating,  // the intent was recorded; the PUT may or may not have happened
    kCreated,   // the token existed; its password had not reached the secret
    kReady,     // the password was in the secret
  };
  std::string registry_id;
  std::string registry_name;  // for messages only
  std::string token_name;
  std::string token_id;  // the id the token was created with
  int generation = 0;
  Phase phase = Phase::kCreating;
  SecretRef secret;         // where its password was delivered
  std::string source_file;  // the spec file that declared it (bytes, not necessarily UTF-8)
  TokenKey key() const { return TokenKey{registry_id, token_name}; }
};

const char* LegacyPhaseName(LegacyRecord::Phase phase);  // "creating" | "created" | "ready"

inline constexpr char kLegacyStateFile[] = "ownership.json";

// The records of <state_dir>/ownership.json, in (registry id, token name) order; std::nullopt when
// there is no such file. `ops` defaults to the real file system.
Result<std::optional<std::vector<LegacyRecord>>> ReadLegacyState(const std::string& state_dir,
                                                                 FileOps* ops = nullptr);

// The records in `content`; `path` names the file in errors.
Result<std::vector<LegacyRecord>> ParseLegacyState(const std::string& content,
                                                   const std::string& path);

}  // namespace crtoken
