// The subcommands of `crtoken`. Each returns the process exit code; main.cc only dispatches.
#pragma once

#include "daemon/app/options.h"

namespace crtoken {

// crtoken validate PATH...: 0 when every spec is valid, 1 otherwise (FILE:LINE:COL: message).
int ValidateCommand(const Options& options);
// crtoken plan: 0 nothing to do, 2 changes pending, 1 error. Writes nothing.
int PlanCommand(const Options& options);
// crtoken apply: one pass to convergence; 0 converged, 1 otherwise.
int ApplyCommand(const Options& options);
// crtoken status: one read-only pass, one line per declared token (-o json: a document); 0 when
// every token is in sync, 1 otherwise.
int StatusCommand(const Options& options);
// crtoken run: the daemon; 0 after a clean shutdown.
int RunCommand(const Options& options);

}  // namespace crtoken
