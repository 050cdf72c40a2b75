// What the one-shot commands (plan, apply, status) share: logging set up for a command, the specs
// loaded with their errors printed, and text from outside made printable.
#pragma once

#include <string>
#include <vector>

#include "daemon/app/options.h"
#include "reconciler/plan.h"

namespace crtoken {

// Every error line goes to stderr through this: an error can carry a server's text, which must
// neither forge lines nor send terminal escapes, nor flood the output.
std::string Printable(const std::string& text);

// A one-shot command gives up at once on API failures that waiting does not fix (connection
// refused, unresolvable name, untrusted certificate), where the daemon retries them patiently.
Options OneShot(Options options);

// Sets up logging for `command`; false (after saying why on stderr) when the options are bad.
bool InitLogging(const char* command, const Options& options);

// Loads the specs; prints every spec error. The specs of failed files are left out and their
// tokens protected (DesiredState.failed_files); while any spec path cannot be read, nothing at all
// is deleted (DesiredState.prune), but creates and updates of the files that were read go ahead.
DesiredState LoadDesired(const Options& options, int* spec_errors);

// Prints each error of a pass to stderr as "crtoken COMMAND: error: ...".
void PrintErrors(const char* command, const std::vector<std::string>& errors);

}  // namespace crtoken
