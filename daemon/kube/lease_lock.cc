#include "daemon/kube/lease_lock.h"

#include <nlohmann/json.hpp>

#include "daemon/kube/kube_json.h"

namespace crtoken {
namespace {

using nlohmann::json;

constexpr char kApiVersion[] = "coordination.k8s.io/v1";

int IntAt(const json& obj, const char* a, const char* b) {
  if (!obj.is_object() || !obj.contains(a) || !obj[a].is_object() || !obj[a].contains(b)) return 0;
  const json& v = obj[a][b];
  return v.is_number_integer() ? v.get<int>() : 0;
}

LeaseRecord RecordOf(const json& obj) {
  LeaseRecord r;
  r.holder_identity = JsonStringAt(obj, {"spec", "holderIdentity"});
  r.lease_duration_seconds = IntAt(obj, "spec", "leaseDurationSeconds");
  r.acquire_time = JsonStringAt(obj, {"spec", "acquireTime"});
  r.renew_time = JsonStringAt(obj, {"spec", "renewTime"});
  r.lease_transitions = IntAt(obj, "spec", "leaseTransitions");
  r.resource_version = JsonStringAt(obj, {"metadata", "resourceVersion"});
  return r;
}

// The record's fields in `spec`, other fields of it kept. Unset times are left out, as client-go
// leaves them.
void ApplyRecord(json& spec, const LeaseRecord& r) {
  spec["holderIdentity"] = r.holder_identity;
  spec["leaseDurationSeconds"] = r.lease_duration_seconds;
  spec["leaseTransitions"] = r.lease_transitions;
  for (auto [key, value] :
       {std::pair{"acquireTime", &r.acquire_time}, std::pair{"renewTime", &r.renew_time}}) {
    if (value->empty()) {
      spec.erase(key);
    } else {
      spec[key] = *value;
    }
  }
}

}  // namespace

std::string ValidLeaseName(const std::string& lease_namespace, const std::string& name) {
  if (!IsDnsLabel(lease_namespace)) {
    return "namespace \"" + lease_namespace +
           "\" is not a valid Kubernetes namespace name (a DNS label: at most 63 of [a-z0-9-], "
           "beginning and ending with a letter or digit)";
  }
  if (!IsDnsSubdomain(name)) {
    return "name \"" + name +
           "\" is not a valid Kubernetes object name (at most 253 of [a-z0-9-.], each part "
           "beginning and ending with a letter or digit)";
  }
  return "";
}

KubeLeaseLock::KubeLeaseLock(KubeClient& client, std::string lease_namespace, std::string name)
    : client_(client), namespace_(std::move(lease_namespace)), name_(std::move(name)) {}

std::string KubeLeaseLock::Describe() const { return "Lease " + namespace_ + "/" + name_; }

std::string KubeLeaseLock::ItemPath() const {
  return std::string("/apis/") + kApiVersion + "/namespaces/" + namespace_ + "/leases/" + name_;
}

Result<LeaseRecord> DecodeLease(const std::string& body, std::string* object) {
  json obj = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!obj.is_object() || !obj.contains("spec") || !obj["spec"].is_object() ||
      JsonStringAt(obj, {"metadata", "resourceVersion"}).empty()) {
    return Error{ErrorKind::kUnavailable, "not a Lease in the answer"};
  }
  if (object != nullptr) *object = obj.dump();
  return RecordOf(obj);
}

Result<LeaseRecord> KubeLeaseLock::Remember(const std::string& what, const KubeResponse& response) {
  std::string object;
  auto record = DecodeLease(response.body, &object);
  if (!record.ok()) {
    return Error{ErrorKind::kUnavailable, "kubernetes " + what + ": " + record.error().message};
  }
  std::lock_guard<std::mutex> lock(mu_);
  last_ = std::move(object);
  return record;
}

Result<std::optional<LeaseRecord>> KubeLeaseLock::Get() {
  const std::string path = ItemPath();
  auto got = client_.Call("GET", path);
  if (!got.ok()) return got.error();
  if (got.value().status == 404) return std::optional<LeaseRecord>();
  if (got.value().status != 200) return client_.HttpError("GET", path, got.value());
  auto record = Remember("GET " + path, got.value());
  if (!record.ok()) return record.error();
  return std::optional<LeaseRecord>(std::move(record.value()));
}

Result<LeaseRecord> KubeLeaseLock::Create(const LeaseRecord& record) {
  json obj = {{"apiVersion", kApiVersion},
              {"kind", "Lease"},
              {"metadata", {{"name", name_}, {"namespace", namespace_}}},
              {"spec", json::object()}};
  ApplyRecord(obj["spec"], record);
  const std::string path =
      std::string("/apis/") + kApiVersion + "/namespaces/" + namespace_ + "/leases";
  auto created =
      client_.Call("POST", path + "?fieldManager=crtoken", obj.dump(), "application/json");
  if (!created.ok()) return created.error();
  if (created.value().status != 201 && created.value().status != 200) {
    return client_.HttpError("POST", path, created.value());
  }
  return Remember("POST " + path, created.value());
}

Result<LeaseRecord> KubeLeaseLock::Update(const LeaseRecord& record) {
  json obj;
  {
    std::lock_guard<std::mutex> lock(mu_);
    obj = json::parse(last_.empty() ? "{}" : last_, nullptr, /*allow_exceptions=*/false);
  }
  // The object last seen, when it is the version this update is guarded by: its labels,
  // annotations and other spec fields stay as they are.
  if (!obj.is_object() ||
      JsonStringAt(obj, {"metadata", "resourceVersion"}) != record.resource_version) {
    obj = {{"metadata", json::object()}, {"spec", json::object()}};
  }
  obj["apiVersion"] = kApiVersion;
  obj["kind"] = "Lease";
  obj["metadata"]["name"] = name_;
  obj["metadata"]["namespace"] = namespace_;
  obj["metadata"]["resourceVersion"] = record.resource_version;
  if (!obj["spec"].is_object()) obj["spec"] = json::object();
  ApplyRecord(obj["spec"], record);
  const std::string path = ItemPath();
  auto put = client_.Call("PUT", path + "?fieldManager=crtoken", obj.dump(), "application/json");
  if (!put.ok()) return put.error();
  if (put.value().status != 200) return client_.HttpError("PUT", path, put.value());
  return Remember("PUT " + path, put.value());
}

}  // namespace crtoken
