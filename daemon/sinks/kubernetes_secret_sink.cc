// The Kubernetes REST calls behind KubernetesSecretSink: what is sent about Secrets. How it travels
// (TLS, the bearer token, redirects, body caps) is KubeClient's (daemon/kube/kube_client.h).
#include "daemon/sinks/kubernetes_secret_sink.h"

#include <cpprest/uri.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <thread>
#include <tuple>
#include <vector>

#include "daemon/common/base64.h"
#include "daemon/common/json_text.h"
#include "daemon/kube/kube_json.h"
#include "daemon/sinks/docker_config.h"
#include "daemon/sinks/fanout_targets.h"

namespace crtoken {
namespace {

using nlohmann::json;

constexpr char kDockerConfigType[] = "kubernetes.io/dockerconfigjson";
constexpr char kDockerConfigKey[] = ".dockerconfigjson";
constexpr char kAllSecretsPath[] = "/api/v1/secrets";
// A bound on the pages of one List (a server that never stops handing out continue tokens): at
// the default page size, over two million Secrets.
constexpr int kMaxListPages = 10000;

Error Invalid(std::string message) { return Error{ErrorKind::kInvalid, std::move(message)}; }

// A label value as the API server validates it (the owner goes into one, and into a selector).
bool IsLabelValue(const std::string& s) {
  static const std::regex re("([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?");
  return s.size() <= 63 && std::regex_match(s, re);
}
Status CheckOwner(const std::string& owner, const std::string& what) {
  if (IsLabelValue(owner)) return Status::Ok();
  return Invalid(what + ": owner \"" + PrintableText(owner, 100) +
                 "\" cannot be a Kubernetes label value (at most 63 characters: letters, digits, "
                 "'-', '_', '.', beginning and ending with a letter or digit)");
}

bool IsManaged(const json& obj) {
  const json* labels = nullptr;
  if (obj.contains("metadata") && obj["metadata"].is_object() &&
      obj["metadata"].contains("labels") && obj["metadata"]["labels"].is_object()) {
    labels = &obj["metadata"]["labels"];
  }
  return labels != nullptr && labels->contains(kManagedByLabel) &&
         (*labels)[kManagedByLabel] == kManagedByValue;
}

// "Secret NS/NAME exists and is not managed by crtoken (no label ...)".
std::string NotManaged(const std::string& what) {
  return what + " exists and is not managed by crtoken (no label " + kManagedByLabel + "=" +
         kManagedByValue + ")";
}

// The record a Secret carries in its owner label and annotations: all four, or none.
SecretRecord RecordOf(const json& obj) {
  SecretRecord record{JsonStringAt(obj, {"metadata", "labels", kOwnerLabel}),
                      JsonStringAt(obj, {"metadata", "annotations", kRegistryIdAnnotation}),
                      JsonStringAt(obj, {"metadata", "annotations", kTokenNameAnnotation}),
                      JsonStringAt(obj, {"metadata", "annotations", kTokenIdAnnotation})};
  if (record.owner.empty() || record.registry_id.empty() || record.token_name.empty() ||
      record.token_id.empty()) {
    return {};
  }
  return record;
}

// The owner label and the record's annotations in `meta`: set where the record has a value,
// removed where it has none. The token name falls back to `username` (what it was before secrets
// carried records).
void ApplyRecord(json& meta, const SecretRecord& record, const std::string& username) {
  json& labels = meta["labels"];
  json& annotations = meta["annotations"];
  auto set = [](json& map, const char* key, const std::string& value) {
    if (!value.empty()) {
      map[key] = value;
    } else if (map.contains(key)) {
      map.erase(key);
    }
  };
  set(labels, kOwnerLabel, record.owner);
  set(annotations, kRegistryIdAnnotation, record.registry_id);
  set(annotations, kTokenNameAnnotation, record.token_name.empty() ? username : record.token_name);
  set(annotations, kTokenIdAnnotation, record.token_id);
}

// A managed Secret of another type: its type cannot be changed, so it cannot be written.
std::string WrongType(const std::string& what, const std::string& type) {
  return what + " has type \"" + type + "\" but crtoken writes " + kDockerConfigType +
         " (a Secret's type is immutable): delete it so crtoken can recreate it";
}

}  // namespace

Result<SecretState> DecodeSecret(const std::string& body, const std::string& what) {
  json obj = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) return Error{ErrorKind::kUnavailable, "malformed JSON"};
  SecretState state;
  state.exists = true;
  // What Write would refuse is reported now, before a token is created for it.
  if (!IsManaged(obj)) {
    state.conflict = NotManaged(what) + ": delete or rename it, or label it " + kManagedByLabel +
                     "=" + kManagedByValue + " to let crtoken take it over";
    return state;
  }
  if (const std::string type = JsonStringAt(obj, {"type"}); type != kDockerConfigType) {
    state.conflict = WrongType(what, type);
    return state;
  }
  state.record = RecordOf(obj);
  const std::string encoded = JsonStringAt(obj, {"data", kDockerConfigKey});
  auto decoded = Base64Decode(encoded);
  if (encoded.empty() || !decoded) return state;
  const SecretRecord record = state.record;
  state = ParseDockerConfigJson(*decoded);
  state.record = record;
  return state;
}

Result<SecretListPage> DecodeSecretList(const std::string& body, const std::string& owner) {
  json page = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const json* items = page.is_object() && page.contains("items") ? &page["items"] : nullptr;
  if (items == nullptr || !(items->is_array() || items->is_null())) {
    return Error{ErrorKind::kUnavailable, "malformed list"};
  }
  SecretListPage out;
  if (items->is_array()) {
    for (const json& item : *items) {
      if (!IsManaged(item) || JsonStringAt(item, {"type"}) != kDockerConfigType) continue;
      SecretRecord record = RecordOf(item);
      if (record.empty() || record.owner != owner) continue;
      SecretRef ref;
      ref.kind = SecretRef::Kind::kKubernetes;
      ref.k8s_namespace = JsonStringAt(item, {"metadata", "namespace"});
      ref.k8s_name = JsonStringAt(item, {"metadata", "name"});
      if (ref.k8s_namespace.empty() || ref.k8s_name.empty()) continue;
      // A copy of a fan-out Secret is listed as its place, once per record.
      const std::string fan_out =
          JsonStringAt(item, {"metadata", "annotations", kFanOutAnnotation});
      if (!fan_out.empty()) {
        auto place = FanOutPlaceFromAnnotation(ref.k8s_name, fan_out);
        if (!place) continue;  // not one crtoken wrote: a place of no spec
        ref = std::move(*place);
      }
      out.secrets.push_back(ListedSecret{std::move(ref), std::move(record)});
    }
  }
  out.next = JsonStringAt(page, {"metadata", "continue"});
  return out;
}

// --- the sink ---------------------------------------------------------------------------------

class KubernetesSecretSink::Impl {
 public:
  Impl(std::unique_ptr<KubeClient> client, KubernetesSinkOptions options)
      : client_(std::move(client)), options_(std::move(options)) {}

  const KubernetesConfig& config() const { return client_->config(); }

  Status Write(const SecretRef& given_ref, const DockerCredential& cred) {
    const SecretRef ref = WithNamespace(given_ref);
    if (auto s = CheckRef(ref); !s.ok()) return s;
    if (cred.hostname.empty()) return Invalid("secret " + ref.ToString() + ": empty hostname");
    if (cred.username.empty()) return Invalid("secret " + ref.ToString() + ": empty username");
    if (cred.password.empty()) return Invalid("secret " + ref.ToString() + ": empty password");
    if (auto s = CheckOwner(cred.record.owner, "secret " + ref.ToString()); !s.ok()) return s;

    const std::string config_json = DockerConfigJson(cred);
    const std::string data = Base64Encode(config_json);
    const std::vector<std::string> secrets = {
        cred.password.Reveal(), data, Base64Encode(cred.username + ":" + cred.password.Reveal())};
    const std::string item = ItemPath(ref);
    const std::string what = What(ref);
    return ReadCheckWrite(
        ref, "refusing to overwrite it: delete it or choose another name", "written", secrets,
        [&](std::optional<json> current) {
          if (!current) {
            json obj = {{"apiVersion", "v1"},
                        {"kind", "Secret"},
                        {"metadata", {{"name", ref.k8s_name}, {"namespace", ref.k8s_namespace}}},
                        {"type", kDockerConfigType}};
            ApplyOurs(obj, ref, cred, data);
            // A 409: created meanwhile, read it again.
            Attempt created = Answered("POST", CollectionPath(ref),
                                       Call("POST", CollectionPath(ref) + "?fieldManager=crtoken",
                                            obj.dump(), "application/json", secrets),
                                       {201, 200}, {409}, secrets);
            if (created.status.ok()) {
              spdlog::info("kubernetes: {} created (registry {}, token {})", what, cred.hostname,
                           cred.username);
            }
            return created;
          }
          json obj = std::move(*current);
          const std::string type = JsonStringAt(obj, {"type"});
          if (type != kDockerConfigType) return Attempt::Settled(Invalid(WrongType(what, type)));
          const json before = obj;
          ApplyOurs(obj, ref, cred, data);
          if (obj == before) {
            spdlog::debug("kubernetes: {} already up to date", what);
            return Attempt::Settled(Status::Ok());
          }
          // PUT carries metadata.resourceVersion from the GET: a write in between makes it 409.
          Attempt updated = Answered(
              "PUT", item,
              Call("PUT", item + "?fieldManager=crtoken", obj.dump(), "application/json", secrets),
              {200, 201}, {409, 404}, secrets);
          if (updated.status.ok()) {
            spdlog::info("kubernetes: {} updated (registry {}, token {})", what, cred.hostname,
                         cred.username);
          }
          return updated;
        });
  }

  Result<SecretState> Inspect(const SecretRef& given_ref) {
    const SecretRef ref = WithNamespace(given_ref);
    if (auto s = CheckRef(ref); !s.ok()) return s.error();
    const std::string item = ItemPath(ref);
    auto got = Call("GET", item, "", "", {});
    if (!got.ok()) return got.error();
    SecretState state;
    if (got.value().status == 404) return state;
    if (got.value().status != 200) return HttpError("GET", item, got.value(), {});
    auto decoded = DecodeSecret(got.value().body, What(ref));
    if (!decoded.ok()) {
      return Error{ErrorKind::kUnavailable,
                   "kubernetes GET " + item + ": " + decoded.error().message};
    }
    return decoded;
  }

  Status Delete(const SecretRef& given_ref) {
    const SecretRef ref = WithNamespace(given_ref);
    if (auto s = CheckRef(ref); !s.ok()) return s;
    const std::string item = ItemPath(ref);
    const std::string what = What(ref);
    return ReadCheckWrite(
        ref, "refusing to delete it", "deleted", {}, [&](std::optional<json> obj) {
          if (!obj) return Attempt::Settled(Status::Ok());
          if (JsonStringAt(*obj, {"metadata", "annotations", kFanOutAnnotation}) !=
              FanOutAnnotationValue(ref)) {
            // Another place's Secret now (a spec that moved to or from a fan-out, a copy rewritten
            // for the new target set): its own place deletes it, never this one.
            spdlog::debug("kubernetes: {} belongs to another place than {}: kept", what,
                          ref.ToString());
            return Attempt::Settled(Status::Ok());
          }
          // Preconditions: delete exactly the object just checked, not one recreated meanwhile.
          json options = {
              {"apiVersion", "v1"},
              {"kind", "DeleteOptions"},
              {"preconditions",
               {{"uid", JsonStringAt(*obj, {"metadata", "uid"})},
                {"resourceVersion", JsonStringAt(*obj, {"metadata", "resourceVersion"})}}}};
          Attempt deleted =
              Answered("DELETE", item, Call("DELETE", item, options.dump(), "application/json", {}),
                       {200, 202, 404}, {409}, {});
          if (deleted.status.ok()) spdlog::info("kubernetes: {} deleted", what);
          return deleted;
        });
  }

  Result<std::vector<ListedSecret>> List(const std::string& owner) {
    if (owner.empty()) return Invalid("cannot list the Secrets of an empty owner");
    if (auto s = CheckOwner(owner, "listing Secrets"); !s.ok()) return s.error();
    // Both values are label values (checked), so the selector needs no quoting beyond the URL's.
    const std::string selector =
        std::string(kManagedByLabel) + "=" + kManagedByValue + "," + kOwnerLabel + "=" + owner;
    const std::string first = std::string(kAllSecretsPath) +
                              "?labelSelector=" + web::uri::encode_data_string(selector) +
                              "&limit=" + std::to_string(std::max(1, options_.list_page_size));
    std::vector<ListedSecret> out;
    std::string next;  // the continue token of the next page; empty for the first
    int failures = 0;
    int pages = 0;
    for (;;) {
      const std::string path =
          next.empty() ? first : first + "&continue=" + web::uri::encode_data_string(next);
      std::optional<Error> failed;
      auto got = Call("GET", path, "", "", {});
      if (!got.ok()) {
        failed = got.error();
      } else if (got.value().status == 403) {
        return Error{ErrorKind::kUnauthorized,
                     "cannot list Secrets: " + client_->source() +
                         " lacks the permission to list secrets at the cluster scope (verb "
                         "\"list\" on \"secrets\" in all namespaces: a ClusterRole bound by a "
                         "ClusterRoleBinding, as deploy/kubernetes/rbac.yaml grants it): " +
                         KubeStatusMessage(got.value().body)};
      } else if (got.value().status == 410 && !next.empty()) {
        // The continue token expired (the server compacted past it): list again from the start.
        failed = HttpError("GET", kAllSecretsPath, got.value(), {});
        failed->kind = ErrorKind::kUnavailable;
        out.clear();
        next.clear();
      } else if (got.value().status != 200) {
        failed = HttpError("GET", kAllSecretsPath, got.value(), {});
      } else {
        auto page = DecodeSecretList(got.value().body, owner);
        if (!page.ok()) {
          failed = Error{ErrorKind::kUnavailable, "kubernetes GET " + std::string(kAllSecretsPath) +
                                                      ": " + page.error().message};
        } else {
          for (ListedSecret& secret : page.value().secrets) out.push_back(std::move(secret));
          next = std::move(page.value().next);
          if (next.empty()) break;
          if (++pages >= kMaxListPages) {
            return Error{ErrorKind::kUnavailable, "kubernetes GET " + std::string(kAllSecretsPath) +
                                                      ": the list did not end "
                                                      "after " +
                                                      std::to_string(kMaxListPages) + " pages"};
          }
          continue;
        }
      }
      if (!failed->Transient() || ++failures >= options_.max_attempts) {
        failed->message = "cannot list Secrets: " + failed->message;
        return *failed;
      }
      Backoff(failures + 1);
    }
    std::sort(out.begin(), out.end(), [](const ListedSecret& a, const ListedSecret& b) {
      return std::tie(a.ref, a.record) < std::tie(b.ref, b.record);
    });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const ListedSecret& a, const ListedSecret& b) {
                            return a.ref == b.ref && a.record == b.record;
                          }),
              out.end());
    spdlog::debug("kubernetes: {} Secrets of owner {} listed in {} pages", out.size(), owner,
                  pages + 1);
    return out;
  }

  Status Stamp(const SecretRef& given_ref, const SecretRecord& record) {
    const SecretRef ref = WithNamespace(given_ref);
    if (auto s = CheckRef(ref); !s.ok()) return s;
    if (auto s = CheckOwner(record.owner, "secret " + ref.ToString()); !s.ok()) return s;
    const std::string item = ItemPath(ref);
    const std::string what = What(ref);
    return ReadCheckWrite(
        ref, "refusing to stamp it", "stamped", {}, [&](std::optional<json> current) {
          if (!current) {
            return Attempt::Settled(
                Error{ErrorKind::kNotFound, what + " does not exist: nothing to stamp"});
          }
          const json& obj = *current;
          if (const std::string type = JsonStringAt(obj, {"type"}); type != kDockerConfigType) {
            return Attempt::Settled(Invalid(WrongType(what, type)));
          }
          auto decoded = Base64Decode(JsonStringAt(obj, {"data", kDockerConfigKey}));
          if (!decoded || !ParseDockerConfigJson(*decoded).has_password) {
            return Attempt::Settled(
                Invalid(what +
                        " holds no credential to keep (a dockerconfigjson with one \"auths\" "
                        "entry and its password): not stamped"));
          }
          // The labels and annotations as they are to be; the merge patch sends what differs (null
          // removes), with the resourceVersion just read, and never the data.
          json meta = obj.at("metadata");
          ApplyRecord(meta, record,
                      JsonStringAt(obj, {"metadata", "annotations", kTokenNameAnnotation}));
          json patch_meta = {
              {"resourceVersion", JsonStringAt(obj, {"metadata", "resourceVersion"})}};
          for (const char* field : {"labels", "annotations"}) {
            const json& old_meta = obj.at("metadata");
            const json before = old_meta.contains(field) && old_meta.at(field).is_object()
                                    ? old_meta.at(field)
                                    : json::object();
            json diff = json::object();
            for (const auto& [key, value] : meta[field].items()) {
              if (!before.contains(key) || before[key] != value) diff[key] = value;
            }
            for (const auto& [key, value] : before.items()) {
              if (!meta[field].contains(key)) diff[key] = nullptr;
            }
            if (!diff.empty()) patch_meta[field] = std::move(diff);
          }
          if (patch_meta.size() == 1) {
            spdlog::debug("kubernetes: {} already carries this record", what);
            return Attempt::Settled(Status::Ok());
          }
          const json patch = {{"metadata", patch_meta}};
          Attempt stamped = Answered("PATCH", item,
                                     Call("PATCH", item + "?fieldManager=crtoken", patch.dump(),
                                          "application/merge-patch+json", {}),
                                     {200}, {409, 404}, {});
          if (stamped.status.ok()) {
            spdlog::info("kubernetes: {} stamped (registry {}, token {}, id {})", what,
                         record.registry_id, record.token_name, record.token_id);
          }
          return stamped;
        });
  }

 private:
  static std::string CollectionPath(const SecretRef& ref) {
    return "/api/v1/namespaces/" + ref.k8s_namespace + "/secrets";
  }
  static std::string ItemPath(const SecretRef& ref) {
    return CollectionPath(ref) + "/" + ref.k8s_name;
  }
  // "Secret NS/NAME", as messages name it.
  static std::string What(const SecretRef& ref) {
    return "Secret " + ref.k8s_namespace + "/" + ref.k8s_name;
  }

  // A ref without a namespace means the context's namespace (kubeconfig) or the pod's
  // (in-cluster), else "default", as kubectl resolves it.
  SecretRef WithNamespace(const SecretRef& ref) const {
    if (ref.kind != SecretRef::Kind::kKubernetes || !ref.k8s_namespace.empty() || ref.FanOut()) {
      return ref;
    }
    SecretRef resolved = ref;
    resolved.k8s_namespace = client_->DefaultNamespace();
    return resolved;
  }

  static Status CheckRef(const SecretRef& ref) {
    if (ref.kind != SecretRef::Kind::kKubernetes) {
      return Error{ErrorKind::kInternal,
                   "KubernetesSecretSink given a non-Kubernetes secret " + ref.ToString()};
    }
    if (ref.FanOut() && ref.k8s_namespace.empty()) {
      return Error{ErrorKind::kInternal, "KubernetesSecretSink given the fan-out place " +
                                             ref.ToString() + " instead of one of its copies"};
    }
    if (!IsDnsLabel(ref.k8s_namespace)) {
      return Invalid("secret " + ref.ToString() + ": namespace \"" + ref.k8s_namespace +
                     "\" is not a valid Kubernetes namespace name");
    }
    if (!IsDnsSubdomain(ref.k8s_name)) {
      return Invalid("secret " + ref.ToString() + ": name \"" + ref.k8s_name +
                     "\" is not a valid Kubernetes object name");
    }
    return Status::Ok();
  }

  // Our fields on top of whatever else the object holds (other labels, annotations, owner
  // references are kept). The data is ours alone.
  static void ApplyOurs(json& obj, const SecretRef& ref, const DockerCredential& cred,
                        const std::string& data) {
    json& meta = obj["metadata"];
    meta["labels"][kManagedByLabel] = kManagedByValue;
    meta["annotations"][kRegistryAnnotation] = cred.hostname;
    if (ref.FanOut()) {
      meta["annotations"][kFanOutAnnotation] = FanOutAnnotationValue(ref);
    } else {
      meta["annotations"].erase(kFanOutAnnotation);
    }
    ApplyRecord(meta, cred.record, cred.username);
    obj.erase("stringData");
    obj["data"] = json{{kDockerConfigKey, data}};
  }

  std::mutex& StripeFor(const SecretRef& ref) {
    return stripes_[std::hash<std::string>{}(ref.k8s_namespace + "/" + ref.k8s_name) %
                    stripes_.size()];
  }

  // What one attempt of ReadCheckWrite came to: settled (its status is the operation's), or to be
  // made again from a fresh read (its status is the error that says why).
  struct Attempt {
    Status status;
    bool again = false;
    static Attempt Settled(Status status) { return {std::move(status), false}; }
    static Attempt Again(Error error) { return {std::move(error), true}; }
    // A failure: made again when it is transient, else settled.
    static Attempt Failed(Error error) {
      return error.Transient() ? Again(std::move(error)) : Settled(std::move(error));
    }
  };

  // The loop of Write, Delete and Stamp: read the Secret, check it, write it (at most once), and
  // start over from a fresh read when the Secret changed in between (a 409) or a request failed
  // transiently. Holds the Secret's stripe lock throughout: writers of one Secret inside this
  // process take turns, so 409 retries are left for writers elsewhere (another replica, a person
  // with kubectl). Up to max_attempts attempts, with a Backoff before each but the first; each
  // GETs the Secret and hands it to `attempt` (nullopt when there is none), which decides and
  // writes. A Secret crtoken does not manage is refused (kConflict, never made again; the message
  // ends with `refusal`); a read that fails transiently is made again. When no attempt settles it:
  // the last error, as "Secret NS/NAME: not VERB after N attempts: ...". `secrets` are kept out of
  // every message.
  Status ReadCheckWrite(const SecretRef& ref, const char* refusal, const char* verb,
                        const std::vector<std::string>& secrets,
                        const std::function<Attempt(std::optional<json>)>& attempt) {
    const std::string item = ItemPath(ref);
    const std::string what = What(ref);
    std::lock_guard<std::mutex> serialize(StripeFor(ref));
    Error last{ErrorKind::kUnavailable, "no attempt made"};
    for (int n = 1; n <= options_.max_attempts; ++n) {
      if (n > 1) Backoff(n);
      auto current = GetManaged(item, what, refusal, secrets);
      Attempt made =
          current.ok() ? attempt(std::move(current.value())) : Attempt::Failed(current.error());
      if (!made.again) return made.status;
      last = made.status.error();
    }
    last.message = what + ": not " + verb + " after " + std::to_string(options_.max_attempts) +
                   " attempts: " + last.message;
    return last;
  }

  // A write's answer as an Attempt: settled, ok, for a status in `done`; made again for a status
  // in `again`; else the failure (HttpError naming `method` and `path`), made again when transient.
  Attempt Answered(const std::string& method, const std::string& path,
                   const Result<KubeResponse>& answer, std::initializer_list<int> done,
                   std::initializer_list<int> again, const std::vector<std::string>& secrets) {
    if (!answer.ok()) return Attempt::Failed(answer.error());
    const int status = answer.value().status;
    if (std::find(done.begin(), done.end(), status) != done.end()) {
      return Attempt::Settled(Status::Ok());
    }
    Error error = HttpError(method, path, answer.value(), secrets);
    if (std::find(again.begin(), again.end(), status) != again.end()) return Attempt::Again(error);
    return Attempt::Failed(std::move(error));
  }

  // The Secret as it is now, nullopt when absent; an error when it cannot be read, or a kConflict
  // when crtoken does not manage it (the message says so, then `refusal`).
  Result<std::optional<json>> GetManaged(const std::string& item, const std::string& what,
                                         const char* refusal,
                                         const std::vector<std::string>& secrets) {
    auto got = Call("GET", item, "", "", secrets);
    if (!got.ok()) return got.error();
    if (got.value().status == 404) return std::optional<json>();
    if (got.value().status != 200) return HttpError("GET", item, got.value(), secrets);
    json obj = json::parse(got.value().body, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded()) {
      return Error{ErrorKind::kUnavailable, "kubernetes GET " + item + ": malformed JSON"};
    }
    if (!IsManaged(obj)) return Error{ErrorKind::kConflict, NotManaged(what) + "; " + refusal};
    return std::optional<json>(std::move(obj));
  }

  // Exponential, with jitter in [0.5, 1.5) so writers that collided do not collide again.
  void Backoff(int attempt) {
    const auto base = options_.backoff * (1 << std::min(attempt - 2, 6));
    double factor;
    {
      std::lock_guard<std::mutex> lock(rng_mu_);
      factor = std::uniform_real_distribution<double>(0.5, 1.5)(rng_);
    }
    std::this_thread::sleep_for(
        std::chrono::duration_cast<std::chrono::microseconds>(base * factor));
  }

  Result<KubeResponse> Call(const std::string& method, const std::string& path,
                            const std::string& body, const std::string& content_type,
                            std::vector<std::string> secrets) {
    return client_->Call(method, path, body, content_type, std::move(secrets));
  }
  Error HttpError(const std::string& method, const std::string& path, const KubeResponse& r,
                  std::vector<std::string> secrets) {
    return client_->HttpError(method, path, r, std::move(secrets));
  }

  std::unique_ptr<KubeClient> client_;
  KubernetesSinkOptions options_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::array<std::mutex, 64> stripes_;
};

Result<std::unique_ptr<KubernetesSecretSink>> KubernetesSecretSink::Create(
    KubernetesConfig config, KubernetesSinkOptions options) {
  if (options.max_attempts < 1) options.max_attempts = 1;
  KubeClientOptions client_options;
  client_options.request_timeout = options.request_timeout;
  client_options.token_refresh = options.token_refresh;
  client_options.max_body_bytes = options.max_body_bytes;
  client_options.before_write = options.before_write;
  auto client = KubeClient::Create(std::move(config), client_options);
  if (!client.ok()) return client.error();
  auto impl = std::make_unique<Impl>(std::move(client.value()), std::move(options));
  return std::unique_ptr<KubernetesSecretSink>(new KubernetesSecretSink(std::move(impl)));
}

KubernetesSecretSink::KubernetesSecretSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KubernetesSecretSink::~KubernetesSecretSink() = default;

Status KubernetesSecretSink::Write(const SecretRef& ref, const DockerCredential& credential) {
  try {
    return impl_->Write(ref, credential);
  } catch (const std::exception& e) {  // the contract says never throws: nothing escapes
    return Error{ErrorKind::kInternal, "kubernetes sink: " + std::string(e.what())};
  }
}

Result<SecretState> KubernetesSecretSink::Inspect(const SecretRef& ref) {
  try {
    return impl_->Inspect(ref);
  } catch (const std::exception& e) {
    return Error{ErrorKind::kInternal, "kubernetes sink: " + std::string(e.what())};
  }
}

Status KubernetesSecretSink::Delete(const SecretRef& ref) {
  try {
    return impl_->Delete(ref);
  } catch (const std::exception& e) {
    return Error{ErrorKind::kInternal, "kubernetes sink: " + std::string(e.what())};
  }
}

Result<std::vector<ListedSecret>> KubernetesSecretSink::List(const std::string& owner) {
  try {
    return impl_->List(owner);
  } catch (const std::exception& e) {
    return Error{ErrorKind::kInternal, "kubernetes sink: " + std::string(e.what())};
  }
}

Status KubernetesSecretSink::Stamp(const SecretRef& ref, const SecretRecord& record) {
  try {
    return impl_->Stamp(ref, record);
  } catch (const std::exception& e) {
    return Error{ErrorKind::kInternal, "kubernetes sink: " + std::string(e.what())};
  }
}

const std::string& KubernetesSecretSink::source() const { return impl_->config().source; }

Result<std::unique_ptr<KubernetesSecretSink>> MakeKubernetesSecretSink(
    const std::string& kubeconfig, KubernetesSinkOptions options) {
  if (!options.env) options.env = ProcessEnv();
  auto config = LoadKubernetesConfig(kubeconfig, options.service_account_dir, options.env);
  if (!config.ok()) return config.error();
  auto sink = KubernetesSecretSink::Create(std::move(config.value()), std::move(options));
  if (sink.ok()) spdlog::info("kubernetes: Secrets are written through {}", sink.value()->source());
  return sink;
}

}  // namespace crtoken
