// A coordination.k8s.io/v1 Lease, read and written for leader election: the record client-go's
// leader election keeps in a Lease's spec, and the three operations it needs (get, create, and an
// update guarded by the resourceVersion it read).
//
// Contract (LeaseLock): never throws; failures are Errors (kNotFound is never one: a missing Lease
// is Get's nullopt). Update is optimistic: it carries the resourceVersion of the record it was
// given, and a Lease changed since (another writer got in first) is kConflict, never overwritten.
// Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "daemon/kube/kube_client.h"
#include "reconciler/error.h"

namespace crtoken {

struct LeaseRecord {
  std::string holder_identity;  // "" = nobody holds it (free, or released)
  int lease_duration_seconds = 0;
  std::string acquire_time;  // MicroTime as written ("2026-11-28T12:00:00.000000Z"); "" = unset
  std::string renew_time;
  int lease_transitions = 0;
  std::string resource_version;  // the object's, as read; what an Update is guarded by
  bool operator==(const LeaseRecord&) const = default;
};

class LeaseLock {
 public:
  virtual ~LeaseLock() = default;
  // The Lease as it is now; nullopt when it does not exist.
  virtual Result<std::optional<LeaseRecord>> Get() = 0;
  // Creates the Lease holding `record` (its resource_version is ignored) and returns it as stored.
  // kConflict when it exists already (another candidate created it first).
  virtual Result<LeaseRecord> Create(const LeaseRecord& record) = 0;
  // Replaces the Lease's record with `record`, if the Lease is still at record.resource_version;
  // returns it as stored (with its new resourceVersion). kConflict when it changed since;
  // kNotFound when it was deleted.
  virtual Result<LeaseRecord> Update(const LeaseRecord& record) = 0;
  // "Lease NAMESPACE/NAME", for messages.
  virtual std::string Describe() const = 0;
};

// A LeaseLock on the API server through `client`: GET, POST and PUT of
// /apis/coordination.k8s.io/v1/namespaces/NS/leases/NAME. Whatever else the object holds (labels,
// annotations, other spec fields) is kept by an Update.
class KubeLeaseLock : public LeaseLock {
 public:
  // `client` must outlive the lock. Names are checked by ValidLeaseName first.
  KubeLeaseLock(KubeClient& client, std::string lease_namespace, std::string name);

  Result<std::optional<LeaseRecord>> Get() override;
  Result<LeaseRecord> Create(const LeaseRecord& record) override;
  Result<LeaseRecord> Update(const LeaseRecord& record) override;
  std::string Describe() const override;

 private:
  std::string ItemPath() const;
  // Remembers the object of a successful answer as the last one seen, and returns its record.
  Result<LeaseRecord> Remember(const std::string& what, const KubeResponse& response);

  KubeClient& client_;
  const std::string namespace_;
  const std::string name_;
  std::mutex mu_;
  std::string last_;  // the last object read or written, as JSON (what an Update starts from)
};

// The record of a Lease from the body of the API server's answer to a GET, POST or PUT of it
// (pure; KubeLeaseLock reads every answer with it). `object` (may be null) receives the object
// as compact JSON, what an Update starts from. kUnavailable ("not a Lease in the answer") for a
// body that is not an object with a spec object and a metadata.resourceVersion.
Result<LeaseRecord> DecodeLease(const std::string& body, std::string* object);

// Empty when `lease_namespace` and `name` can name a Lease, else what is wrong with which.
std::string ValidLeaseName(const std::string& lease_namespace, const std::string& name);

}  // namespace crtoken
