// What reading spec files yields: errors with their place, and each file's valid specs. Shared by
// the YAML reader (spec_yaml), the validator (spec_validator), the file walker (spec_files) and the
// loader (spec_loader).
#pragma once

#include <string>
#include <vector>

#include "reconciler/types.h"

namespace crtoken {

struct SpecError {
  SourceLocation where;  // line 0: the problem concerns the whole file or path
  std::string message;
  // "FILE:LINE:COL: message" (or "FILE: message"). FILE is made printable: a name that is not
  // UTF-8 or holds control characters is escaped, so that the line is fit for a terminal or log.
  std::string ToString() const;
};

// The outcome of reading one file. A file with any error counts as failed as a whole: none of its
// specs may be acted on (MergeFiles leaves them out), and the daemon keeps the file's last good
// FileSpecs instead.
struct FileSpecs {
  std::string file;
  std::vector<TokenSpec> specs;   // the valid RegistryToken documents, in document order
  std::vector<SpecError> errors;  // sorted by line and column
  int skipped_documents = 0;      // documents of other API groups (and empty documents)
  // The path could not be read at all (missing, a broken symlink, an unreadable directory, a FIFO
  // or socket named like a spec file, a read error): what it declares is unknown, so nothing may
  // be pruned while it lasts. Not set for files that were read and are invalid.
  bool unreadable = false;
  bool ok() const { return errors.empty(); }
};

// `text` quoted for a message: control characters escaped, long values shortened.
std::string QuoteForMessage(const std::string& text);

}  // namespace crtoken
