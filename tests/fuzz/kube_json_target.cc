// A Kubernetes API server's answer body, read as each reader of daemon/kube and daemon/sinks
// would: a Secret (Inspect), a page of Secrets (List), a Lease (leader election) and a Status
// message. None throws or crashes; what each returns holds its contract.
#include <string>

#include "daemon/kube/kube_client.h"
#include "daemon/kube/lease_lock.h"
#include "daemon/sinks/kubernetes_secret_sink.h"
#include "tests/fuzz/fuzz_targets.h"

namespace crtoken::fuzz {

void FuzzOneKubeJson(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);

  const auto secret = DecodeSecret(body, "Secret ns/name");
  if (secret.ok()) {
    const SecretState& state = secret.value();
    CRTOKEN_FUZZ_CHECK(state.exists);
    if (!state.conflict.empty()) {
      CRTOKEN_FUZZ_CHECK(!state.has_password && state.hostname.empty() && state.record.empty());
    }
  } else {
    CRTOKEN_FUZZ_CHECK(secret.error().kind == ErrorKind::kUnavailable);
  }

  const auto page = DecodeSecretList(body, "crtoken");
  if (page.ok()) {
    for (const ListedSecret& listed : page.value().secrets) {
      CRTOKEN_FUZZ_CHECK(listed.record.owner == "crtoken" && !listed.record.empty());
      CRTOKEN_FUZZ_CHECK(listed.ref.kind == SecretRef::Kind::kKubernetes);
      CRTOKEN_FUZZ_CHECK(!listed.ref.k8s_namespace.empty() && !listed.ref.k8s_name.empty());
    }
  } else {
    CRTOKEN_FUZZ_CHECK(page.error().kind == ErrorKind::kUnavailable);
  }

  std::string object;
  const auto lease = DecodeLease(body, &object);
  if (lease.ok()) {
    // What an Update starts from reads back as the same record.
    const auto again = DecodeLease(object, nullptr);
    CRTOKEN_FUZZ_CHECK(again.ok() && again.value() == lease.value());
    CRTOKEN_FUZZ_CHECK(!lease.value().resource_version.empty());
  } else {
    CRTOKEN_FUZZ_CHECK(lease.error().kind == ErrorKind::kUnavailable);
  }

  for (unsigned char c : KubeStatusMessage(body)) CRTOKEN_FUZZ_CHECK(c >= 0x20 && c != 0x7f);
}

}  // namespace crtoken::fuzz
