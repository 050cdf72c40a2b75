// Where passwords go. FileSecretSink and KubernetesSecretSink (daemon/) implement it; the
// reconciler holds one sink that dispatches on SecretRef::kind.
//
// Contract: thread-safe; never throws. Write and Delete are atomic (a reader sees the old content
// or the new, never a mix) when they return ok, and durable (they survive a crash of the machine)
// once a later Flush returns ok. The reconciler calls Flush before it records an outcome that
// depends on a secret, so one sync covers a whole batch of writes instead of one per file.
#pragma once

#include <string>

#include "reconciler/error.h"
#include "reconciler/password.h"
#include "reconciler/types.h"

namespace crtoken {

// One docker login: the content of a dockerconfigjson with a single entry under "auths".
struct DockerCredential {
  std::string hostname;  // the registry's hostname, never empty
  std::string username;  // the token name
  Password password;     // never empty
  std::string token_id;  // the token's id in the registry API, when known (the Kubernetes sink
                         // records it in an annotation; the file format has no place for it)
};

// What a sink holds for a ref, without the password.
struct SecretState {
  bool exists = false;
  bool has_password = false;  // a non-empty password is stored
  std::string hostname;       // the single "auths" key ("" when missing or unreadable)
  std::string username;
  std::string token_id;  // as recorded by the sink that wrote it ("" when the sink keeps none)
  // Set when something crtoken must not overwrite occupies the place (a Kubernetes Secret without
  // the managed-by label, a directory or a symlink where the secret file goes): what it is and
  // what to do, naming it, e.g. "Secret team-a/pull exists and is not managed by crtoken (...):
  // delete or rename it, or ...". exists is true then, and nothing else is set.
  std::string conflict;
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
  // Makes every Write and Delete that returned ok before this call durable. An error means some
  // of them may be lost by a crash: the caller treats all of them as not done. Sinks whose writes
  // are durable when Write returns (an API server's) keep this default.
  virtual Status Flush() { return Status::Ok(); }
};

}  // namespace crtoken
