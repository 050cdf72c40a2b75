// Reading RegistryToken spec files (format in manifests/README.md): the only place that
// uses yaml-cpp for specs. Everything here is strict and total: every problem of a run becomes a
// SpecError "FILE:LINE:COL: message" pointing at the offending node (lines and columns 1-based,
// columns counted in bytes), all of them are reported, and no yaml-cpp or filesystem exception ever
// leaves these functions.
//
// Thread-safety: the functions are pure apart from reading files; they share no state and may be
// called from several threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "reconciler/types.h"

namespace crtoken {

// The vocabulary of the spec language. manifests/crtoken-spec.schema.json repeats these; a test
// keeps the two in step.
inline constexpr char kSpecApiGroup[] = "crtoken.io";
inline constexpr char kSpecApiVersion[] = "crtoken.io/v1alpha1";
inline constexpr char kSpecKind[] = "RegistryToken";
// The API's token name pattern (2 to 63 characters).
inline constexpr char kTokenNamePattern[] = "^[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]$";
// The API's registry name pattern (3 to 63 characters, lower case).
inline constexpr char kRegistryNamePattern[] = "^[a-z][-a-z0-9]{1,61}[a-z0-9]$";
inline constexpr char kUuidPattern[] = "^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$";
// Kubernetes names: a namespace is a DNS-1123 label (at most 63 characters), a Secret name a
// DNS-1123 subdomain (at most 253 characters).
inline constexpr char kDns1123LabelPattern[] = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
inline constexpr char kDns1123SubdomainPattern[] =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
inline constexpr std::array<const char*, 2> kSpecStatusValues = {"enabled", "disabled"};
inline constexpr std::array<const char*, 2> kSpecScopeTypes = {"repository", "registry"};
inline constexpr std::array<const char*, 3> kSpecScopeActions = {"pull", "push", "delete"};
// The fields allowed at each level (anything else is an error).
inline constexpr std::array<const char*, 4> kSpecDocumentFields = {"apiVersion", "kind", "metadata",
                                                                   "spec"};
inline constexpr std::array<const char*, 1> kSpecMetadataFields = {"name"};
inline constexpr std::array<const char*, 9> kSpecSpecFields = {
    "registry",    "registryId", "status", "expiryDate", "lifetime",
    "renewBefore", "scopes",     "secret", "adopt"};
inline constexpr std::array<const char*, 3> kSpecScopeFields = {"name", "type", "actions"};
inline constexpr std::array<const char*, 2> kSpecSecretFields = {"file", "kubernetes"};
inline constexpr std::array<const char*, 2> kSpecKubernetesFields = {"namespace", "name"};
// Larger files are refused unread (a spec file is a few hundred bytes per token).
inline constexpr std::size_t kMaxSpecFileBytes = 8 << 20;
// Deeper YAML is refused before it is parsed (a RegistryToken document nests 5 levels deep): the
// parser's memory grows with the depth of unclosed collections, ~250 bytes per level.
inline constexpr std::size_t kMaxYamlDepth = 64;

struct SpecError {
  SourceLocation where;  // line 0: the problem concerns the whole file or path
  std::string message;
  std::string ToString() const;  // "FILE:LINE:COL: message" (or "FILE: message")
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

// Parses the text of one spec file named `file` (used only in messages and for kustomize's own
// file names). Pure: for tests and fuzzing. Rules:
//  - the text must be UTF-8 without NUL bytes (a leading byte-order mark is allowed);
//  - documents of other API groups (apiVersion not crtoken.io or *.crtoken.io) and empty
//    documents are skipped; a document without apiVersion is an error, except in kustomize's
//    own files (kustomization.yaml, kustomization.yml, Kustomization), where it is skipped;
//  - an unknown version or kind under crtoken.io is an error; RegistryToken documents are
//    validated strictly (unknown and duplicate fields, types, enums, names, paths, dates).
FileSpecs ParseSpecText(const std::string& text, const std::string& file);

// Reads and parses one file (any extension). An unreadable, irregular or oversized file is an
// error at FILE (the first two marked `unreadable`). Text nested deeper than kMaxYamlDepth is an
// error at the place it gets too deep, found before the YAML parser runs.
FileSpecs LoadSpecFile(const std::string& path);

// The spec files under `paths`, in reading order: a file path is taken as given (any extension);
// a directory is walked recursively in byte order of names, taking `*.yaml` and `*.yml` files,
// following symlinks (each file and directory is visited once), and skipping entries whose names
// start with "." (hidden files, editor lock files, `.git`, and the kubelet's `..data` and
// `..<timestamp>` directories: the ConfigMap's visible symlinks into them are read instead).
// Every path of the tree that cannot be read becomes a FileSpecs marked `unreadable` with an error
// in `problems`: a path given that does not exist (or is a broken symlink, a symlink loop, a
// FIFO), a directory that cannot be listed, an entry of any name that is a broken symlink or
// cannot be examined, and a `*.yaml`/`*.yml` entry that is not a regular file. `empty_roots`
// (when given) receives each directory of `paths` that holds no spec file at all.
std::vector<std::string> FindSpecFiles(const std::vector<std::string>& paths,
                                       std::vector<FileSpecs>* problems,
                                       std::vector<std::string>* empty_roots = nullptr);

// Why nothing may be pruned, one line per reason: "PATH: why" for every `unreadable` entry of
// `files`, and "ROOT: holds no spec file (*.yaml, *.yml)" for each empty root. An empty root
// directory looks exactly like a volume that failed to mount or a checkout that is not there
// yet; a root that should declare nothing holds a spec file that declares nothing.
std::vector<std::string> UnreadPaths(const std::vector<FileSpecs>& files,
                                     const std::vector<std::string>& empty_roots);

// FindSpecFiles + LoadSpecFile + MergeFiles, and `unread` from UnreadPaths.
SpecSet LoadSpecs(const std::vector<std::string>& paths);

// The cross-file checks over files already parsed: a (registry or registryId, name) pair declared
// twice, two tokens writing the same secret, or a secret file whose path is a directory of another
// token's secret file ("a" and "a/b.json"), is an error at both documents, and both files fail.
// registry and registryId are not compared with each other (that needs the API).
SpecSet MergeFiles(std::vector<FileSpecs> files);

}  // namespace crtoken
