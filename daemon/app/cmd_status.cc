// crtoken status: one read-only pass (as `crtoken plan`), then one line per declared token (by
// registry, then name) with its registry, name, state, expiry, next renewal, secret and why it is
// not in sync; or, with `-o json`, one JSON document (status_view.h). With --from URL, the same
// from the running daemon's last passes (GET URL/status) instead of a pass of its own. Writes
// nothing. Exit 0 when every token is in sync and nothing is to be deleted, 1 otherwise (also on a
// spec error, a failure of the pass, an unreachable daemon or one that has not finished its first
// passes).
//
// Output: the table or the document on stdout; spec errors, pass errors and logs on stderr.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "daemon/app/commands.h"
#include "daemon/app/one_shot.h"
#include "daemon/app/runtime.h"
#include "daemon/app/status_client.h"
#include "daemon/app/status_view.h"

namespace crtoken {
namespace {

void Print(const Options& options, const StatusView& view) {
  if (options.output == "json") {
    std::printf("%s\n", StatusJson(view).c_str());
  } else {
    std::fputs(StatusTable(view).c_str(), stdout);
  }
}

int FromDaemon(const Options& options) {
  auto body = FetchDaemonStatus(options.status_from, std::chrono::seconds(10));
  if (!body.ok()) {
    std::fprintf(stderr, "crtoken status: %s\n", Printable(body.error().message).c_str());
    return 1;
  }
  auto view = ParseStatusJson(body.value());
  if (!view.ok()) {
    std::fprintf(stderr, "crtoken status: GET %s/status: %s\n",
                 Printable(options.status_from).c_str(), Printable(view.error().message).c_str());
    return 1;
  }
  Print(options, view.value());
  PrintErrors("status", view.value().errors);
  if (!view.value().ready) {
    std::fprintf(stderr,
                 "crtoken status: the daemon has not finished a pass of every registry yet\n");
  }
  return view.value().AllInSync() ? 0 : 1;
}

}  // namespace

int StatusCommand(const Options& options) {
  if (!InitLogging("status", options)) return 1;
  if (!options.status_from.empty()) return FromDaemon(options);
  int spec_errors = 0;
  DesiredState desired = LoadDesired(options, &spec_errors);
  auto runtime = MakeRuntime(OneShot(options), /*dry_run=*/true);
  if (!runtime.ok()) {
    std::fprintf(stderr, "crtoken status: %s\n", Printable(runtime.error().message).c_str());
    return 1;
  }
  PassResult result = runtime.value()->reconciler->Reconcile(desired);
  StatusView view;
  view.rows = StatusRows(result.tokens);
  // Undeclared tokens the pass would prune are not listed, but the registry is not in sync.
  view.deletes = static_cast<int>(
      std::count_if(result.plan.actions.begin(), result.plan.actions.end(),
                    [](const Action& a) { return a.type == ActionType::kDelete; }));
  Print(options, view);
  PrintErrors("status", result.errors);
  if (spec_errors > 0) {
    std::fprintf(stderr,
                 "crtoken status: %d spec errors; the tokens of failing files are not listed\n",
                 spec_errors);
  }
  return view.AllInSync() && spec_errors == 0 && result.errors.empty() ? 0 : 1;
}

}  // namespace crtoken
