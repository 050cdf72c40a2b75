// What `crtoken status` shows, wherever it comes from: a read-only pass of its own, or the running
// daemon's last passes (GET /status on the health port). One row per declared token, the counts,
// and (from the daemon) the errors of its last passes. Never a secret: the rows carry names,
// states, times, where the secret is and why a token is not in sync.
//
// The JSON document (`crtoken status -o json`, and the daemon's GET /status):
//   {"tokens":[{"registry","registryId","token","state","expiry","renewal","secret","source",
//               "lastError","pending"}...],
//    "inSync":N,"pending":N,"error":N,"deletes":N}
// expiry, renewal: RFC 3339 or null; lastError: the error (state "error") else null; pending: what
// is awaited (state "pending") else null. The daemon's document adds "ready" (every registry has
// had a pass) and "errors" (its last passes' errors, one line each).
#pragma once

#include <string>
#include <vector>

#include "reconciler/error.h"
#include "reconciler/token_state.h"

namespace crtoken {

struct StatusRow {
  std::string registry, registry_id, token, state;  // state: TokenStateName
  std::string expiry, renewal;                      // RFC 3339; "" = none
  std::string secret, source;
  std::string detail;  // the last error or what is pending; "" when in sync
};

struct StatusView {
  std::vector<StatusRow> rows;  // by registry, then token
  int deletes = 0;              // undeclared tokens still to delete
  bool from_daemon = false;     // the daemon's view: `ready` and `errors` below apply
  bool ready = true;
  std::vector<std::string> errors;

  int Count(const std::string& state) const;
  // Exit 0 of `crtoken status`: every token in sync, nothing to delete, no error, and (from the
  // daemon) every registry has had a pass.
  bool AllInSync() const;
};

// The rows of `tokens`, sorted by registry, then token.
std::vector<StatusRow> StatusRows(const std::vector<DeclaredTokenState>& tokens);

// The document above, on one line.
std::string StatusJson(const StatusView& view);
// Reads a document written by StatusJson; kInvalid naming what is wrong with it.
Result<StatusView> ParseStatusJson(const std::string& text);

// The table and the summary line, as `crtoken status` prints them (made printable).
std::string StatusTable(const StatusView& view);

}  // namespace crtoken
