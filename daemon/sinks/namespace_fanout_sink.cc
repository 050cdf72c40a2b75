// The namespaces, ServiceAccounts and copies behind NamespaceFanOutSink. Each copy is written,
// inspected and deleted by the inner single-Secret sink; what is read here is only what decides
// which copies there must be.
#include "daemon/sinks/namespace_fanout_sink.h"

#include <cpprest/uri.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "daemon/common/base64.h"
#include "daemon/kube/kube_json.h"
#include "daemon/sinks/docker_config.h"
#include "daemon/sinks/fanout_targets.h"
#include "daemon/sinks/kubernetes_secret_sink.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

using nlohmann::json;

constexpr int kMaxListPages = 10000;

Labels LabelsOf(const json& obj) {
  Labels out;
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) return out;
  const json& meta = obj["metadata"];
  if (!meta.contains("labels") || !meta["labels"].is_object()) return out;
  for (const auto& [key, value] : meta["labels"].items()) {
    if (value.is_string()) out[key] = value.get<std::string>();
  }
  return out;
}

SecretRef CopyIn(const SecretRef& place, const std::string& ns) {
  SecretRef copy = place;
  copy.k8s_namespace = ns;
  return copy;
}

// The result of one namespace from the error of a write there.
std::string ResultOf(const Error& error) {
  if (error.kind == ErrorKind::kUnauthorized) return "forbidden";
  return "failed";
}

struct Namespace {
  Labels labels;
  bool terminating = false;
};

}  // namespace

class NamespaceFanOutSink::Impl {
 public:
  Impl(std::unique_ptr<SecretSink> inner, std::unique_ptr<KubeClient> client, FanOutOptions options)
      : inner_(std::move(inner)), client_(std::move(client)), options_(std::move(options)) {}

  SecretSink& inner() { return *inner_; }

  // The place's target namespaces (to write), and the outcome of those it names but cannot hold
  // a copy (terminating, missing).
  struct Targets {
    std::vector<std::string> write;
    NamespaceResults skipped;
    std::set<std::string> existing;  // every namespace of the cluster
  };

  Result<Targets> Resolve(const SecretRef& place) {
    seen_fan_out_ = true;
    auto all = ListNamespaces();
    if (!all.ok()) return all.error();
    Targets out;
    for (const auto& [name, ns] : all.value()) out.existing.insert(name);
    auto consider = [&out](const std::string& name, const Namespace& ns) {
      if (ns.terminating) {
        out.skipped[name] = "terminating";
      } else {
        out.write.push_back(name);
      }
    };
    if (place.k8s_selector) {
      for (const auto& [name, ns] : all.value()) {
        if (place.k8s_selector->Matches(ns.labels)) consider(name, ns);
      }
    } else {
      for (const std::string& name : place.k8s_namespaces) {
        auto it = all.value().find(name);
        if (it == all.value().end()) {
          out.skipped[name] = "missing";
        } else {
          consider(name, it->second);
        }
      }
    }
    return out;
  }

  Status Write(const SecretRef& place, const DockerCredential& cred) {
    auto targets = Resolve(place);
    if (!targets.ok()) return targets.error();
    if (targets.value().write.empty()) return NoTarget(place, targets.value());
    NamespaceResults results = targets.value().skipped;
    std::string failures;
    for (const std::string& ns : targets.value().write) {
      Status written = inner_->Write(CopyIn(place, ns), cred);
      results[ns] = written.ok() ? "written" : ResultOf(written.error());
      if (!written.ok()) AddFailure(failures, ns, written.error());
    }
    FinishCopies(place, targets.value(), results);
    Report(place, results);
    const bool any = std::any_of(results.begin(), results.end(),
                                 [](const auto& r) { return r.second == "written"; });
    if (!any) {
      return Error{ErrorKind::kUnavailable,
                   "secret " + place.ToString() + ": no copy could be written: " + failures};
    }
    return Status::Ok();
  }

  Result<SecretState> Inspect(const SecretRef& place) {
    auto targets = Resolve(place);
    if (!targets.ok()) return targets.error();
    if (targets.value().write.empty()) {
      SecretState state;
      state.exists = true;
      state.conflict = NoTarget(place, targets.value()).error().message;
      return state;
    }
    std::optional<SecretState> best;
    int best_generation = -1;
    std::optional<Error> first_error;
    int read = 0;
    auto inspect = [&](const std::vector<std::string>& namespaces) {
      for (const std::string& ns : namespaces) {
        auto state = inner_->Inspect(CopyIn(place, ns));
        if (!state.ok()) {
          spdlog::warn("kubernetes: secret {}: the copy in namespace {} cannot be read: {}",
                       place.ToString(), ns, state.error().ToString());
          if (!first_error) first_error = state.error();
          continue;
        }
        ++read;
        const SecretState& s = state.value();
        if (!s.exists || !s.conflict.empty() || !s.has_password || s.record.empty()) continue;
        const TokenIdInfo info = ClassifyTokenId(s.record.owner, s.record.registry_id,
                                                 s.record.token_name, s.record.token_id);
        const int generation = info.cls == TokenIdClass::kMine ? info.generation : 0;
        if (!best || generation > best_generation) {
          best = s;
          best_generation = generation;
        }
      }
    };
    inspect(targets.value().write);
    if (!best) {
      // No target holds a password: a Secret of this name that crtoken wrote in another namespace
      // (one that stopped matching, a copy for the spec's previous target set) may, and its record
      // says whose password it is. Replicate copies it from there.
      auto holders = Holders(place, /*only_this_place=*/false);
      if (holders.ok()) {
        const std::set<std::string> targeted(targets.value().write.begin(),
                                             targets.value().write.end());
        std::vector<std::string> others;
        for (const std::string& ns : holders.value()) {
          if (!targeted.count(ns)) others.push_back(ns);
        }
        inspect(others);
      }
    }
    if (read == 0 && first_error) return *first_error;
    if (best) return *best;
    return SecretState{};  // no copy holds a password: none to replicate from
  }

  Status Replicate(const SecretRef& place, const SecretRecord& record) {
    auto targets = Resolve(place);
    if (!targets.ok()) return targets.error();
    if (targets.value().write.empty()) return NoTarget(place, targets.value());
    // The credential of a copy that records the live token.
    std::optional<DockerCredential> source;
    for (const std::string& ns : targets.value().write) {
      source = ReadCopy(place.k8s_name, ns, record);
      if (source) break;
    }
    if (!source) {  // from a copy outside the targets (see Inspect)
      auto others = Holders(place, /*only_this_place=*/false);
      if (!others.ok()) return others.error();
      for (const std::string& ns : others.value()) {
        source = ReadCopy(place.k8s_name, ns, record);
        if (source) break;
      }
    }
    if (!source) {
      return Error{ErrorKind::kNotFound, "secret " + place.ToString() +
                                             ": no copy holds the password of token id " +
                                             record.token_id};
    }
    NamespaceResults results = targets.value().skipped;
    std::string failures;
    for (const std::string& ns : targets.value().write) {
      // The inner sink writes nothing where the copy is already this (same data, same place).
      Status written = inner_->Write(CopyIn(place, ns), *source);
      results[ns] = written.ok() ? "written" : ResultOf(written.error());
      if (!written.ok()) AddFailure(failures, ns, written.error());
    }
    FinishCopies(place, targets.value(), results);
    Report(place, results);
    for (const auto& [ns, result] : results) {
      if (result != "written" && result != "missing" && result != "terminating") {
        return Error{ErrorKind::kUnavailable, "secret " + place.ToString() + ": " + failures};
      }
    }
    return Status::Ok();
  }

  Status Delete(const SecretRef& place) {
    seen_fan_out_ = true;
    auto copies = Holders(place, /*only_this_place=*/true);
    if (!copies.ok()) return copies.error();
    std::string failures;
    for (const std::string& ns : copies.value()) {
      Status deleted = inner_->Delete(CopyIn(place, ns));
      if (!deleted.ok()) {
        AddFailure(failures, ns, deleted.error());
        continue;
      }
      FixServiceAccounts(ns, place.k8s_name, {});
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      results_.erase(place.ToString());
    }
    Publish();
    if (!failures.empty()) {
      return Error{ErrorKind::kUnavailable,
                   "secret " + place.ToString() + ": copies not deleted: " + failures};
    }
    return Status::Ok();
  }

  std::map<std::string, NamespaceResults> Results() const {
    std::lock_guard<std::mutex> lock(mu_);
    return results_;
  }

  Result<std::optional<std::string>> ClusterDigest() {
    if (!seen_fan_out_) return std::optional<std::string>{};
    std::string text;
    for (const char* path : {"/api/v1/namespaces", "/api/v1/serviceaccounts"}) {
      auto items = ListAll(path);
      if (!items.ok()) return items.error();
      for (const json& item : items.value()) {
        text += JsonStringAt(item, {"metadata", "namespace"}) + "/" +
                JsonStringAt(item, {"metadata", "name"}) + "@" +
                JsonStringAt(item, {"metadata", "resourceVersion"}) + ":" +
                JsonStringAt(item, {"status", "phase"}) + "\n";
      }
    }
    auto secrets =
        ListAll(std::string("/api/v1/secrets?labelSelector=") +
                web::uri::encode_data_string(std::string(kManagedByLabel) + "=" + kManagedByValue));
    if (!secrets.ok()) return secrets.error();
    for (const json& item : secrets.value()) {
      text += JsonStringAt(item, {"metadata", "namespace"}) + "/" +
              JsonStringAt(item, {"metadata", "name"}) + "@" +
              JsonStringAt(item, {"metadata", "resourceVersion"}) + "\n";
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : digest) {
      out += hex[c >> 4];
      out += hex[c & 15];
    }
    return std::optional<std::string>{out};
  }

 private:
  static void AddFailure(std::string& failures, const std::string& ns, const Error& error) {
    failures +=
        (failures.empty() ? "" : "; ") + std::string("namespace ") + ns + ": " + error.ToString();
  }

  static Status NoTarget(const SecretRef& place, const Targets& targets) {
    std::string why = "no namespace matches";
    if (!targets.skipped.empty()) {
      why = "no namespace can hold it (";
      bool first = true;
      for (const auto& [ns, result] : targets.skipped) {
        why += (first ? "" : ", ") + ns + " " + result;
        first = false;
      }
      why += ")";
    }
    return Error{ErrorKind::kNotFound, "secret " + place.ToString() + ": " + why +
                                           "; its token is created once a namespace is a target"};
  }

  // After the copies of the targets are written: ServiceAccounts of the written namespaces, and
  // the place's copies in namespaces it no longer targets removed (with crtoken's entries).
  void FinishCopies(const SecretRef& place, const Targets& targets, NamespaceResults& results) {
    const std::set<std::string> want(place.service_accounts.begin(), place.service_accounts.end());
    for (const auto& [ns, result] : results) {
      if (result == "written") FixServiceAccounts(ns, place.k8s_name, want);
    }
    auto copies = Holders(place, /*only_this_place=*/true);
    if (!copies.ok()) {
      spdlog::warn("kubernetes: secret {}: cannot list its copies: {}", place.ToString(),
                   copies.error().ToString());
      return;
    }
    const std::set<std::string> targeted(targets.write.begin(), targets.write.end());
    for (const std::string& ns : copies.value()) {
      if (targeted.count(ns) || targets.skipped.count(ns)) continue;
      Status deleted = inner_->Delete(CopyIn(place, ns));
      if (!deleted.ok()) {
        spdlog::warn(
            "kubernetes: secret {}: the copy in namespace {} (no longer a target) was "
            "not deleted: {}",
            place.ToString(), ns, deleted.error().ToString());
        continue;
      }
      spdlog::info("kubernetes: secret {}: namespace {} is no longer a target: its copy deleted",
                   place.ToString(), ns);
      FixServiceAccounts(ns, place.k8s_name, {});
    }
    for (const auto& [ns, result] : results) {
      if (result != "written") {
        spdlog::warn("kubernetes: secret {}: namespace {}: {}", place.ToString(), ns, result);
      }
    }
  }

  void Report(const SecretRef& place, const NamespaceResults& results) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      results_[place.ToString()] = results;
    }
    Publish();
  }

  void Publish() {
    if (!options_.on_results) return;
    std::map<std::string, int> counts;
    for (const char* result : {"written", "forbidden", "terminating", "missing", "failed"}) {
      counts[result] = 0;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [_, results] : results_) {
        for (const auto& [ns, result] : results) ++counts[result];
      }
    }
    options_.on_results(counts);
  }

  // The credential of the copy in `ns` when it records exactly `record` and holds a password.
  std::optional<DockerCredential> ReadCopy(const std::string& name, const std::string& ns,
                                           const SecretRecord& record) {
    const std::string path = "/api/v1/namespaces/" + ns + "/secrets/" + name;
    auto got = client_->Call("GET", path);
    if (!got.ok() || got.value().status != 200) return std::nullopt;
    json obj = json::parse(got.value().body, nullptr, /*allow_exceptions=*/false);
    if (!obj.is_object()) return std::nullopt;
    if (LabelsOf(obj)[kManagedByLabel] != kManagedByValue) return std::nullopt;
    const SecretRecord recorded{
        JsonStringAt(obj, {"metadata", "labels", kOwnerLabel}),
        JsonStringAt(obj, {"metadata", "annotations", kRegistryIdAnnotation}),
        JsonStringAt(obj, {"metadata", "annotations", kTokenNameAnnotation}),
        JsonStringAt(obj, {"metadata", "annotations", kTokenIdAnnotation})};
    auto lower = [](std::string s) {
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    if (recorded.owner != record.owner || recorded.registry_id != record.registry_id ||
        recorded.token_name != record.token_name ||
        lower(recorded.token_id) != lower(record.token_id)) {
      return std::nullopt;
    }
    auto decoded = Base64Decode(JsonStringAt(obj, {"data", ".dockerconfigjson"}));
    if (!decoded) return std::nullopt;
    auto credential = ReadDockerCredential(*decoded);
    if (!credential) return std::nullopt;
    credential->record = recorded;
    return credential;
  }

  // The namespaces holding a managed Secret of the place's name: the copies that record this place
  // (only_this_place), or any.
  Result<std::vector<std::string>> Holders(const SecretRef& place, bool only_this_place) {
    const std::string value = FanOutAnnotationValue(place);
    auto items =
        ListAll(std::string("/api/v1/secrets?labelSelector=") +
                web::uri::encode_data_string(std::string(kManagedByLabel) + "=" + kManagedByValue));
    if (!items.ok()) return items.error();
    std::vector<std::string> out;
    for (const json& item : items.value()) {
      if (JsonStringAt(item, {"metadata", "name"}) != place.k8s_name) continue;
      if (only_this_place &&
          JsonStringAt(item, {"metadata", "annotations", kFanOutAnnotation}) != value) {
        continue;
      }
      out.push_back(JsonStringAt(item, {"metadata", "namespace"}));
    }
    return out;
  }

  Result<std::map<std::string, Namespace>> ListNamespaces() {
    auto items = ListAll("/api/v1/namespaces");
    if (!items.ok()) return items.error();
    std::map<std::string, Namespace> out;
    for (const json& item : items.value()) {
      const std::string name = JsonStringAt(item, {"metadata", "name"});
      if (name.empty()) continue;
      Namespace ns;
      ns.labels = LabelsOf(item);
      ns.terminating = JsonStringAt(item, {"status", "phase"}) == "Terminating" ||
                       !JsonStringAt(item, {"metadata", "deletionTimestamp"}).empty();
      out[name] = std::move(ns);
    }
    return out;
  }

  // Every item of a list, page after page; never a partial list.
  Result<std::vector<json>> ListAll(const std::string& base) {
    const std::string first = base + (base.find('?') == std::string::npos ? "?" : "&") +
                              "limit=" + std::to_string(std::max(1, options_.list_page_size));
    std::vector<json> out;
    std::string next;
    for (int pages = 0; pages < kMaxListPages; ++pages) {
      const std::string path =
          next.empty() ? first : first + "&continue=" + web::uri::encode_data_string(next);
      auto got = client_->Call("GET", path);
      if (!got.ok()) return got.error();
      if (got.value().status != 200) {
        Error e = client_->HttpError("GET", base, got.value());
        if (got.value().status == 403) {
          e.message +=
              " (fan-out needs list on namespaces, secrets and serviceaccounts at the cluster "
              "scope: docs/fanout.md)";
        }
        return e;
      }
      json page = json::parse(got.value().body, nullptr, /*allow_exceptions=*/false);
      if (!page.is_object() || !page.contains("items") ||
          !(page["items"].is_array() || page["items"].is_null())) {
        return Error{ErrorKind::kUnavailable, "kubernetes GET " + base + ": malformed list"};
      }
      if (page["items"].is_array()) {
        for (json& item : page["items"]) out.push_back(std::move(item));
      }
      next = JsonStringAt(page, {"metadata", "continue"});
      if (next.empty()) return out;
    }
    return Error{ErrorKind::kUnavailable, "kubernetes GET " + base + ": the list did not end"};
  }

  // Makes the ServiceAccounts of `ns` name `secret` in their imagePullSecrets exactly where `want`
  // names them, touching only the entries crtoken added (recorded on each ServiceAccount).
  void FixServiceAccounts(const std::string& ns, const std::string& secret,
                          const std::set<std::string>& want) {
    auto items = ListAll("/api/v1/namespaces/" + ns + "/serviceaccounts");
    if (!items.ok()) {
      spdlog::warn("kubernetes: ServiceAccounts of namespace {} cannot be listed: {}", ns,
                   items.error().ToString());
      return;
    }
    std::set<std::string> present;
    for (const json& sa : items.value()) {
      const std::string name = JsonStringAt(sa, {"metadata", "name"});
      present.insert(name);
      const bool ours =
          ParseNameSet(JsonStringAt(sa, {"metadata", "annotations", kPullSecretsAnnotation}))
              .count(secret) > 0;
      if (want.count(name) || ours) UpdateServiceAccount(ns, name, secret, want.count(name) > 0);
    }
    for (const std::string& name : want) {
      if (!present.count(name)) {
        spdlog::debug("kubernetes: ServiceAccount {}/{} does not exist (yet): waiting for it", ns,
                      name);
      }
    }
  }

  // Adds (`add`) or removes crtoken's entry `secret` in a ServiceAccount's imagePullSecrets:
  // GET, change, PUT with the resourceVersion read; 409 read again.
  void UpdateServiceAccount(const std::string& ns, const std::string& sa, const std::string& secret,
                            bool add) {
    const std::string path = "/api/v1/namespaces/" + ns + "/serviceaccounts/" + sa;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      auto got = client_->Call("GET", path);
      if (!got.ok() || got.value().status != 200) {
        if (got.ok() && got.value().status == 404) return;  // gone meanwhile
        spdlog::warn("kubernetes: ServiceAccount {}/{} cannot be read: {}", ns, sa,
                     got.ok() ? client_->HttpError("GET", path, got.value()).ToString()
                              : got.error().ToString());
        return;
      }
      json obj = json::parse(got.value().body, nullptr, /*allow_exceptions=*/false);
      if (!obj.is_object()) return;
      json& meta = obj["metadata"];
      std::set<std::string> ours =
          ParseNameSet(JsonStringAt(obj, {"metadata", "annotations", kPullSecretsAnnotation}));
      json entries = obj.contains("imagePullSecrets") && obj["imagePullSecrets"].is_array()
                         ? obj["imagePullSecrets"]
                         : json::array();
      const bool listed = std::any_of(entries.begin(), entries.end(), [&](const json& e) {
        return JsonStringAt(e, {"name"}) == secret;
      });
      if (add) {
        if (listed) return;  // there already (crtoken's or someone else's): nothing to add
        entries.push_back(json{{"name", secret}});
        ours.insert(secret);
      } else {
        if (!ours.count(secret)) return;  // not crtoken's entry
        json kept = json::array();
        for (const json& e : entries) {
          if (JsonStringAt(e, {"name"}) != secret) kept.push_back(e);
        }
        entries = std::move(kept);
        ours.erase(secret);
      }
      obj["imagePullSecrets"] = entries;
      if (ours.empty()) {
        if (meta.contains("annotations") && meta["annotations"].is_object()) {
          meta["annotations"].erase(kPullSecretsAnnotation);
        }
      } else {
        meta["annotations"][kPullSecretsAnnotation] = NameSetValue(ours);
      }
      auto put =
          client_->Call("PUT", path + "?fieldManager=crtoken", obj.dump(), "application/json");
      if (put.ok() && (put.value().status == 200 || put.value().status == 201)) {
        spdlog::info("kubernetes: ServiceAccount {}/{}: imagePullSecrets {} {}", ns, sa,
                     add ? "gains" : "loses", secret);
        return;
      }
      if (put.ok() && put.value().status == 409) continue;
      spdlog::warn("kubernetes: ServiceAccount {}/{} not updated: {}", ns, sa,
                   put.ok() ? client_->HttpError("PUT", path, put.value()).ToString()
                            : put.error().ToString());
      return;
    }
  }

  std::unique_ptr<SecretSink> inner_;
  std::unique_ptr<KubeClient> client_;
  FanOutOptions options_;
  std::atomic<bool> seen_fan_out_{false};
  mutable std::mutex mu_;
  std::map<std::string, NamespaceResults> results_;
};

NamespaceFanOutSink::NamespaceFanOutSink(std::unique_ptr<SecretSink> inner,
                                         std::unique_ptr<KubeClient> client, FanOutOptions options)
    : impl_(std::make_unique<Impl>(std::move(inner), std::move(client), std::move(options))) {}
NamespaceFanOutSink::~NamespaceFanOutSink() = default;

namespace {
template <typename F>
auto Guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {  // the contract says never throws: nothing escapes
    return Error{ErrorKind::kInternal, "kubernetes fan-out: " + std::string(e.what())};
  }
}
}  // namespace

Status NamespaceFanOutSink::Write(const SecretRef& ref, const DockerCredential& credential) {
  if (!ref.FanOut()) return impl_->inner().Write(ref, credential);
  return Guarded([&] { return impl_->Write(ref, credential); });
}

Result<SecretState> NamespaceFanOutSink::Inspect(const SecretRef& ref) {
  if (!ref.FanOut()) return impl_->inner().Inspect(ref);
  return Guarded([&] { return impl_->Inspect(ref); });
}

Status NamespaceFanOutSink::Delete(const SecretRef& ref) {
  if (!ref.FanOut()) return impl_->inner().Delete(ref);
  return Guarded([&] { return impl_->Delete(ref); });
}

Result<std::vector<ListedSecret>> NamespaceFanOutSink::List(const std::string& owner) {
  return impl_->inner().List(owner);
}

Status NamespaceFanOutSink::Stamp(const SecretRef& ref, const SecretRecord& record) {
  if (!ref.FanOut()) return impl_->inner().Stamp(ref, record);
  return Error{ErrorKind::kInvalid,
               "secret " + ref.ToString() + ": a fan-out place is not stamped"};
}

Status NamespaceFanOutSink::Replicate(const SecretRef& ref, const SecretRecord& record) {
  if (!ref.FanOut()) return impl_->inner().Replicate(ref, record);
  return Guarded([&] { return impl_->Replicate(ref, record); });
}

Status NamespaceFanOutSink::Flush() { return impl_->inner().Flush(); }

std::map<std::string, NamespaceResults> NamespaceFanOutSink::Results() const {
  return impl_->Results();
}

Result<std::optional<std::string>> NamespaceFanOutSink::ClusterDigest() {
  return Guarded([&] { return impl_->ClusterDigest(); });
}

}  // namespace crtoken
