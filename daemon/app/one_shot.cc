#include "daemon/app/one_shot.h"

#include <cstdio>

#include "daemon/app/logging.h"
#include "daemon/common/json_text.h"
#include "daemon/specs/spec_loader.h"

namespace crtoken {

std::string Printable(const std::string& text) { return PrintableText(text, 4096); }

Options OneShot(Options options) {
  options.one_shot = true;
  return options;
}

bool InitLogging(const char* command, const Options& options) {
  if (Status s = SetupLogging(options.log_format, options.log_level); !s.ok()) {
    std::fprintf(stderr, "crtoken %s: %s\n", command, Printable(s.error().message).c_str());
    return false;
  }
  return true;
}

DesiredState LoadDesired(const Options& options, int* spec_errors) {
  SpecSet set = LoadSpecs(options.specs);
  for (const auto& error : set.errors) {
    std::fprintf(stderr, "%s\n", Printable(error.ToString()).c_str());
  }
  *spec_errors = static_cast<int>(set.errors.size());
  DesiredState desired;
  desired.specs = std::move(set.specs);
  desired.failed_files = std::move(set.failed_files);
  desired.prune.unread = std::move(set.unread);
  return desired;
}

void PrintErrors(const char* command, const std::vector<std::string>& errors) {
  for (const auto& e : errors) {
    std::fprintf(stderr, "crtoken %s: error: %s\n", command, Printable(e).c_str());
  }
}

}  // namespace crtoken
