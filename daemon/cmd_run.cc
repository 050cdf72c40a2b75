#include <cstdio>

#include "daemon/commands.h"

namespace crtoken {

int RunCommand(const Options& options) {
  std::fprintf(stderr, "crtoken run: not implemented yet (issue 6)\n");
  return 1;
}

}  // namespace crtoken
