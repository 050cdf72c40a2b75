// In-memory fakes of the reconciler's interfaces, with fault hooks, for the reconciler's tests.
// Each keeps the state a test asserts on (tokens with their issued passwords, secrets with their
// records).
#pragma once

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "reconciler/clock.h"
#include "reconciler/registry_api.h"
#include "reconciler/secret_sink.h"
#include "reconciler/time_util.h"
#include "reconciler/token_id.h"

namespace crtoken::test {

// A file secret reference, as a spec's `secret.file: PATH` gives it.
inline SecretRef FileRef(const std::string& path) {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kFile;
  ref.file = path;
  return ref;
}

// The credential the sink tests write: token ci-push of registry acme.
inline DockerCredential SampleCredential(const std::string& password = "s3cret") {
  return DockerCredential{"acme.cr.de-fra.ionos.com", "ci-push", Password(password),
                          SecretRecord{}};
}

// The API's token name pattern: ^[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]$.
inline bool ValidTokenName(const std::string& name) {
  if (name.size() < 2 || name.size() > 63) return false;
  if (!std::isalpha(static_cast<unsigned char>(name.front()))) return false;
  if (!std::isalnum(static_cast<unsigned char>(name.back()))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

// The registry named exactly `name`, picked from one api.ListRegistries() as the reconcile pass
// resolves a spec's registry: the list's error when it fails, kNotFound when no registry carries
// the name. For tests that need a registry's id through the port, from any implementation.
inline Result<RegistryInfo> RegistryNamed(RegistryApi& api, const std::string& name) {
  auto all = api.ListRegistries();
  if (!all.ok()) return all.error();
  for (RegistryInfo& info : all.value()) {
    if (info.name == name) return std::move(info);
  }
  return Error{ErrorKind::kNotFound, "no registry named '" + name + "'"};
}

// Where FakeClock starts, and the time of a FakeRegistryApi given no clock: 2026-11-28T12:00:00Z.
inline constexpr std::chrono::sys_seconds kFakeClockStart =
    std::chrono::sys_days{std::chrono::year{2026} / 11 / 28} + std::chrono::hours(12);

// The registry API in memory. Every write method counts as a write request. It answers as
// HttpRegistryApi does against the API (tests/contract/ports checks both with one scenario list):
// ids must be UUIDs (kInvalid), names must match the API's pattern (kInvalid), an unknown registry
// or token is kNotFound, a token id is unique across registries, a PUT onto an existing id keeps
// the token's name and password and returns no password (an error), token ids compare without
// regard to case (and come back lower-case), deleting what is gone succeeds, and a token list is
// in creation order. Time is the registry's clock (UseClock; kFakeClockStart, standing still,
// until one is given): an expiry at or before its second is refused (kInvalid), on create, PUT
// and PATCH alike, and a token whose expiry has come is gone (from lists, reads and the views
// below), as the API deletes it.
class FakeRegistryApi : public RegistryApi {
 public:
  struct Token {
    ObservedToken token;
    std::string password;
    uint64_t created = 0;  // creation order within the fake
  };

  // The registry's clock (a test's FakeClock, so that expiry follows the time the test moves).
  // Not owned; must outlive the fake. nullptr: kFakeClockStart again.
  void UseClock(const Clock* clock) {
    std::lock_guard<std::mutex> lock(mu_);
    clock_ = clock;
  }
  struct Registry {
    RegistryInfo info;
    std::map<std::string, Token> tokens;  // by id
  };

  // Adds a registry; returns its id (never one used before). `hostname` "" = not Running yet.
  std::string AddRegistry(const std::string& name, const std::string& hostname,
                          const std::string& state = "Running") {
    std::lock_guard<std::mutex> lock(mu_);
    std::string id = "00000000-0000-4000-8000-" + Pad(++registry_count_);
    registries_[id] = Registry{RegistryInfo{id, name, hostname, state}, {}};
    return id;
  }
  // Deletes a registry with all its tokens, as the API's DELETE /registries/{id} does.
  void RemoveRegistry(const std::string& registry_id) {
    std::lock_guard<std::mutex> lock(mu_);
    registries_.erase(registry_id);
  }
  void SetHostname(const std::string& registry_id, const std::string& hostname) {
    std::lock_guard<std::mutex> lock(mu_);
    registries_.at(registry_id).info.hostname = hostname;
    registries_.at(registry_id).info.state = "Running";
  }
  // A token created outside crtoken (by hand, or by another tool).
  std::string AddForeignToken(const std::string& registry_id, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string id = "ffffffff-0000-4000-8000-" + Pad(++foreign_);
    ObservedToken t;
    t.id = id;
    t.name = name;
    registries_.at(registry_id).tokens[id] = Token{t, "foreign-password", ++created_};
    return id;
  }
  void DeleteByHand(const std::string& registry_id, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& tokens = registries_.at(registry_id).tokens;
    for (auto it = tokens.begin(); it != tokens.end(); ++it) {
      if (it->second.token.name == name) {
        tokens.erase(it);
        return;
      }
    }
  }
  std::optional<Token> Find(const std::string& registry_id, const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [_, t] : registries_.at(registry_id).tokens) {
      if (t.token.name == name && !ExpiredLocked(t)) return t;
    }
    return std::nullopt;
  }
  size_t TokenCount(const std::string& registry_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto& tokens = registries_.at(registry_id).tokens;
    return std::count_if(tokens.begin(), tokens.end(),
                         [&](const auto& entry) { return !ExpiredLocked(entry.second); });
  }

  // Every token of every registry (for tests that check there is no orphan).
  std::vector<std::pair<std::string, ObservedToken>> AllTokens() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::pair<std::string, ObservedToken>> out;
    for (const auto& [id, r] : registries_) {
      for (const auto& [_, t] : r.tokens) out.emplace_back(id, t.token);
    }
    return out;
  }

  // Fault hooks. `down` fails every call at once with kUnavailable, as a process that was killed
  // sends nothing more; `fail_list[registry_id]` fails every list of that registry; `fail_next`
  // fails the next calls of a method ("PUT", "PATCH", "DELETE", "LIST", "GET", "GET_TOKEN",
  // "LIST_REGISTRIES") in order; `put_then_fail` makes the next PUT create the token but report
  // an error (a lost response); `hide_from_list` holds token ids that lists omit although they
  // exist (a paging gap).
  std::atomic<bool> down{false};
  std::map<std::string, Error> fail_list;
  std::set<std::string> hide_from_list;
  void FailNext(const std::string& method, Error error) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_[method].push_back(std::move(error));
  }
  std::atomic<int> put_then_fail{0};

  int Writes() const { return puts + patches + deletes; }
  std::atomic<int> puts{0}, patches{0}, deletes{0}, lists{0}, lookups{0}, gets{0},
      registry_lists{0};
  std::vector<TokenPatch> patch_log;  // every PATCH body, in order

  Result<std::vector<RegistryInfo>> ListRegistries() override {
    ++registry_lists;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = TakeFault("LIST_REGISTRIES")) return *e;
    std::vector<RegistryInfo> out;
    for (const auto& [_, r] : registries_) out.push_back(r.info);
    return out;
  }
  Result<RegistryInfo> GetRegistry(const std::string& registry_id) override {
    ++lookups;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = TakeFault("GET")) return *e;
    if (auto e = CheckRegistryId(registry_id)) return *e;
    auto it = registries_.find(registry_id);
    if (it == registries_.end()) return Error{ErrorKind::kNotFound, "no registry " + registry_id};
    return it->second.info;
  }
  Result<std::vector<ObservedToken>> ListTokens(const std::string& registry_id) override {
    ++lists;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = TakeFault("LIST")) return *e;
    if (auto it = fail_list.find(registry_id); it != fail_list.end()) return it->second;
    if (auto e = CheckRegistryId(registry_id)) return *e;
    PurgeExpired();
    auto r = registries_.find(registry_id);
    if (r == registries_.end()) return Error{ErrorKind::kNotFound, "no registry " + registry_id};
    std::vector<const Token*> listed;
    for (const auto& [id, t] : r->second.tokens) {
      if (!hide_from_list.count(id)) listed.push_back(&t);
    }
    std::sort(listed.begin(), listed.end(),
              [](const Token* a, const Token* b) { return a->created < b->created; });
    std::vector<ObservedToken> out;
    for (const Token* t : listed) out.push_back(t->token);
    return out;
  }
  Result<ObservedToken> GetToken(const std::string& registry_id,
                                 const std::string& given_token_id) override {
    const std::string token_id = Lower(given_token_id);
    ++gets;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = TakeFault("GET_TOKEN")) return *e;
    if (auto e = CheckIds(registry_id, token_id)) return *e;
    PurgeExpired();
    auto r = registries_.find(registry_id);
    if (r == registries_.end()) return Error{ErrorKind::kNotFound, "no registry " + registry_id};
    auto it = r->second.tokens.find(token_id);
    if (it == r->second.tokens.end()) return Error{ErrorKind::kNotFound, "no token " + token_id};
    return it->second.token;
  }
  Result<CreatedToken> CreateToken(const std::string& registry_id,
                                   const std::string& given_token_id,
                                   const TokenFields& fields) override {
    const std::string token_id = Lower(given_token_id);
    ++puts;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = TakeFault("PUT")) return *e;
    if (auto e = CheckIds(registry_id, token_id)) return *e;
    if (!ValidTokenName(fields.name)) {
      return Error{ErrorKind::kInvalid,
                   "properties.name: '" + fields.name + "' is not a token name"};
    }
    if (auto e = CheckExpiry("properties.expiryDate", fields.expiry)) return *e;
    PurgeExpired();
    auto r = registries_.find(registry_id);
    if (r == registries_.end()) return Error{ErrorKind::kNotFound, "no registry " + registry_id};
    if (auto existing = r->second.tokens.find(token_id); existing != r->second.tokens.end()) {
      // A PUT onto an existing token replaces its writable fields; its name cannot change, and
      // its password stays: the API answers without one, which the client reports as an error.
      ObservedToken& t = existing->second.token;
      if (t.name != fields.name) {
        return Error{ErrorKind::kInvalid, "token " + token_id + " is named " + t.name +
                                              ": a token's name cannot be changed"};
      }
      t.status = fields.status;
      t.expiry = fields.expiry;
      t.scopes = fields.scopes;
      return Error{ErrorKind::kUnavailable,
                   "PUT onto existing token " + token_id + " answered without a password"};
    }
    for (const auto& [rid, other] : registries_) {
      if (other.tokens.count(token_id)) {
        return Error{ErrorKind::kConflict,
                     "token id " + token_id + " is used in another registry (" + rid + ")"};
      }
    }
    for (const auto& [id, t] : r->second.tokens) {
      if (t.token.name == fields.name && id != token_id) {
        return Error{ErrorKind::kConflict, "name " + fields.name + " is taken"};
      }
    }
    ObservedToken t;
    t.id = token_id;
    t.name = fields.name;
    t.status = fields.status;
    t.expiry = fields.expiry;
    t.scopes = fields.scopes;
    std::string password = "pw-" + std::to_string(++issued_) + "-" + fields.name;
    r->second.tokens[token_id] = Token{t, password, ++created_};
    if (put_then_fail > 0) {
      --put_then_fail;
      return Error{ErrorKind::kUnavailable, "connection reset after the PUT"};
    }
    return CreatedToken{t, Password(password)};
  }
  Result<ObservedToken> PatchToken(const std::string& registry_id,
                                   const std::string& given_token_id,
                                   const TokenPatch& patch) override {
    const std::string token_id = Lower(given_token_id);
    ++patches;
    std::lock_guard<std::mutex> lock(mu_);
    patch_log.push_back(patch);
    if (auto e = TakeFault("PATCH")) return *e;
    if (auto e = CheckIds(registry_id, token_id)) return *e;
    if (patch.expiry) {
      if (auto e = CheckExpiry("expiryDate", *patch.expiry)) return *e;
    }
    PurgeExpired();
    auto r = registries_.find(registry_id);
    if (r == registries_.end()) return Error{ErrorKind::kNotFound, "no registry " + registry_id};
    auto it = r->second.tokens.find(token_id);
    if (it == r->second.tokens.end()) return Error{ErrorKind::kNotFound, "no token " + token_id};
    if (patch.status) it->second.token.status = *patch.status;
    if (patch.expiry) it->second.token.expiry = *patch.expiry;
    if (patch.scopes) it->second.token.scopes = *patch.scopes;
    return it->second.token;
  }
  Status DeleteToken(const std::string& registry_id, const std::string& given_token_id) override {
    const std::string token_id = Lower(given_token_id);
    ++deletes;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = TakeFault("DELETE")) return *e;
    if (auto e = CheckIds(registry_id, token_id)) return *e;
    PurgeExpired();
    // A token of an unknown registry is gone as well: that succeeds too.
    auto r = registries_.find(registry_id);
    if (r != registries_.end()) r->second.tokens.erase(token_id);
    return Status::Ok();
  }

 private:
  static std::string Pad(size_t n) {
    std::string s = std::to_string(n);
    return std::string(12 - s.size(), '0') + s;
  }
  // UUIDs compare without regard to case; the API writes them lower-case.
  static std::string Lower(std::string id) {
    for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return id;
  }
  // kInvalid unless both ids are UUIDs (the client refuses others before sending anything).
  static std::optional<Error> CheckRegistryId(const std::string& registry_id) {
    if (IsUuid(registry_id)) return std::nullopt;
    return Error{ErrorKind::kInvalid, "registry id '" + registry_id + "' is not a UUID"};
  }
  static std::optional<Error> CheckIds(const std::string& registry_id,
                                       const std::string& token_id) {
    if (auto e = CheckRegistryId(registry_id)) return e;
    if (!IsUuid(token_id)) {
      return Error{ErrorKind::kInvalid, "token id '" + token_id + "' is not a UUID"};
    }
    return std::nullopt;
  }
  // The registry's time, to the second (as the API keeps it).
  Instant NowLocked() const {
    if (clock_ == nullptr) return kFakeClockStart;
    return std::chrono::floor<std::chrono::seconds>(clock_->Now());
  }
  // kInvalid for an expiry at or before now, as the API answers 400.
  std::optional<Error> CheckExpiry(const char* field, const std::optional<Instant>& expiry) const {
    if (!expiry || *expiry > NowLocked()) return std::nullopt;
    return Error{ErrorKind::kInvalid,
                 std::string(field) + ": " + FormatRfc3339(*expiry) + " is not in the future"};
  }
  bool ExpiredLocked(const Token& t) const {
    return t.token.expiry && *t.token.expiry <= NowLocked();
  }
  // Deletes every token whose expiry has come.
  void PurgeExpired() {
    for (auto& [_, r] : registries_) {
      std::erase_if(r.tokens, [&](const auto& entry) { return ExpiredLocked(entry.second); });
    }
  }
  std::optional<Error> TakeFault(const std::string& method) {
    if (down) return Error{ErrorKind::kUnavailable, method + ": the process is down"};
    auto it = fail_next_.find(method);
    if (it == fail_next_.end() || it->second.empty()) return std::nullopt;
    Error e = it->second.front();
    it->second.pop_front();
    return e;
  }

  mutable std::mutex mu_;
  std::map<std::string, Registry> registries_;
  std::map<std::string, std::deque<Error>> fail_next_;
  size_t registry_count_ = 0;
  int issued_ = 0;
  int foreign_ = 0;
  uint64_t created_ = 0;
  const Clock* clock_ = nullptr;
};

// Secrets in memory, keyed by SecretRef::ToString(); `fail_writes` makes every Write fail.
// Writes and deletes are visible at once and durable after Flush, as in the file sink;
// PowerLoss() brings back the last flushed content. SetForeign(ref, why) puts something crtoken
// must not overwrite in the place of `ref` (a Secret it does not manage): Inspect reports it as a
// conflict and Write and Delete refuse it, until SetForeign(ref, ""). As in the real sinks, the
// record is kept with the password, for every kind of ref. `down` fails every call, as a killed
// process writes nothing more.
class MemorySecretSink : public SecretSink {
 public:
  std::atomic<bool> fail_writes{false};
  std::atomic<bool> fail_flush{false};
  std::atomic<bool> fail_list{false};
  std::atomic<bool> down{false};
  std::atomic<int> writes{0};
  std::atomic<int> flushes{0};
  std::atomic<int> listings{0};

  Status Write(const SecretRef& ref, const DockerCredential& c) override {
    ++writes;
    if (down) return Down();
    if (fail_writes) return Error{ErrorKind::kIo, "cannot write " + ref.ToString() + ": disk full"};
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = foreign_.find(ref.ToString()); it != foreign_.end()) {
      return Error{ErrorKind::kConflict, it->second + "; refusing to overwrite it"};
    }
    secrets_[ref.ToString()] = Stored{ref, c.hostname, c.username, c.password.Reveal(), c.record};
    return Status::Ok();
  }
  Result<SecretState> Inspect(const SecretRef& ref) override {
    if (down) return Down();
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = foreign_.find(ref.ToString()); it != foreign_.end()) {
      SecretState state;
      state.exists = true;
      state.conflict = it->second;
      return state;
    }
    auto it = secrets_.find(ref.ToString());
    if (it == secrets_.end()) return SecretState{};
    return SecretState{true,
                       !it->second.password.empty(),
                       it->second.hostname,
                       it->second.username,
                       it->second.record,
                       ""};
  }
  Status Delete(const SecretRef& ref) override {
    if (down) return Down();
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = foreign_.find(ref.ToString()); it != foreign_.end()) {
      return Error{ErrorKind::kConflict, it->second + "; refusing to delete it"};
    }
    secrets_.erase(ref.ToString());
    return Status::Ok();
  }
  Result<std::vector<ListedSecret>> List(const std::string& owner) override {
    ++listings;
    if (down) return Down();
    if (fail_list) return Error{ErrorKind::kIo, "cannot list the secrets: permission denied"};
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<ListedSecret> out;
    for (const auto& [_, stored] : secrets_) {
      if (!stored.record.empty() && stored.record.owner == owner) {
        out.push_back(ListedSecret{stored.ref, stored.record});
      }
    }
    std::sort(out.begin(), out.end(),
              [](const ListedSecret& a, const ListedSecret& b) { return a.ref < b.ref; });
    return out;
  }
  Status Stamp(const SecretRef& ref, const SecretRecord& record) override {
    if (down) return Down();
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = foreign_.find(ref.ToString()); it != foreign_.end()) {
      return Error{ErrorKind::kConflict, it->second + "; refusing to stamp it"};
    }
    auto it = secrets_.find(ref.ToString());
    if (it == secrets_.end()) return Error{ErrorKind::kNotFound, "no secret " + ref.ToString()};
    it->second.record = record;
    return Status::Ok();
  }
  // Fan-out, for a fixed namespace list: every namespace of `ref` gets a copy of the secret at
  // `ref` when that secret records `record` (the Kubernetes sink also follows selectors and
  // ServiceAccounts). Copies are read with Copy() and are not listed: they belong to the place.
  Status Replicate(const SecretRef& ref, const SecretRecord& record) override {
    if (down) return Down();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = secrets_.find(ref.ToString());
    if (it == secrets_.end() || it->second.record != record) {
      return Error{ErrorKind::kNotFound,
                   "no secret at " + ref.ToString() + " records token " + record.token_id};
    }
    for (const auto& ns : ref.k8s_namespaces) copies_[ns + "/" + ref.k8s_name] = it->second;
    return Status::Ok();
  }
  // The copy Replicate wrote in NAMESPACE/NAME.
  std::optional<DockerCredential> Copy(const std::string& ns_name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = copies_.find(ns_name);
    if (it == copies_.end()) return std::nullopt;
    const Stored& s = it->second;
    return DockerCredential{s.hostname, s.username, Password(s.password), s.record};
  }
  Status Flush() override {
    if (down) return Down();
    if (fail_flush) return Error{ErrorKind::kIo, "cannot sync the file system: I/O error"};
    std::lock_guard<std::mutex> lock(mu_);
    ++flushes;
    durable_ = secrets_;
    return Status::Ok();
  }
  void PowerLoss() {
    std::lock_guard<std::mutex> lock(mu_);
    secrets_ = durable_;
  }
  std::optional<DockerCredential> Get(const std::string& ref) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = secrets_.find(ref);
    if (it == secrets_.end()) return std::nullopt;
    const Stored& s = it->second;
    return DockerCredential{s.hostname, s.username, Password(s.password), s.record};
  }
  void EraseByHand(const std::string& ref) {
    std::lock_guard<std::mutex> lock(mu_);
    secrets_.erase(ref);
  }
  void SetForeign(const std::string& ref, const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (why.empty()) {
      foreign_.erase(ref);
    } else {
      foreign_[ref] = why;
    }
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return secrets_.size();
  }
  // Every secret held now, by SecretRef::ToString(), without its password.
  std::map<std::string, SecretState> All() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, SecretState> out;
    for (const auto& [key, s] : secrets_) {
      out[key] = SecretState{true, !s.password.empty(), s.hostname, s.username, s.record, ""};
    }
    return out;
  }

 private:
  static Error Down() { return Error{ErrorKind::kIo, "the process is down"}; }
  // A DockerCredential cannot be copied (its Password cannot): the fake keeps plain copies.
  struct Stored {
    SecretRef ref;
    std::string hostname;
    std::string username;
    std::string password;
    SecretRecord record;
  };
  mutable std::mutex mu_;
  std::map<std::string, Stored> secrets_;
  std::map<std::string, Stored> durable_;
  std::map<std::string, std::string> foreign_;  // ref -> what occupies it
  std::map<std::string, Stored> copies_;        // "namespace/name" -> Replicate's copy
};

// The one fake clock of the tests: time moves only when a test moves it. Now() starts at
// 2026-11-28T12:00:00Z; Monotonic() moves with it (the steady epoch plus the same offset), so
// Advance() moves both and Set() may move Now() backwards. Thread-safe.
class FakeClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return std::chrono::steady_clock::time_point{} +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(now_.time_since_epoch());
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }
  void Set(std::chrono::system_clock::time_point t) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  std::chrono::system_clock::time_point now_ = kFakeClockStart;
};

}  // namespace crtoken::test
