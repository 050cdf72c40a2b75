// The one-time upgrade from a state directory (docs/ownership.md, "Upgrading from a state
// directory"): the tokens that an earlier crtoken recorded in <state-dir>/ownership.json are
// handed over to the stateless ownership, so that the first pass neither loses nor re-issues what
// was delivered.
//
// For each legacy record, from what the registry and the secret show now:
// - the token is live (listed under the recorded id, or found by a GET when a list missed it) and
//   its password is in its secret (the record said "ready"; the secret holds a password for the
//   token's name, and records nothing or exactly this token): the secret is stamped with this
//   owner's record of the token (SecretSink::Stamp, the credential unchanged); from then on the
//   pass owns the token through that record, and its next re-issue moves it to the new ids;
// - the token is live but its password never reached the secret (a phase other than "ready", a
//   secret that is missing, empty, for another name or recording another token): the token is
//   deleted; its password is lost, and the pass creates it again when it is declared;
// - the token is gone (its registry too, perhaps): nothing is done to it.
// A secret left with the password of a token that is gone or was just deleted (written by the
// earlier crtoken for this name, recording nothing) is stamped with the gone token's record: the
// pass then treats it as any secret of a gone token, rewriting it where a spec still declares the
// token and deleting it where none does, instead of leaving it behind with a dead password.
// Once every record is handled, the file is renamed to ownership.json.migrated (renaming it back
// restores it for a downgrade). A step that fails is reported and leaves the file where it is: the
// next start migrates again, and every step is idempotent (a stamped secret already records its
// token, a deleted token is gone).
//
// In a dry run (crtoken plan, run --dry-run) nothing is written: the report says what would be
// done, and MigrationView shows the pass the API and the sink as they would be afterwards.
//
// Never throws; not thread-safe (it runs once, before the first pass).
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "daemon/app/legacy_state.h"
#include "daemon/common/file_ops.h"
#include "reconciler/registry_api.h"
#include "reconciler/secret_sink.h"

namespace crtoken {

inline constexpr char kMigratedStateFile[] = "ownership.json.migrated";

struct MigrationReport {
  enum class Outcome {
    kStamped,  // the token is kept: its secret now records it
    kDeleted,  // the token was deleted: its password never reached its secret
    kGone,     // the token is no longer in the registry
    kFailed,   // an error; see the line
  };
  struct Step {
    LegacyRecord record;
    Outcome outcome = Outcome::kFailed;
    std::string line;  // one printable line: what was (or would be) done and why
  };
  std::string path;  // the legacy file
  std::vector<Step> steps;
  bool dry_run = false;
  bool renamed = false;  // the file is now ownership.json.migrated
  // The secrets stamped (or to be stamped) with this owner's record (of a kept token, or of a gone
  // one), and the tokens deleted (or to be deleted) as (registry id, token id): what MigrationView
  // shows.
  std::map<SecretRef, SecretRecord> stamped;
  std::set<std::pair<std::string, std::string>> deleted;

  int Count(Outcome outcome) const;
  bool complete() const { return Count(Outcome::kFailed) == 0; }
  // "migrated PATH: 2 kept (secrets stamped), 1 deleted (password never delivered), 0 gone; renamed
  // to ownership.json.migrated", or what is left to do.
  std::string Summary() const;
};

// Handles `records` (see the header comment) for `owner`; writes nothing when `dry_run`.
MigrationReport MigrateRecords(const std::vector<LegacyRecord>& records, RegistryApi& api,
                               SecretSink& sink, const std::string& owner, bool dry_run);

// Reads <state_dir>/ownership.json, migrates its records, and (when not a dry run and every record
// was handled) renames it. std::nullopt when there is no such file. An unreadable or corrupt file,
// or a failed rename, is an Error; the report's failed steps are not (check complete()).
Result<std::optional<MigrationReport>> MigrateLegacyState(const std::string& state_dir,
                                                          RegistryApi& api, SecretSink& sink,
                                                          const std::string& owner, bool dry_run,
                                                          FileOps* ops = nullptr);

// The API and the sink as a dry-run migration would leave them: the deleted tokens are absent from
// lists and GETs, the stamped secrets record their token in Inspect and List. Everything else, and
// every write, goes to the wrapped adapters. Thread-safe as the wrapped adapters are.
class MigrationView {
 public:
  MigrationView(RegistryApi& api, SecretSink& sink, const MigrationReport& report);
  RegistryApi& api() { return api_; }
  SecretSink& sink() { return sink_; }

 private:
  class Api : public RegistryApi {
   public:
    Api(RegistryApi& base, std::set<std::pair<std::string, std::string>> deleted)
        : base_(base), deleted_(std::move(deleted)) {}
    Result<RegistryInfo> GetRegistry(const std::string& registry_id) override {
      return base_.GetRegistry(registry_id);
    }
    Result<std::vector<RegistryInfo>> ListRegistries() override { return base_.ListRegistries(); }
    Result<std::vector<ObservedToken>> ListTokens(const std::string& registry_id) override;
    Result<ObservedToken> GetToken(const std::string& registry_id,
                                   const std::string& token_id) override;
    Result<CreatedToken> CreateToken(const std::string& registry_id, const std::string& token_id,
                                     const TokenFields& fields) override {
      return base_.CreateToken(registry_id, token_id, fields);
    }
    Result<ObservedToken> PatchToken(const std::string& registry_id, const std::string& token_id,
                                     const TokenPatch& patch) override {
      return base_.PatchToken(registry_id, token_id, patch);
    }
    Status DeleteToken(const std::string& registry_id, const std::string& token_id) override {
      return base_.DeleteToken(registry_id, token_id);
    }
    void Shutdown() override { base_.Shutdown(); }

   private:
    RegistryApi& base_;
    const std::set<std::pair<std::string, std::string>> deleted_;
  };

  class Sink : public SecretSink {
   public:
    Sink(SecretSink& base, std::map<SecretRef, SecretRecord> stamped)
        : base_(base), stamped_(std::move(stamped)) {}
    Status Write(const SecretRef& ref, const DockerCredential& credential) override {
      return base_.Write(ref, credential);
    }
    Result<SecretState> Inspect(const SecretRef& ref) override;
    Status Delete(const SecretRef& ref) override { return base_.Delete(ref); }
    Result<std::vector<ListedSecret>> List(const std::string& owner) override;
    Status Stamp(const SecretRef& ref, const SecretRecord& record) override {
      return base_.Stamp(ref, record);
    }
    Status Flush() override { return base_.Flush(); }

   private:
    SecretSink& base_;
    const std::map<SecretRef, SecretRecord> stamped_;
  };

  Api api_;
  Sink sink_;
};

}  // namespace crtoken
