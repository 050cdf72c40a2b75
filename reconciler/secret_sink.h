// Where passwords go. FileSecretSink and KubernetesSecretSink (daemon/) implement it; the
// reconciler holds one sink that dispatches on SecretRef::kind.
//
// Contract: thread-safe; never throws. Write and Delete are atomic (a reader sees the old content
// or the new, never a mix) when they return ok, and durable (they survive a crash of the machine)
// once a later Flush returns ok. The reconciler calls Flush before it records an outcome that
// depends on a secret, so one sync covers a whole batch of writes instead of one per file.
#pragma once

#include <string>
#include <vector>

#include "reconciler/error.h"
#include "reconciler/password.h"
#include "reconciler/types.h"

namespace crtoken {

// Which token a secret's password belongs to, and which crtoken installation wrote it. A sink
// stores it in the same atomic write as the password (the file sink inside the dockerconfigjson,
// in a member its consumers ignore; the Kubernetes sink in labels and annotations), so that
// "delivered" and "whose secret is this" are read from the secret itself, never remembered.
struct SecretRecord {
  std::string owner;        // the --owner of the crtoken that wrote the secret
  std::string registry_id;  // the token's registry
  std::string token_name;   // the token's name (= the username in the secret)
  std::string token_id;     // the token's id in the registry API
  bool empty() const { return token_id.empty(); }
  auto operator<=>(const SecretRecord&) const = default;
};

// One docker login: the content of a dockerconfigjson with a single entry under "auths".
struct DockerCredential {
  std::string hostname;  // the registry's hostname, never empty
  std::string username;  // the token name
  Password password;     // never empty
  SecretRecord record;   // written with the password when not empty
};

// What a sink holds for a ref, without the password.
struct SecretState {
  bool exists = false;
  bool has_password = false;  // a non-empty password is stored
  std::string hostname;       // the single "auths" key ("" when missing or unreadable)
  std::string username;
  SecretRecord record;  // as recorded by the crtoken that wrote it (empty when there is none)
  // Set when something crtoken must not overwrite occupies the place (a Kubernetes Secret without
  // the managed-by label, a directory or a symlink where the secret file goes): what it is and
  // what to do, naming it, e.g. "Secret team-a/pull exists and is not managed by crtoken (...):
  // delete or rename it, or ...". exists is true then, and nothing else is set.
  std::string conflict;
};

// A secret found by SecretSink::List.
struct ListedSecret {
  SecretRef ref;
  SecretRecord record;  // never empty
};

class SecretSink {
 public:
  virtual ~SecretSink() = default;
  virtual Status Write(const SecretRef& ref, const DockerCredential& credential) = 0;
  // exists == false for an absent secret; conflict set for a place that is not crtoken's to write
  // (Write would refuse it); an Error only when the sink cannot be read at all.
  virtual Result<SecretState> Inspect(const SecretRef& ref) = 0;
  // Removing an absent secret succeeds.
  virtual Status Delete(const SecretRef& ref) = 0;
  // Every secret of this sink whose record names `owner` (a whole record: owner, registry id, token
  // name and token id), in ref order: the file sink scans --secret-dir, the Kubernetes sink lists
  // Secrets by its labels. An Error when the sink cannot be listed completely (a partial list is
  // never returned: a secret missing from it may be taken as gone).
  virtual Result<std::vector<ListedSecret>> List(const std::string& owner) = 0;
  // Records `record` on the existing secret at `ref`, keeping its credential byte for byte, in one
  // atomic write (for secrets written before secrets recorded their token); durable as a Write is.
  // kNotFound when there is no secret there; a conflict place is refused as Write refuses it; a
  // secret without a credential to keep (no password) is not stamped.
  virtual Status Stamp(const SecretRef& ref, const SecretRecord& record) = 0;
  // For a fan-out ref (SecretRef::FanOut) whose token is delivered: brings every copy in line with
  // the copy that records `record` (the live token) and holds its password, without a new password:
  // writes that copy's credential where the Secret is missing or records another token, deletes
  // this ref's copies from namespaces it no longer targets, and fixes the ServiceAccounts'
  // imagePullSecrets. A namespace that cannot be written is reported in the error (naming it and
  // why) and does not stop the others; kNotFound when no copy records `record` (the caller
  // re-issues). Every other ref: nothing to do, this default.
  virtual Status Replicate(const SecretRef& ref, const SecretRecord& record) {
    (void)ref;
    (void)record;
    return Status::Ok();
  }
  // Makes every Write and Delete that returned ok before this call durable. An error means some
  // of them may be lost by a crash: the caller treats all of them as not done. Sinks whose writes
  // are durable when Write returns (an API server's) keep this default.
  virtual Status Flush() { return Status::Ok(); }
};

}  // namespace crtoken
