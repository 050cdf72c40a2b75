#include <cstdio>

#include "daemon/commands.h"

namespace crtoken {

int ValidateCommand(const Options& options) {
  std::fprintf(stderr, "crtoken validate: not implemented yet (issue 2)\n");
  return 1;
}

}  // namespace crtoken
