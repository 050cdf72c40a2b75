// Reading RegistryToken spec files (manifests/README.md): the include most callers use. It puts
// together the units the loader is made of, each with its own contract:
//   spec_files.h      which files the --specs paths hold, reading their bytes within limits;
//   spec_yaml.h       the YAML layer (yaml-cpp, located nodes, nesting and alias limits);
//   spec_validator.h  the RegistryToken vocabulary and rules (ParseSpecText);
// and adds here the cross-file checks (MergeFiles) and the whole run (LoadSpecs). Everything is
// strict and total: every problem of a run becomes a SpecError "FILE:LINE:COL: message" pointing
// at the offending node (lines and columns 1-based, columns counted in bytes), all of them are
// reported, and no yaml-cpp or filesystem exception ever leaves these functions.
//
// Thread-safety: the functions are pure apart from reading files; they share no state and may be
// called from several threads at once.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "daemon/specs/spec_files.h"
#include "daemon/specs/spec_result.h"
#include "daemon/specs/spec_validator.h"
#include "daemon/specs/spec_yaml.h"
#include "reconciler/types.h"

namespace crtoken {

// All files of a run, checked against each other.
struct SpecSet {
  // Each file's own result, in reading order, without the cross-file errors below: replace one
  // entry and call MergeFiles again to re-check after a single file changed.
  std::vector<FileSpecs> files;
  std::vector<TokenSpec> specs;        // the specs of every file without errors, in file order
  std::vector<SpecError> errors;       // per-file and cross-file errors, by file, line, column
  std::set<std::string> failed_files;  // files (or missing paths) with at least one error
  // Why nothing may be pruned on the strength of this set (UnreadPaths): empty when every path
  // was read. Filled in by LoadSpecs, not by MergeFiles.
  std::vector<std::string> unread;
  bool ok() const { return errors.empty(); }
};

// Reads and parses one file (any extension). An unreadable, irregular or oversized file is an
// error at FILE (the first two marked `unreadable`). Text nested deeper than kMaxYamlDepth is an
// error at the place it gets too deep, found before the YAML parser runs.
FileSpecs LoadSpecFile(const std::string& path);

// FindSpecFiles + LoadSpecFile + MergeFiles, and `unread` from UnreadPaths.
SpecSet LoadSpecs(const std::vector<std::string>& paths);

// The cross-file checks over files already parsed: a (registry or registryId, name) pair declared
// twice, two tokens writing the same secret, or a secret file whose path is a directory of another
// token's secret file ("a" and "a/b.json"), is an error at both documents, and both files fail.
// registry and registryId are not compared with each other (that needs the API).
SpecSet MergeFiles(std::vector<FileSpecs> files);

}  // namespace crtoken
