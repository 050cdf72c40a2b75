// A spec file whose name is not valid UTF-8 (`caf\xe9.yaml`, written by a Latin-1 tool) breaks
// nothing: it is loaded like any other, its specs keep the exact bytes of its name (the planner
// matches failed files and ownership records by them), and every message names it printably.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "daemon/common/json_text.h"
#include "daemon/specs/spec_loader.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;

const std::string kCrtoken = std::string(CRTOKEN_BINARY_DIR) + "/daemon/crtoken";

std::string Token(const std::string& name, const std::string& secret) {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: acme\n  scopes:\n    - name: \"app/*\"\n      type: repository\n"
         "      actions: [pull]\n  secret:\n    file: " +
         secret + "\n";
}

class SpecUtf8NameTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "crtoken-utf8-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  std::string dir_;
};

// True when `s` is already what PrintableText makes of it: valid UTF-8, no control characters.
bool Printable(const std::string& s) { return PrintableText(s, std::string::npos) == s; }

TEST_F(SpecUtf8NameTest, TheLoaderReadsItAndKeepsTheNamesBytes) {
  const std::string cafe = Write("caf\xe9.yaml", Token("cafe", "cafe.json"));
  SpecSet set = LoadSpecs({dir_});
  ASSERT_TRUE(set.ok()) << set.errors[0].ToString();
  ASSERT_EQ(set.specs.size(), 1u);
  EXPECT_EQ(set.specs[0].source.file, cafe) << "the exact bytes, not a replacement";
  EXPECT_TRUE(set.unread.empty());
}

TEST_F(SpecUtf8NameTest, ErrorsNameItPrintably) {
  const std::string bad = Write("bad\xff.yaml", Token("bad", "cafe.json") + "  bogus: 1\n");
  Write("caf\xe9.yaml", Token("cafe", "cafe.json"));
  Write("z.yaml", Token("other", "cafe.json"));  // the same secret file as caf\xe9.yaml
  SpecSet set = LoadSpecs({dir_});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.failed_files.count(bad), 1u);
  bool bad_named = false, clash_named = false;
  for (const SpecError& e : set.errors) {
    const std::string line = e.ToString();
    EXPECT_TRUE(Printable(line)) << PrintableText(line);
    bad_named = bad_named || line.rfind(dir_ + "/bad\\ufffd.yaml:", 0) == 0;
    clash_named = clash_named || line.find("as does the token at " + dir_ + "/caf\\ufffd.yaml:") !=
                                     std::string::npos;
  }
  EXPECT_TRUE(bad_named);
  EXPECT_TRUE(clash_named);
}

TEST_F(SpecUtf8NameTest, AnUnreadableNameIsReportedPrintably) {
  fs::create_symlink(dir_ + "/nowhere", dir_ + "/gone\xe9.yaml");
  Write("a.yaml", Token("a", "a.json"));
  SpecSet set = LoadSpecs({dir_});
  ASSERT_EQ(set.unread.size(), 1u);
  EXPECT_EQ(set.unread[0], dir_ + "/gone\\ufffd.yaml: cannot read: broken symlink");
}

// `crtoken validate`, the real binary: the file is loaded, and an error in it is one printable
// line on stderr.
TEST_F(SpecUtf8NameTest, ValidateLoadsItAndPrintsItsErrorsPrintably) {
  ASSERT_TRUE(fs::exists(kCrtoken)) << kCrtoken;
  Write("caf\xe9.yaml", Token("cafe", "cafe.json"));
  const std::string out = dir_ + "/.out", err = dir_ + "/.err";
  auto run = [&] {
    const std::string command =
        "'" + kCrtoken + "' validate '" + dir_ + "' >'" + out + "' 2>'" + err + "'";
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  EXPECT_EQ(run(), 0) << slurp(err);
  EXPECT_EQ(slurp(out), "1 token in 1 file: valid\n");

  Write("caf\xe9.yaml", Token("cafe", "cafe.json") + "  bogus: 1\n");
  EXPECT_EQ(run(), 1);
  const std::string text = slurp(err);
  EXPECT_TRUE(Printable(text.substr(0, text.find('\n')))) << PrintableText(text);
  EXPECT_EQ(text.rfind(dir_ + "/caf\\ufffd.yaml:", 0), 0u) << PrintableText(text);
  EXPECT_EQ(text.find('\xe9'), std::string::npos) << PrintableText(text);
}

}  // namespace
}  // namespace crtoken
