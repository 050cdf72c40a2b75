#include "daemon/specs/spec_files.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>

namespace crtoken {
namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// --- Files and directories ----------------------------------------------------------------------

FileSpecs PathProblem(const std::string& path, const std::string& message) {
  FileSpecs out;
  out.file = path;
  out.errors.push_back(SpecError{SourceLocation{path, 0, 0}, message});
  return out;
}

// A path that could not be read at all: what it declares is unknown.
FileSpecs Unreadable(const std::string& path, const std::string& message) {
  FileSpecs out = PathProblem(path, message);
  out.unreadable = true;
  return out;
}

std::string Canonical(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  return ec ? p.lexically_normal().string() : c.string();
}

// What a file that is neither a regular file nor a directory is, for messages.
std::string KindOf(const fs::file_status& st) {
  switch (st.type()) {
    case fs::file_type::fifo:
      return "a FIFO";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::character:
      return "a character device";
    default:
      return "an unknown kind of file";
  }
}

// Walks `dir`; returns how many spec files and unreadable paths it met (files already seen
// included), so that the caller can tell an empty root.
std::size_t Walk(const fs::path& dir, std::set<std::string>* seen, SpecTree* tree) {
  if (!seen->insert("dir:" + Canonical(dir)).second) return 0;  // a symlink loop, or seen already
  std::vector<std::string>* files = &tree->files;
  std::vector<FileSpecs>* problems = &tree->problems;
  tree->dirs.push_back(dir.string());
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) {
    problems->push_back(Unreadable(dir.string(), "cannot read directory: " + ec.message()));
    return 1;
  }
  std::sort(names.begin(), names.end());
  std::size_t met = 0;
  for (const std::string& name : names) {
    if (name.empty() || name[0] == '.') continue;  // hidden, `..data`, `.git`, editor lock files
    const fs::path child = dir / name;
    std::error_code sec;
    const fs::file_status st = fs::status(child, sec);
    if (sec || !fs::exists(st)) {
      // Whatever its name, a dangling symlink or an entry that cannot be examined may be (or lead
      // to) a directory of specs: it is an error, and nothing is pruned while it lasts. An entry
      // that vanished since the listing (an editor's temp file) is simply gone.
      std::error_code lec;
      const bool link = fs::is_symlink(fs::symlink_status(child, lec));
      const bool vanished = !link && (!sec || sec == std::errc::no_such_file_or_directory);
      if (vanished) continue;
      ++met;
      problems->push_back(Unreadable(
          child.string(), "cannot read: " + (!sec || sec == std::errc::no_such_file_or_directory
                                                 ? std::string("broken symlink")
                                                 : sec.message())));
      continue;
    }
    if (fs::is_directory(st)) {
      met += Walk(child, seen, tree);
    } else if (IsSpecFileName(name)) {
      ++met;
      if (!fs::is_regular_file(st)) {
        // A spec file replaced by a FIFO or a socket: its tokens must not look undeclared.
        problems->push_back(
            Unreadable(child.string(), "cannot read: not a regular file (" + KindOf(st) + ")"));
      } else if (seen->insert("file:" + Canonical(child)).second) {
        files->push_back(child.string());
      }
    }
  }
  return met;
}

SpecFileText Failed(FileSpecs problem) {
  SpecFileText out;
  out.problem = std::move(problem);
  return out;
}

}  // namespace

bool IsSpecFileName(const std::string& name) {
  return EndsWith(name, ".yaml") || EndsWith(name, ".yml");
}

SpecFileText ReadSpecFile(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return Failed(
        Unreadable(path, "cannot read: " + (ec ? ec.message() : std::string("no such file"))));
  }
  if (!fs::is_regular_file(st)) return Failed(Unreadable(path, "not a regular file"));
  const auto size = fs::file_size(path, ec);
  if (ec) return Failed(Unreadable(path, "cannot read: " + ec.message()));
  if (size > kMaxSpecFileBytes) {
    return Failed(PathProblem(path, "file too large (" + std::to_string(size) + " bytes; at most " +
                                        std::to_string(kMaxSpecFileBytes) + ")"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Failed(Unreadable(path, std::string("cannot read: ") + std::strerror(errno)));
  SpecFileText out;
  out.text.reserve(size);
  out.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad())
    return Failed(Unreadable(path, std::string("cannot read: ") + std::strerror(errno)));
  if (out.text.size() > kMaxSpecFileBytes) return Failed(PathProblem(path, "file too large"));
  return out;
}

namespace {

// The key a path is lent under: absolute and lexically normal ("" when that fails).
std::string LoanKey(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) return "";
  return p.lexically_normal().string();
}

}  // namespace

SpecFileText SpecReadLoan::Read(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lent_.empty()) {
      auto it = lent_.find(LoanKey(path));
      if (it != lent_.end()) {
        SpecFileText out = std::move(it->second);
        lent_.erase(it);
        return out;
      }
    }
  }
  return read_(path);
}

void SpecReadLoan::Lend(std::map<std::string, SpecFileText> reads) {
  std::map<std::string, SpecFileText> keyed;
  for (auto& [path, text] : reads) {
    const std::string key = LoanKey(path);
    if (!key.empty()) keyed[key] = std::move(text);
  }
  std::lock_guard<std::mutex> lock(mu_);
  lent_ = std::move(keyed);
}

void SpecReadLoan::EndLoan() {
  std::map<std::string, SpecFileText> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  lent_.swap(dropped);
}

SpecTree WalkSpecTree(const std::vector<std::string>& paths) {
  SpecTree tree;
  std::vector<std::string>& files = tree.files;
  std::vector<FileSpecs>* problems = &tree.problems;
  std::set<std::string> seen;
  for (const std::string& path : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      std::error_code lec;
      const bool missing = !ec || ec == std::errc::no_such_file_or_directory;
      const bool dangling = missing && fs::is_symlink(fs::symlink_status(path, lec));
      problems->push_back(Unreadable(path, dangling  ? "broken symlink"
                                           : missing ? "no such file or directory"
                                                     : "cannot read: " + ec.message()));
      continue;
    }
    if (fs::is_directory(st)) {
      const bool again = seen.count("dir:" + Canonical(path)) > 0;
      if (Walk(fs::path(path), &seen, &tree) == 0 && !again) {
        tree.empty_roots.push_back(path);
      }
    } else if (fs::is_regular_file(st)) {
      if (seen.insert("file:" + Canonical(path)).second) files.push_back(path);
    } else {
      problems->push_back(Unreadable(path, "not a regular file or directory (" + KindOf(st) + ")"));
    }
  }
  return tree;
}

std::vector<std::string> FindSpecFiles(const std::vector<std::string>& paths,
                                       std::vector<FileSpecs>* problems,
                                       std::vector<std::string>* empty_roots) {
  SpecTree tree = WalkSpecTree(paths);
  for (FileSpecs& p : tree.problems) problems->push_back(std::move(p));
  if (empty_roots != nullptr) {
    empty_roots->insert(empty_roots->end(), tree.empty_roots.begin(), tree.empty_roots.end());
  }
  return std::move(tree.files);
}

std::vector<std::string> UnreadPaths(const std::vector<FileSpecs>& files,
                                     const std::vector<std::string>& empty_roots) {
  std::vector<std::string> out;
  for (const FileSpecs& f : files) {
    if (f.unreadable && !f.errors.empty()) out.push_back(f.errors.front().ToString());
  }
  for (const std::string& root : empty_roots) {
    out.push_back(root + ": holds no spec file (*.yaml, *.yml)");
  }
  return out;
}

}  // namespace crtoken
