// The emulator's data: registries and their tokens, under one mutex. It knows the API's rules
// that concern state (unique names, ids, expiry, the registry lifecycle); the HTTP layer
// (api.cc) validates input and renders output.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "emulator/clock.h"

namespace crtoken::emulator {

struct Scope {
  std::string name;
  std::string type;  // echoed as sent: the real service accepts any string
  std::vector<std::string> actions;
};

// Who made a change (metadata.createdBy / lastModifiedBy).
struct Caller {
  std::string user;
  std::string user_id;
};

struct Audit {
  int64_t created = 0;
  Caller created_by;
  std::optional<int64_t> modified;  // unset until the first change
  Caller modified_by;
};

struct Token {
  std::string id;
  std::string name;
  std::string status = "enabled";
  std::optional<int64_t> expiry;
  std::vector<Scope> scopes;
  std::string password;  // the last issued password (shown only by the admin state)
  Audit audit;
  uint64_t seq = 0;
};

struct RegistryInfo {
  std::string id;
  std::string name;
  std::string location;
  std::optional<nlohmann::json> gc_schedule;  // WeeklySchedule as sent, when sent
  Audit audit;
  int64_t running_at = 0;  // emulator time from which it is Running
  int64_t provision_seconds = 0;
  uint64_t seq = 0;

  // "New", "WaitingForStorage" or "Running" at time `now`.
  std::string State(int64_t now) const;
  // NAME.cr.<country>-<city>.ionos.com once Running, "" before.
  std::string Hostname(int64_t now) const;
};

struct TokenInput {  // PostTokenProperties, validated
  std::string name;
  std::string status = "enabled";
  std::optional<int64_t> expiry;
  std::vector<Scope> scopes;
};

struct TokenPatch {  // PatchTokenInput, validated; unset = keep
  std::optional<std::string> status;
  bool set_expiry = false;
  std::optional<int64_t> expiry;  // with set_expiry: nullopt clears it
  std::optional<std::vector<Scope>> scopes;
};

struct RegistryInput {  // PostRegistryProperties, validated
  std::string name;
  std::string location;
  std::optional<nlohmann::json> gc_schedule;
};

enum class Outcome { kOk, kNotFound, kConflict, kInvalid };

template <typename T>
struct Result {
  Outcome outcome = Outcome::kOk;
  std::string message;  // for errors
  T value{};
  bool ok() const { return outcome == Outcome::kOk; }
};

struct PutTokenResult {
  Token token;
  bool created = false;
  bool password_issued = false;  // the response shows the password
};

struct TokenPage {
  std::vector<Token> items;
  int64_t total = 0;
};

struct RegistryPage {
  std::vector<RegistryInfo> items;
  std::optional<uint64_t> next_seq;  // where the next page starts; unset on the last page
};

// Behaviours the real service leaves unverified (README.md, crtoken-emulator), switchable by flags.
struct StorePolicy {
  int64_t provision_seconds = 4;         // how long a POSTed registry takes to become Running
  bool put_replace_regenerates = false;  // PUT onto an existing token issues a new password
  bool rename_is_conflict = false;       // PUT changing a token's name: 409 (else 400)
  bool registry_filter_exact = false;    // filter.name: exact (else contains, case-insensitive)
};

// Thread-safe: every method takes the lock. Tokens whose expiryDate has passed (on the
// emulator's clock) are deleted before any operation, as the real service deletes them.
class Store {
 public:
  Store(const EmulatorClock* clock, StorePolicy policy);

  // Adds a Running registry (location de/fra) named `name`; returns its id. Idempotent by name.
  std::string SeedRegistry(const std::string& name);

  RegistryPage ListRegistries(const std::string& filter, uint64_t start_seq, int64_t limit);
  std::optional<RegistryInfo> GetRegistry(const std::string& id);
  Result<RegistryInfo> CreateRegistry(const RegistryInput& in, const Caller& caller);
  // Create (true in *created) or replace; name and location cannot change (kInvalid).
  Result<RegistryInfo> PutRegistry(const std::string& id, const RegistryInput& in,
                                   const Caller& caller, bool* created);
  Result<RegistryInfo> PatchRegistry(const std::string& id,
                                     const std::optional<nlohmann::json>& gc_schedule,
                                     const Caller& caller);
  // Deletes the registry and its tokens. False when unknown.
  bool DeleteRegistry(const std::string& id);
  bool RegistryNameInUse(const std::string& name);

  Result<TokenPage> ListTokens(const std::string& registry_id, int64_t offset, int64_t limit);
  Result<Token> GetToken(const std::string& registry_id, const std::string& token_id);
  Result<Token> CreateToken(const std::string& registry_id, const TokenInput& in,
                            const Caller& caller);
  Result<PutTokenResult> PutToken(const std::string& registry_id, const std::string& token_id,
                                  const TokenInput& in, const Caller& caller);
  Result<Token> PatchToken(const std::string& registry_id, const std::string& token_id,
                           const TokenPatch& patch, const Caller& caller);
  Result<bool> DeleteToken(const std::string& registry_id, const std::string& token_id);

  // GET /_emulator/state.
  nlohmann::ordered_json StateJson();

  // A registry login (GET /v2/ with Basic auth): whether `user` (a token name) with `password`
  // logs in to the registry whose hostname is `hostname`, at the emulator clock's now: the token
  // exists, has that password, is enabled and has not expired.
  enum class Login { kOk, kNoRegistry, kDenied };
  Login CheckLogin(const std::string& hostname, const std::string& user,
                   const std::string& password);

  const StorePolicy& policy() const { return policy_; }

 private:
  struct Registry {
    RegistryInfo info;
    std::map<uint64_t, Token> tokens;                 // by seq: creation order
    std::unordered_map<std::string, uint64_t> by_id;  // lower-case id -> seq
  };

  void PurgeExpiredLocked(int64_t now);
  Result<RegistryInfo> CreateRegistryLocked(const RegistryInput& in, const Caller& caller,
                                            const std::string& id);
  Registry* FindLocked(const std::string& id);
  Token* FindTokenLocked(Registry* r, const std::string& token_id);
  // Creates a token with a new password under `id`; kConflict when the name is taken.
  Result<Token> InsertTokenLocked(Registry* r, const std::string& id, const TokenInput& in,
                                  const Caller& caller, int64_t now);
  bool TokenNameTakenLocked(const Registry& r, const std::string& name,
                            const std::string& except_id) const;
  std::string NewUuidLocked();
  std::string NewPasswordLocked();
  void NoteExpiryLocked(const std::optional<int64_t>& expiry);

  const EmulatorClock* clock_;
  StorePolicy policy_;
  std::mutex mu_;
  std::map<uint64_t, Registry> registries_;  // by seq
  uint64_t next_seq_ = 1;
  std::optional<int64_t> next_expiry_;  // earliest expiryDate of any token (a lower bound)
  std::mt19937_64 rng_;
};

// Lower-cases ASCII.
std::string ToLower(std::string s);

}  // namespace crtoken::emulator
