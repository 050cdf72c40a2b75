// crtoken validate PATH...: offline check of spec files. Every problem goes to stderr as
// "FILE:LINE:COL: message", one per line, followed by a count; exit 1 if there is any. On success
// a one-line summary goes to stdout and the exit code is 0. Without PATH it checks what the other
// commands would read (--specs, $CRTOKEN_SPECS, else ./manifests).
#include <cstdio>
#include <string>

#include "daemon/app/commands.h"
#include "daemon/specs/spec_loader.h"

namespace crtoken {
namespace {

std::string Plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

int ValidateCommand(const Options& options) {
  // Positional paths win; else what the other commands read: --specs, $CRTOKEN_SPECS, ./manifests.
  const std::vector<std::string>& paths = options.args.empty() ? options.specs : options.args;
  const SpecSet set = LoadSpecs(paths);
  std::size_t tokens = 0;
  std::size_t skipped = 0;
  for (const FileSpecs& file : set.files) {
    tokens += file.specs.size();
    skipped += static_cast<std::size_t>(file.skipped_documents);
  }
  if (!set.ok()) {
    for (const SpecError& error : set.errors)
      std::fprintf(stderr, "%s\n", error.ToString().c_str());
    std::fprintf(stderr, "crtoken validate: %s in %zu of %s\n",
                 Plural(set.errors.size(), "error", "errors").c_str(), set.failed_files.size(),
                 Plural(set.files.size(), "file", "files").c_str());
    return 1;
  }
  std::string summary = Plural(tokens, "token", "tokens") + " in " +
                        Plural(set.files.size(), "file", "files") + ": valid";
  if (skipped > 0) {
    summary += " (" + Plural(skipped, "other document", "other documents") + " skipped)";
  }
  std::printf("%s\n", summary.c_str());
  return 0;
}

}  // namespace crtoken
