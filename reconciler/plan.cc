#include "reconciler/plan.h"

namespace crtoken {

const char* PruneModeName(PruneMode mode) {
  switch (mode) {
    case PruneMode::kOwned: return "owned";
    case PruneMode::kNone: return "none";
    case PruneMode::kAll: return "all";
  }
  return "owned";
}

std::optional<PruneMode> ParsePruneMode(const std::string& text) {
  if (text == "owned") return PruneMode::kOwned;
  if (text == "none") return PruneMode::kNone;
  if (text == "all") return PruneMode::kAll;
  return std::nullopt;
}

}  // namespace crtoken
