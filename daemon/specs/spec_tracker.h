// The daemon's view of the spec files across reloads. A file that breaks keeps its last good
// specs in force (a file with an error changes nothing) and is listed in
// DesiredState::failed_files, so that the planner never deletes what it declared; its errors are
// reported until it is fixed. A file that is deleted is forgotten: its tokens are no longer
// declared. Paths that cannot be read (a missing root, an unreadable directory, a FIFO) and empty
// roots are listed in DesiredState::prune.unread: nothing is pruned while they last.
//
// Each Load walks the tree once (WalkSpecTree) and reads every spec file once, through the reader
// given (ReadSpecFile by default; in `crtoken run` a SpecReadLoan's, so that the bytes the spec
// watcher has just read are parsed without a second read); a file whose bytes are those of the
// previous Load keeps what they parsed to, and only a changed file is parsed, from the bytes of
// that same read.
//
// Thread-compatible: the caller serialises Load().
#pragma once

#include <functional>
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
  int parsed = 0;                     // of those, the files parsed (new or changed bytes)
};

class SpecTracker {
 public:
  explicit SpecTracker(std::vector<std::string> paths, SpecFileReader read = ReadSpecFile)
      : paths_(std::move(paths)), read_(std::move(read)) {}
  SpecSnapshot Load();

 private:
  struct Read {
    std::string text;  // the bytes last read
    FileSpecs parsed;  // what they parse to
  };

  std::vector<std::string> paths_;
  SpecFileReader read_;
  std::map<std::string, FileSpecs> last_good_;
  std::map<std::string, Read> last_read_;
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
