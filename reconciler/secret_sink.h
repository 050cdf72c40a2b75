// Where passwords go. FileSecretSink and KubernetesSecretSink (daemon/) implement it; the
// reconciler holds one sink that dispatches on SecretRef::kind.
//
// Contract: thread-safe; never throws; Write is atomic (a reader sees the old content or the new,
// never a mix) and durable when it returns ok.
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
};

class SecretSink {
 public:
  virtual ~SecretSink() = default;
  virtual Status Write(const SecretRef& ref, const DockerCredential& credential) = 0;
  // exists == false for an absent secret; an Error only when the sink cannot be read at all.
  virtual Result<SecretState> Inspect(const SecretRef& ref) = 0;
  // Removing an absent secret succeeds.
  virtual Status Delete(const SecretRef& ref) = 0;
};

}  // namespace crtoken
