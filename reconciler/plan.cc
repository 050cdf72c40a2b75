#include "reconciler/plan.h"

namespace crtoken {

const char* PruneModeName(PruneMode mode) {
  switch (mode) {
    case PruneMode::kOwned:
      return "owned";
    case PruneMode::kNone:
      return "none";
    case PruneMode::kAll:
      return "all";
  }
  return "owned";
}

std::optional<PruneMode> ParsePruneMode(const std::string& text) {
  if (text == "owned") return PruneMode::kOwned;
  if (text == "none") return PruneMode::kNone;
  if (text == "all") return PruneMode::kAll;
  return std::nullopt;
}

const char* ActionTypeName(ActionType type) {
  switch (type) {
    case ActionType::kCreate:
      return "create";
    case ActionType::kReissue:
      return "reissue";
    case ActionType::kUpdate:
      return "update";
    case ActionType::kDelete:
      return "delete";
  }
  return "create";
}

}  // namespace crtoken
