// The ownership records of earlier versions, which kept in --state-dir/ownership.json which tokens
// crtoken owned and every create in flight. The reconcile pass no longer reads or writes them (it
// reads ownership from the token ids and the secrets, docs/ownership.md); FileStateStore keeps
// them readable for the migration from a state directory.
//
// Contract: thread-safe; never throws; a mutation that returns ok is durable (survives kill -9).
#pragma once

#include <string>
#include <vector>

#include "reconciler/error.h"
#include "reconciler/types.h"

namespace crtoken {

// One token crtoken created or adopted.
struct OwnershipRecord {
  enum class Phase {
    kCreating,  // intent recorded; the PUT may or may not have happened
    kCreated,   // the token exists; its password has not reached the sink yet
    kReady,     // the password is in the sink
  };
  std::string registry_id;
  std::string registry_name;  // for messages only
  std::string token_name;
  std::string token_id;  // the deterministic id used for the PUT
  int generation = 0;    // bumped on every re-issue; part of the id derivation
  Phase phase = Phase::kCreating;
  SecretRef secret;         // where its password was delivered (deleted on prune)
  std::string source_file;  // the spec file that declared it
  TokenKey key() const { return TokenKey{registry_id, token_name}; }
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Result<std::vector<OwnershipRecord>> Load() = 0;
  // Inserts or replaces the record with the same (registry_id, token_name).
  virtual Status Put(const OwnershipRecord& record) = 0;
  // Inserts or replaces several records with one durable write.
  virtual Status PutAll(const std::vector<OwnershipRecord>& records) = 0;
  // Removing an absent record succeeds.
  virtual Status Remove(const TokenKey& key) = 0;
  // Removes several records with one durable write. The default removes them one by one; stores
  // whose writes are expensive override it.
  virtual Status RemoveAll(const std::vector<TokenKey>& keys) {
    for (const auto& key : keys) {
      Status status = Remove(key);
      if (!status.ok()) return status;
    }
    return Status::Ok();
  }
};

}  // namespace crtoken
