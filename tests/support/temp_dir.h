// A temporary directory removed (recursively) when the object goes away.
#pragma once

#include <filesystem>
#include <string>

namespace crtoken::test_support {

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

}  // namespace crtoken::test_support
