// The composition root: parse the subcommand and its options, dispatch, exit.
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/app/commands.h"
#include "daemon/app/options.h"

namespace {

constexpr char kUsage[] =
    "crtoken keeps IONOS Cloud Container Registry tokens in the state declared in YAML files.\n"
    "\n"
    "Usage: crtoken COMMAND [FLAGS]\n"
    "\n"
    "Commands:\n"
    "  run        watch the specs and reconcile continuously; serve metrics and health\n"
    "  plan       one read-only pass: print the actions (exit 0 none, 2 pending, 1 error)\n"
    "  apply      one pass to convergence, then exit (0 converged, 1 otherwise)\n"
    "  status     one read-only pass: each token's state, expiry and renewal (exit 0 all in sync)\n"
    "  validate   check spec files offline: crtoken validate PATH...\n"
    "  version    print the version\n"
    "  help       this text; `crtoken COMMAND --help` lists a command's flags\n";

// The process's memory holds the API credentials (from its first instruction: the environment) and,
// later, token passwords: a core dump or another process of the same user attaching with ptrace
// would get them. Core dumps are off from the start of main; once the options are known they stay
// off for good (hard limit 0, non-dumpable), unless --allow-core-dumps gives back what the system
// had.
class CoreDumps {
 public:
  CoreDumps() {
    have_limit_ = ::getrlimit(RLIMIT_CORE, &limit_) == 0;
    dumpable_ = ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    struct rlimit soft_off = limit_;
    soft_off.rlim_cur = 0;
    if (have_limit_) ::setrlimit(RLIMIT_CORE, &soft_off);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  }

  void Settle(bool allow) {
    if (allow) {
      if (have_limit_) ::setrlimit(RLIMIT_CORE, &limit_);
      if (dumpable_ == 0 || dumpable_ == 1) ::prctl(PR_SET_DUMPABLE, dumpable_, 0, 0, 0);
      return;
    }
    struct rlimit off = {0, 0};
    if (::setrlimit(RLIMIT_CORE, &off) != 0 || ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
      std::fprintf(stderr, "crtoken: warning: cannot disable core dumps: %s\n",
                   std::strerror(errno));
    }
  }

 private:
  struct rlimit limit_ = {};
  bool have_limit_ = false;
  int dumpable_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  CoreDumps core_dumps;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  const std::string command = args[0];
  if (command == "version" || command == "--version") {
    std::printf("crtoken %s\n", CRTOKEN_VERSION);
    return 0;
  }
  using Handler = int (*)(const crtoken::Options&);
  Handler handler = nullptr;
  if (command == "run") handler = crtoken::RunCommand;
  if (command == "plan") handler = crtoken::PlanCommand;
  if (command == "apply") handler = crtoken::ApplyCommand;
  if (command == "status") handler = crtoken::StatusCommand;
  if (command == "validate") handler = crtoken::ValidateCommand;
  if (handler == nullptr) {
    std::fprintf(stderr, "crtoken: unknown command \"%s\"\n\n%s", command.c_str(), kUsage);
    return 1;
  }
  auto options =
      crtoken::ParseOptions(command, {args.begin() + 1, args.end()}, crtoken::ProcessEnv());
  if (!options.ok()) {
    std::fprintf(stderr, "crtoken %s: %s\n", command.c_str(), options.error().message.c_str());
    return 1;
  }
  core_dumps.Settle(options.value().allow_core_dumps);
  if (options.value().help) {
    std::printf(
        "Usage: crtoken %s [FLAGS]%s\n\nFlags (each also read from the variable shown):\n%s",
        command.c_str(), command == "validate" ? " PATH..." : "",
        crtoken::OptionsHelp(command).c_str());
    return 0;
  }
  return handler(options.value());
}
