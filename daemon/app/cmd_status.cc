// crtoken status: one read-only pass (as `crtoken plan`), then one line per declared token (by
// registry, then name) with its registry, name, state, expiry, next renewal, secret and why it is
// not in sync; or, with `-o json`, one JSON document. Writes nothing. Exit 0 when every token is in
// sync and nothing is to be deleted, 1 otherwise (also on a spec error or a failure of the pass).
//
// Output: the table or the document on stdout; spec errors, pass errors and logs on stderr.
#include <algorithm>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "daemon/app/commands.h"
#include "daemon/app/one_shot.h"
#include "daemon/app/runtime.h"
#include "daemon/common/json_text.h"
#include "reconciler/time_util.h"

namespace crtoken {
namespace {

std::string InstantText(const std::optional<Instant>& t) {
  return t ? FormatRfc3339(*t) : std::string("-");
}

// The last error (error) or the work awaited (pending); "-" when in sync.
std::string DetailText(const DeclaredTokenState& t) {
  return t.detail.empty() ? std::string("-") : Printable(t.detail);
}

void PrintTable(const std::vector<DeclaredTokenState>& tokens) {
  const std::vector<std::string> header = {"REGISTRY", "TOKEN",  "STATE", "EXPIRES",
                                           "RENEWAL",  "SECRET", "DETAIL"};
  std::vector<std::vector<std::string>> rows = {header};
  for (const auto& t : tokens) {
    rows.push_back({Printable(t.registry), Printable(t.token), TokenStateName(t.state),
                    InstantText(t.expiry), InstantText(t.renewal), Printable(t.secret.ToString()),
                    DetailText(t)});
  }
  std::vector<size_t> width(header.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i + 1 < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

void AppendField(std::string& out, const char* name, const std::string& value, bool first = false) {
  if (!first) out += ',';
  AppendJsonString(out, name);
  out += ':';
  AppendJsonString(out, value);
}

void AppendOptional(std::string& out, const char* name, bool present, const std::string& value) {
  out += ',';
  AppendJsonString(out, name);
  out += ':';
  if (present) {
    AppendJsonString(out, value);
  } else {
    out += "null";
  }
}

void PrintJson(const std::vector<DeclaredTokenState>& tokens, int in_sync, int pending, int error,
               int deletes) {
  std::string out = "{\"tokens\":[";
  for (size_t i = 0; i < tokens.size(); ++i) {
    const DeclaredTokenState& t = tokens[i];
    if (i > 0) out += ',';
    out += '{';
    AppendField(out, "registry", t.registry, /*first=*/true);
    AppendField(out, "registryId", t.registry_id);
    AppendField(out, "token", t.token);
    AppendField(out, "state", TokenStateName(t.state));
    AppendOptional(out, "expiry", t.expiry.has_value(), t.expiry ? FormatRfc3339(*t.expiry) : "");
    AppendOptional(out, "renewal", t.renewal.has_value(),
                   t.renewal ? FormatRfc3339(*t.renewal) : "");
    AppendField(out, "secret", t.secret.ToString());
    AppendField(out, "source", t.source.ToString());
    AppendOptional(out, "lastError", t.state == TokenState::kError, t.detail);
    AppendOptional(out, "pending", t.state == TokenState::kPending, t.detail);
    out += '}';
  }
  out += "],\"inSync\":" + std::to_string(in_sync) + ",\"pending\":" + std::to_string(pending) +
         ",\"error\":" + std::to_string(error) + ",\"deletes\":" + std::to_string(deletes) + "}";
  std::printf("%s\n", out.c_str());
}

}  // namespace

int StatusCommand(const Options& options) {
  if (!InitLogging("status", options)) return 1;
  int spec_errors = 0;
  DesiredState desired = LoadDesired(options, &spec_errors);
  auto runtime = MakeRuntime(OneShot(options), /*dry_run=*/true);
  if (!runtime.ok()) {
    std::fprintf(stderr, "crtoken status: %s\n", Printable(runtime.error().message).c_str());
    return 1;
  }
  PassResult result = runtime.value()->reconciler->Reconcile(desired);
  std::stable_sort(result.tokens.begin(), result.tokens.end(),
                   [](const DeclaredTokenState& a, const DeclaredTokenState& b) {
                     return std::tie(a.registry, a.token) < std::tie(b.registry, b.token);
                   });
  int counts[3] = {0, 0, 0};
  for (const auto& t : result.tokens) ++counts[static_cast<int>(t.state)];
  const int in_sync = counts[static_cast<int>(TokenState::kInSync)];
  const int pending = counts[static_cast<int>(TokenState::kPending)];
  const int error = counts[static_cast<int>(TokenState::kError)];
  // Undeclared tokens the pass would prune are not listed, but the registry is not in sync.
  const int deletes = static_cast<int>(
      std::count_if(result.plan.actions.begin(), result.plan.actions.end(),
                    [](const Action& a) { return a.type == ActionType::kDelete; }));
  if (options.output == "json") {
    PrintJson(result.tokens, in_sync, pending, error, deletes);
  } else {
    PrintTable(result.tokens);
    std::printf(
        "Status: %zu tokens: %d in sync, %d pending, %d in error; %d undeclared to delete.\n",
        result.tokens.size(), in_sync, pending, error, deletes);
  }
  PrintErrors("status", result.errors);
  if (spec_errors > 0) {
    std::fprintf(stderr,
                 "crtoken status: %d spec errors; the tokens of failing files are not listed\n",
                 spec_errors);
  }
  const bool all_in_sync = pending == 0 && error == 0 && deletes == 0;
  return all_in_sync && spec_errors == 0 && result.errors.empty() ? 0 : 1;
}

}  // namespace crtoken
