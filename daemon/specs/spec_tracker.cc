#include "daemon/specs/spec_tracker.h"

#include <algorithm>
#include <sstream>

#include "reconciler/time_util.h"

namespace crtoken {

SpecSnapshot SpecTracker::Load() {
  SpecSnapshot snap;
  SpecTree tree = WalkSpecTree(paths_);
  const std::vector<std::string>& found = tree.files;
  std::vector<FileSpecs>& problems = tree.problems;
  const std::vector<std::string>& empty_roots = tree.empty_roots;
  std::vector<FileSpecs> chosen;
  std::vector<FileSpecs> unreadable;  // paths whose content is unknown: they hold back pruning
  std::set<std::string> broken;
  std::map<std::string, FileSpecs> next_good;
  std::map<std::string, Read> next_read;
  for (const std::string& file : found) {
    SpecFileText read = read_(file);
    FileSpecs fs;
    if (read.problem) {
      fs = std::move(*read.problem);
    } else if (auto it = last_read_.find(file);
               it != last_read_.end() && it->second.text == read.text) {
      fs = it->second.parsed;  // the same bytes as last time: the same result
      next_read[file] = std::move(it->second);
    } else {
      fs = ParseSpecText(read.text, file);
      ++snap.parsed;
      next_read[file] = Read{std::move(read.text), fs};
    }
    if (fs.ok()) {
      next_good[file] = fs;
      chosen.push_back(std::move(fs));
      continue;
    }
    broken.insert(file);
    snap.errors.insert(snap.errors.end(), fs.errors.begin(), fs.errors.end());
    if (fs.unreadable) unreadable.push_back(fs);
    if (auto it = last_good_.find(file); it != last_good_.end()) {
      // Keep the last good version in force until the file is fixed.
      snap.stale_files.insert(file);
      next_good[file] = it->second;
      chosen.push_back(it->second);
    }
  }
  // Missing or unreadable paths: errors, and their files (if any) count as failed.
  for (FileSpecs& p : problems) {
    snap.errors.insert(snap.errors.end(), p.errors.begin(), p.errors.end());
    broken.insert(p.file);
    unreadable.push_back(std::move(p));
  }
  last_good_ = std::move(next_good);
  last_read_ = std::move(next_read);
  snap.files = static_cast<int>(found.size());
  SpecSet merged = MergeFiles(std::move(chosen));
  // Cross-file errors (duplicates) are new information; per-file errors were taken above.
  std::set<std::string> seen;
  for (const SpecError& e : snap.errors) seen.insert(e.ToString());
  for (const SpecError& e : merged.errors) {
    if (seen.insert(e.ToString()).second) snap.errors.push_back(e);
  }
  snap.desired.specs = std::move(merged.specs);
  snap.desired.failed_files = std::move(merged.failed_files);
  snap.desired.failed_files.insert(broken.begin(), broken.end());
  snap.desired.prune.unread = UnreadPaths(unreadable, empty_roots);
  return snap;
}

std::string RegistryRefOf(const TokenSpec& spec) {
  return spec.registry.empty() ? spec.registry_id : spec.registry;
}

namespace {

std::string Canonical(const TokenSpec& s) {
  std::ostringstream out;
  out << s.name << '\n'
      << TokenStatusName(s.status) << '\n'
      << (s.expiry ? FormatRfc3339(*s.expiry) : "-") << '\n'
      << (s.lifetime ? s.lifetime->count() : -1) << '\t' << s.renew_before.count() << '\t'
      << (s.overlap ? s.overlap->count() : -1) << '\n';
  for (const Scope& sc : NormalizeScopes(s.scopes)) {
    out << sc.name << '\t' << sc.type;
    for (const auto& a : sc.actions) out << '\t' << a;
    out << '\n';
  }
  out << s.secret.ToString() << '\n' << s.adopt << '\n' << s.source.file << '\n';
  return out.str();
}

std::map<std::string, std::vector<std::string>> ByRef(const DesiredState& d) {
  std::map<std::string, std::vector<std::string>> out;
  for (const TokenSpec& s : d.specs) out[RegistryRefOf(s)].push_back(Canonical(s));
  for (auto& [ref, v] : out) std::sort(v.begin(), v.end());
  return out;
}

}  // namespace

std::set<std::string> ChangedRegistryRefs(const DesiredState& before, const DesiredState& after) {
  const auto a = ByRef(before);
  const auto b = ByRef(after);
  std::set<std::string> changed;
  const bool all = before.failed_files != after.failed_files;
  for (const auto& [ref, v] : a) {
    auto it = b.find(ref);
    if (all || it == b.end() || it->second != v) changed.insert(ref);
  }
  for (const auto& [ref, v] : b) {
    if (all || a.count(ref) == 0) changed.insert(ref);
  }
  return changed;
}

bool SameDeclarations(const DesiredState& a, const DesiredState& b) {
  return a.failed_files == b.failed_files && a.prune.unread == b.prune.unread &&
         ChangedRegistryRefs(a, b).empty();
}

}  // namespace crtoken
