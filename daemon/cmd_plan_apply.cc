#include <cstdio>

#include "daemon/commands.h"

namespace crtoken {

int PlanCommand(const Options& options) {
  std::fprintf(stderr, "crtoken plan: not implemented yet (issue 5)\n");
  return 1;
}

int ApplyCommand(const Options& options) {
  std::fprintf(stderr, "crtoken apply: not implemented yet (issue 5)\n");
  return 1;
}

}  // namespace crtoken
