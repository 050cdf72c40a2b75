// crtoken plan and crtoken apply: one pass each, over the same Runtime as `crtoken run`.
//
// Output: the actions (Action::Describe(), never a secret) and a summary on stdout; spec errors,
// failures and logs on stderr.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "daemon/app/commands.h"
#include "daemon/app/one_shot.h"
#include "daemon/app/progress_line.h"
#include "daemon/app/runtime.h"

namespace crtoken {
namespace {

struct Tally {
  int create = 0, reissue = 0, update = 0, remove = 0;
};

Tally Count(const Plan& plan) {
  Tally t;
  for (const auto& a : plan.actions) {
    switch (a.type) {
      case ActionType::kCreate:
        ++t.create;
        break;
      case ActionType::kReissue:
      case ActionType::kRotate:  // a new password too: counted with the re-issues
        ++t.reissue;
        break;
      case ActionType::kUpdate:
        ++t.update;
        break;
      case ActionType::kDelete:
        ++t.remove;
        break;
    }
  }
  return t;
}

// The migration of an old ownership.json, before the pass: a line per token and the summary on
// stdout; failed steps (and then the summary) on stderr. False when it is not complete: the
// command then runs no pass.
bool PrintMigration(const char* command, const std::optional<MigrationReport>& migration) {
  if (!migration) return true;
  for (const MigrationReport::Step& step : migration->steps) {
    if (step.outcome == MigrationReport::Outcome::kFailed) {
      std::fprintf(stderr, "crtoken %s: error: %s\n", command, Printable(step.line).c_str());
    } else {
      std::printf("%s\n", Printable(step.line).c_str());
    }
  }
  if (migration->complete()) {
    std::printf("%s\n", Printable(migration->Summary()).c_str());
    return true;
  }
  std::fprintf(stderr, "crtoken %s: %s\n", command, Printable(migration->Summary()).c_str());
  return false;
}

}  // namespace

int PlanCommand(const Options& options) {
  if (!InitLogging("plan", options)) return 1;
  int spec_errors = 0;
  DesiredState desired = LoadDesired(options, &spec_errors);
  auto runtime = MakeRuntime(OneShot(options), /*dry_run=*/true);
  if (!runtime.ok()) {
    std::fprintf(stderr, "crtoken plan: %s\n", Printable(runtime.error().message).c_str());
    return 1;
  }
  const std::optional<MigrationReport>& migration = runtime.value()->migration;
  if (!PrintMigration("plan", migration)) return 1;
  PassResult result = runtime.value()->reconciler->Reconcile(desired);
  for (const auto& action : result.plan.actions) {
    std::printf("%s\n", action.Describe().c_str());
  }
  const Tally t = Count(result.plan);
  std::printf(
      "Plan: %d to create, %d to reissue, %d to update, %d to delete; %d in sync, %d "
      "unmanaged.\n",
      t.create, t.reissue, t.update, t.remove, result.plan.counts.in_sync,
      result.plan.counts.unmanaged);
  PrintErrors("plan", result.errors);
  if (spec_errors > 0 || !result.errors.empty()) {
    std::fprintf(stderr, "crtoken plan: %d spec errors, %zu other errors\n", spec_errors,
                 result.errors.size());
    return 1;
  }
  // A pending migration is a change too, even when the pass would have nothing left to do.
  return result.plan.empty() && !migration ? 0 : 2;
}

int ApplyCommand(const Options& options) {
  if (!InitLogging("apply", options)) return 1;
  // One writer per secret directory, before anything is read.
  auto lock = LockSecretDir(options);
  if (!lock.ok()) {
    std::fprintf(stderr, "crtoken apply: %s\n", Printable(lock.error().message).c_str());
    return 1;
  }
  int spec_errors = 0;
  DesiredState desired = LoadDesired(options, &spec_errors);
  // On a terminal, a line on stderr shows how far the actions are and what they wait for; off a
  // terminal (CI logs, pipes) nothing extra is printed.
  SystemClock clock;
  std::unique_ptr<ProgressLine> progress;
  RuntimeHooks hooks;
  if (isatty(STDERR_FILENO) == 1) {
    progress =
        std::make_unique<ProgressLine>("apply", options.api_qps, clock, [](std::string_view bytes) {
          std::fwrite(bytes.data(), 1, bytes.size(), stderr);
          std::fflush(stderr);
        });
    hooks.on_progress = [line = progress.get()](const PassProgress& p) { line->OnProgress(p); };
    hooks.on_api_wait = [line = progress.get()](const ApiWait& w) { line->OnWait(w); };
    KeepLogsClearOf(progress.get());
  }
  auto runtime = MakeRuntime(OneShot(options), /*dry_run=*/false, hooks);
  if (!runtime.ok()) {
    if (progress) RestoreLogging();
    std::fprintf(stderr, "crtoken apply: %s\n", Printable(runtime.error().message).c_str());
    return 1;
  }
  if (!PrintMigration("apply", runtime.value()->migration)) return 1;
  Reconciler& reconciler = *runtime.value()->reconciler;
  // One pass converges unless something transient got in the way (the API client has already
  // retried each request); then a couple more passes, a moment apart, before giving up.
  constexpr int kMaxPasses = 3;
  PassResult result;
  Tally done;
  const auto start = std::chrono::steady_clock::now();
  int passes = 0;
  for (int pass = 1; pass <= kMaxPasses; ++pass) {
    passes = pass;
    result = reconciler.Reconcile(desired);
    // A later pass retries what is still left of the first pass's plan: marked, not counted again.
    for (const auto& action : result.plan.actions) {
      std::printf("%s%s\n", pass == 1 ? "" : "retry: ", action.Describe().c_str());
    }
    if (pass == 1) done = Count(result.plan);
    if (result.converged || !result.requeue_after || pass == kMaxPasses) break;
    const auto wait =
        std::min<std::chrono::milliseconds>(*result.requeue_after, std::chrono::seconds(2));
    spdlog::info("apply: pass {} did not converge ({} errors); trying again in {} ms", pass,
                 result.errors.size(), wait.count());
    std::this_thread::sleep_for(wait);
  }
  if (progress) {
    progress->Finish();
    RestoreLogging();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "Apply: %d create, %d reissue, %d update, %d delete actions; %d in sync, %d unmanaged; "
      "%s in %.2f s (%d pass%s).\n",
      done.create, done.reissue, done.update, done.remove, result.plan.counts.in_sync,
      result.plan.counts.unmanaged, result.converged ? "converged" : "NOT converged", seconds,
      passes, passes == 1 ? "" : "es");
  PrintErrors("apply", result.errors);
  if (result.secrets_waiting > 0) {
    std::fprintf(stderr,
                 "crtoken apply: %d passwords could not be delivered (registry not running yet, "
                 "or the sink failed); their tokens will be re-issued by the next apply\n",
                 result.secrets_waiting);
  }
  if (spec_errors > 0) {
    std::fprintf(stderr,
                 "crtoken apply: %d spec errors; the tokens of failing files were left as "
                 "they are%s\n",
                 spec_errors,
                 desired.prune.unread.empty()
                     ? ""
                     : ", and nothing was deleted: part of the specs cannot be read");
  }
  return result.converged && spec_errors == 0 ? 0 : 1;
}

}  // namespace crtoken
