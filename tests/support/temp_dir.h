// A temporary directory removed (recursively) when the object goes away, and the few file helpers
// tests use on what they put in it. The one temp-dir helper of the tests.
#pragma once

#include <filesystem>
#include <string>

namespace crtoken::test {

class TempDir {
 public:
  // Creates a fresh directory under $TMPDIR (or /tmp) named PREFIX.XXXXXX.
  explicit TempDir(const std::string& prefix = "crtoken-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / relative.
  std::filesystem::path operator/(const std::string& relative) const { return path_ / relative; }

 private:
  std::filesystem::path path_;
};

// The whole content of a file, byte for byte; "" when it cannot be read.
std::string ReadFile(const std::filesystem::path& path);

// Replaces the content of `path` (creating the file and its missing parent directories).
void WriteFile(const std::filesystem::path& path, const std::string& content);

// The permission bits (st_mode & 07777) of `path` itself, not following a symlink; 0 when it
// does not exist.
unsigned FileMode(const std::filesystem::path& path);

}  // namespace crtoken::test
