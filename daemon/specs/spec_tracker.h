// The daemon's view of the spec files across reloads. A file that breaks keeps its last good
// specs in force (a file with an error changes nothing) and is listed in
// DesiredState::failed_files, so that the planner never deletes what it declared; its errors are
// reported until it is fixed. A file that is deleted is forgotten: its tokens are no longer
// declared. Paths that cannot be read (a missing root, an unreadable directory, a FIFO) and empty
// roots are listed in DesiredState::prune.unread: nothing is pruned while they last.
//
// Thread-compatible: the caller serialises Load().
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "daemon/specs/spec_loader.h"
#include "reconciler/plan.h"

namespace crtoken {

struct SpecSnapshot {
  DesiredState desired;
  std::vector<SpecError> errors;      // every error in force (per file and across files)
  std::set<std::string> stale_files;  // broken files whose last good specs stay in force
  int files = 0;                      // spec files read
};

class SpecTracker {
 public:
  explicit SpecTracker(std::vector<std::string> paths) : paths_(std::move(paths)) {}
  SpecSnapshot Load();

 private:
  std::vector<std::string> paths_;
  std::map<std::string, FileSpecs> last_good_;
};

// The registry a spec belongs to, as written: spec.registry, else spec.registryId.
std::string RegistryRefOf(const TokenSpec& spec);

// The registry refs whose declared tokens differ between two desired states (added, removed or
// changed in any field, including the file that declares them). A change in the set of failed
// files affects every ref of both.
std::set<std::string> ChangedRegistryRefs(const DesiredState& before, const DesiredState& after);

// True when two desired states declare the same: no changed registry ref, the same failed files
// and the same unread paths (the prune verdict's `settling` is not compared).
bool SameDeclarations(const DesiredState& a, const DesiredState& b);

}  // namespace crtoken
