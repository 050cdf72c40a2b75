#include "daemon/app/migration.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "daemon/common/json_text.h"

namespace crtoken {
namespace {

using Outcome = MigrationReport::Outcome;
using Phase = LegacyRecord::Phase;

// "acme/ci-push" (the registry's name when the file has it), printable.
std::string TokenLabel(const LegacyRecord& r) {
  return PrintableText((r.registry_name.empty() ? r.registry_id : r.registry_name) + "/" +
                       r.token_name);
}

// Why the token's password is not (or not provably) in its secret, or "" when it is.
std::string NotDelivered(const LegacyRecord& r, const SecretState& secret,
                         const SecretRecord& mine) {
  if (r.phase != Phase::kReady) {
    return std::string("its password never reached the secret (phase ") + LegacyPhaseName(r.phase) +
           ")";
  }
  if (!secret.conflict.empty()) return "its secret's place is not crtoken's";
  if (!secret.exists) return "its secret is gone";
  if (!secret.has_password) return "its secret holds no password";
  if (secret.username != r.token_name) {
    return "its secret is for \"" + PrintableText(secret.username, 256) + "\"";
  }
  if (!secret.record.empty() && secret.record != mine) {
    return "its secret records another token (" + PrintableText(secret.record.token_id, 64) + ")";
  }
  return "";
}

// Whether the token of `r` is live: listed under its id, or (a list read page by page can miss a
// token) found by a GET. kNotFound from the GET means gone; any other error is returned.
Result<bool> IsLive(RegistryApi& api, const LegacyRecord& r,
                    const std::map<std::string, Result<std::vector<ObservedToken>>>& lists) {
  const auto& list = lists.at(r.registry_id);
  if (!list.ok()) {
    if (list.error().kind == ErrorKind::kNotFound) return false;  // the registry is gone
    return list.error();
  }
  for (const ObservedToken& t : list.value()) {
    if (t.id == r.token_id) return t.name == r.token_name;
  }
  auto got = api.GetToken(r.registry_id, r.token_id);
  if (got.ok()) return got.value().name == r.token_name;
  if (got.error().kind == ErrorKind::kNotFound) return false;
  return got.error();
}

}  // namespace

int MigrationReport::Count(Outcome outcome) const {
  return static_cast<int>(std::count_if(steps.begin(), steps.end(),
                                        [&](const Step& s) { return s.outcome == outcome; }));
}

std::string MigrationReport::Summary() const {
  std::string out = (dry_run ? "would migrate " : "migrated ") + PrintableText(path) + ": " +
                    std::to_string(Count(Outcome::kStamped)) + " kept (secret stamped), " +
                    std::to_string(Count(Outcome::kDeleted)) +
                    " deleted (password never delivered), " +
                    std::to_string(Count(Outcome::kGone)) + " already gone";
  if (!complete()) {
    return out + "; " + std::to_string(Count(Outcome::kFailed)) +
           " failed: the file stays, the next start migrates again";
  }
  if (dry_run) return out + "; would rename it to " + kMigratedStateFile;
  return renamed ? out + "; renamed to " + kMigratedStateFile : out;
}

namespace {

// One record: see the header comment.
MigrationReport::Step MigrateOne(
    const LegacyRecord& r, RegistryApi& api, SecretSink& sink, const std::string& owner,
    bool dry_run, const std::map<std::string, Result<std::vector<ObservedToken>>>& lists,
    MigrationReport& report) {
  MigrationReport::Step step;
  step.record = r;
  const std::string label = "migrate " + TokenLabel(r) + " (token " + r.token_id + "): ";
  auto fail = [&](const std::string& what, const Error& e) {
    step.outcome = Outcome::kFailed;
    step.line = label + what + ": " + PrintableText(e.message);
    return step;
  };
  auto live = IsLive(api, r, lists);
  if (!live.ok()) return fail("cannot tell whether the token still exists", live.error());
  auto secret = sink.Inspect(r.secret);
  if (!secret.ok()) return fail("cannot read its secret " + r.secret.ToString(), secret.error());
  const SecretState& state = secret.value();
  const SecretRecord mine{owner, r.registry_id, r.token_name, r.token_id};
  const std::string why = NotDelivered(r, state, mine);

  if (live.value() && why.empty()) {
    const bool stamped_before = state.record == mine;
    Status stamped = dry_run || stamped_before ? Status::Ok() : sink.Stamp(r.secret, mine);
    if (!stamped.ok()) {
      return fail("cannot record the token in its secret " + r.secret.ToString(), stamped.error());
    }
    step.outcome = Outcome::kStamped;
    step.line = label + "its password is in " + r.secret.ToString() + ": token kept, " +
                (stamped_before ? "the secret already records it"
                 : dry_run      ? "would record it in the secret"
                                : "recorded it in the secret");
    report.stamped.emplace(r.secret, mine);
    return step;
  }

  if (live.value()) {
    Status deleted = dry_run ? Status::Ok() : api.DeleteToken(r.registry_id, r.token_id);
    if (!deleted.ok()) return fail(why + "; cannot delete the token", deleted.error());
    step.outcome = Outcome::kDeleted;
    step.line = label + why + ": " + (dry_run ? "would delete" : "deleted") +
                " the token (the pass creates it again where it is declared)";
    report.deleted.emplace(r.registry_id, r.token_id);
  } else {
    step.outcome = Outcome::kGone;
    step.line = label + "no longer in the registry";
  }
  // Its secret, if the earlier crtoken wrote one, holds a password of no live token. Recording the
  // gone token in it lets the pass handle it as any secret of a gone token: rewritten where a spec
  // still declares the token, deleted where none does. A secret the pass could not tell apart from
  // someone else's (another name, another record) is left as it is.
  if (state.exists && state.conflict.empty() && state.username == r.token_name &&
      state.record.empty()) {
    Status stamped = dry_run ? Status::Ok() : sink.Stamp(r.secret, mine);
    if (!stamped.ok()) {
      return fail(step.line + "; cannot record it in its old secret " + r.secret.ToString(),
                  stamped.error());
    }
    report.stamped.emplace(r.secret, mine);
    step.line += "; its old secret " + r.secret.ToString() +
                 (dry_run ? " would record" : " records") +
                 " the gone token, for the pass to rewrite or delete";
  } else if (step.outcome == Outcome::kGone) {
    step.line += "; nothing to do";
  }
  return step;
}

}  // namespace

MigrationReport MigrateRecords(const std::vector<LegacyRecord>& records, RegistryApi& api,
                               SecretSink& sink, const std::string& owner, bool dry_run) {
  MigrationReport report;
  report.dry_run = dry_run;
  // One list per registry: the live tokens, by id.
  std::map<std::string, Result<std::vector<ObservedToken>>> lists;
  for (const LegacyRecord& r : records) {
    if (!lists.count(r.registry_id)) lists.emplace(r.registry_id, api.ListTokens(r.registry_id));
  }
  for (const LegacyRecord& r : records) {
    MigrationReport::Step step = MigrateOne(r, api, sink, owner, dry_run, lists, report);
    // The file's names and ids, and the API's messages, came from outside: one printable line.
    step.line = PrintableText(step.line, 4096);
    report.steps.push_back(std::move(step));
  }
  return report;
}

Result<std::optional<MigrationReport>> MigrateLegacyState(const std::string& state_dir,
                                                          RegistryApi& api, SecretSink& sink,
                                                          const std::string& owner, bool dry_run,
                                                          FileOps* ops) {
  if (ops == nullptr) ops = &FileOps::Real();
  auto records = ReadLegacyState(state_dir, ops);
  if (!records.ok()) return records.error();
  if (!records.value()) return std::optional<MigrationReport>();
  MigrationReport report = MigrateRecords(*records.value(), api, sink, owner, dry_run);
  report.path = state_dir + "/" + kLegacyStateFile;
  if (dry_run || !report.complete()) return std::optional<MigrationReport>(std::move(report));
  ScopedFd dir(ops,
               ops->OpenAt(AT_FDCWD, state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  if (!dir.valid()) return IoError("cannot open the state dir", state_dir, errno);
  if (ops->RenameAt(dir.get(), kLegacyStateFile, dir.get(), kMigratedStateFile) != 0) {
    return IoError("migrated every token, but cannot rename", report.path, errno);
  }
  if (ops->Fsync(dir.get()) != 0) {
    return IoError("migrated every token, but cannot sync the rename in", state_dir, errno);
  }
  report.renamed = true;
  return std::optional<MigrationReport>(std::move(report));
}

MigrationView::MigrationView(RegistryApi& api, SecretSink& sink, const MigrationReport& report)
    : api_(api, report.deleted), sink_(sink, report.stamped) {}

Result<std::vector<ObservedToken>> MigrationView::Api::ListTokens(const std::string& registry_id) {
  auto list = base_.ListTokens(registry_id);
  if (!list.ok()) return list;
  std::erase_if(list.value(), [&](const ObservedToken& t) {
    return deleted_.count({registry_id, t.id}) > 0;
  });
  return list;
}

Result<ObservedToken> MigrationView::Api::GetToken(const std::string& registry_id,
                                                   const std::string& token_id) {
  if (deleted_.count({registry_id, token_id}) > 0) {
    return Error{ErrorKind::kNotFound, "token " + token_id + " (deleted by the migration)"};
  }
  return base_.GetToken(registry_id, token_id);
}

Result<SecretState> MigrationView::Sink::Inspect(const SecretRef& ref) {
  auto state = base_.Inspect(ref);
  if (!state.ok()) return state;
  auto it = stamped_.find(ref);
  if (it != stamped_.end() && state.value().exists && state.value().conflict.empty()) {
    state.value().record = it->second;
  }
  return state;
}

Result<std::vector<ListedSecret>> MigrationView::Sink::List(const std::string& owner) {
  auto listed = base_.List(owner);
  if (!listed.ok()) return listed;
  std::map<SecretRef, SecretRecord> all;
  for (ListedSecret& s : listed.value()) all[s.ref] = std::move(s.record);
  for (const auto& [ref, record] : stamped_) {
    if (record.owner == owner) all[ref] = record;
  }
  std::vector<ListedSecret> out;
  out.reserve(all.size());
  for (auto& [ref, record] : all) out.push_back(ListedSecret{ref, std::move(record)});
  return out;
}

}  // namespace crtoken
