// What a one-shot `crtoken apply` does when the secret path holds something that is not a secret
// file: a FIFO (which used to hang the pass forever), a huge sparse file (which used to be read
// whole), a symlink, a directory, a socket, a parent directory that leaves the secret dir, or a
// file planted by another user. The real binaries, with a deadline on every run so that a hang
// fails the test instead of stalling it.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Generous: an apply that fails takes three passes 2 s apart. A hang runs into it.
constexpr std::chrono::seconds kDeadline(60);

#define ASSERT_EXIT_CODE(result, code)                                                       \
  ASSERT_FALSE((result).timed_out) << "still running after the deadline:\n" << (result).err; \
  ASSERT_EQ((result).exit_code, code) << "stdout:\n" << (result).out << "stderr:\n" << (result).err

class LocalSafetyE2eTest : public ::testing::Test {
 protected:
  LocalSafetyE2eTest()
      : emu_(std::vector<std::string>{"--registry", "acme", "--token", "t"}),
        dir_("crtoken-local-safety") {
    fs::create_directories(dir_ / "specs");
    fs::create_directories(dir_ / "secrets");
    fs::create_directories(dir_ / "out");
  }

  void Declare(const std::string& name, const std::string& secret_file) {
    std::ofstream(dir_ / ("specs/" + name + ".yaml"), std::ios::trunc)
        << "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " << name
        << "\nspec:\n  registry: acme\n  status: enabled\n  scopes:\n"
        << "    - {name: \"app/*\", type: repository, actions: [pull]}\n"
        << "  secret:\n    file: " << secret_file << "\n";
  }

  CommandResult Apply() {
    return RunCrtoken({"apply", "--specs", (dir_ / "specs").string(), "--api-url", emu_.base_url(),
                       "--secret-dir", (dir_ / "secrets").string()},
                      {{"IONOS_TOKEN", "t"}}, (dir_ / "out").string(), kDeadline);
  }

  std::optional<json> Token(const std::string& name) {
    state_ = emu_.StateJson();
    for (const auto& r : state_["registries"]) {
      for (const auto& t : r["tokens"]) {
        if (t["name"] == name) return t;
      }
    }
    return std::nullopt;
  }
  size_t TokenCount() {
    state_ = emu_.StateJson();
    size_t n = 0;
    for (const auto& r : state_["registries"]) n += r["tokens"].size();
    return n;
  }
  int Puts() {
    int n = 0;
    for (const auto& r : emu_.Requests()) n += r.method == "PUT";
    return n;
  }

  // The secret file holds the password the emulator issued, mode 0600, owned by this process.
  void ExpectSecretWorks(const std::string& name, const std::string& file) {
    auto token = Token(name);
    ASSERT_TRUE(token.has_value()) << name;
    const fs::path path = dir_ / ("secrets/" + file);
    struct stat st;
    ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path;
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(st.st_uid, ::geteuid());
    json doc = json::parse(ReadFile(path.string()));
    EXPECT_EQ(doc["auths"]["acme.cr.de-fra.ionos.com"]["password"], (*token)["password"]);
  }

  EmulatorProcess emu_;
  TempDir dir_;
  json state_;
};

// A FIFO at the secret path: the old open() waited for a writer forever. Now apply ends with a
// clear error naming the path, found before any create (no token is issued), and once the FIFO is
// gone the next apply converges with a working secret.
TEST_F(LocalSafetyE2eTest, AFifoAtTheSecretPathFailsApplyInBoundedTimeAndLosesNothing) {
  Declare("ci-push", "ci-push.json");
  const fs::path fifo = dir_ / "secrets/ci-push.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);

  CommandResult first = Apply();
  ASSERT_EXIT_CODE(first, 1);
  EXPECT_NE(first.err.find(fifo.string() + " is a FIFO, not a secret file"), std::string::npos)
      << first.err;
  EXPECT_TRUE(fs::is_fifo(fifo)) << "the FIFO was replaced";
  EXPECT_EQ(TokenCount(), 0u) << "a token was issued for a secret place that cannot take it";
  EXPECT_EQ(Puts(), 0);

  fs::remove(fifo);
  CommandResult second = Apply();
  ASSERT_EXIT_CODE(second, 0);
  EXPECT_EQ(TokenCount(), 1u);
  EXPECT_EQ(Puts(), 1);
  ExpectSecretWorks("ci-push", "ci-push.json");
}

// A 3 GB sparse file over a working secret is refused unread: the process stays small, the token
// is kept (not re-issued: its secret could not be inspected, which decides nothing) and the file
// is left as it is.
TEST_F(LocalSafetyE2eTest, AHugeSparseFileIsRefusedWithoutBeingRead) {
  Declare("ci-push", "ci-push.json");
  ASSERT_EXIT_CODE(Apply(), 0);
  const std::string id = (*Token("ci-push"))["id"];

  const fs::path path = dir_ / "secrets/ci-push.json";
  fs::remove(path);
  { std::ofstream create(path); }
  ASSERT_EQ(::truncate(path.c_str(), off_t{3} << 30), 0);

  CommandResult result = Apply();
  ASSERT_EXIT_CODE(result, 1);
  EXPECT_NE(result.err.find(path.string() + ": it is 3221225472 bytes, over the limit of 1048576"),
            std::string::npos)
      << result.err;
  EXPECT_LT(result.max_rss_kb, 200 * 1024) << "peak RSS " << result.max_rss_kb << " kB";
  EXPECT_EQ((*Token("ci-push"))["id"], id);
  EXPECT_EQ(TokenCount(), 1u);
  EXPECT_EQ(fs::file_size(path), uint64_t{3} << 30);
}

// A symlink, a directory or a socket where the secret goes is refused by name, left in place, and
// nothing is written through it.
TEST_F(LocalSafetyE2eTest, ASymlinkDirectoryOrSocketAtTheSecretPathIsRefused) {
  fs::create_directories(dir_ / "elsewhere");
  const fs::path target = dir_ / "elsewhere/target.json";
  std::ofstream(target) << "precious";
  fs::create_symlink(target, dir_ / "secrets/link.json");
  fs::create_directories(dir_ / "secrets/dir.json");
  const fs::path sock_path = dir_ / "secrets/sock.json";
  int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock_path.string().size(), sizeof(addr.sun_path));
  std::strcpy(addr.sun_path, sock_path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  Declare("via-link", "link.json");
  Declare("via-dir", "dir.json");
  Declare("via-sock", "sock.json");

  CommandResult result = Apply();
  ::close(sock);
  ASSERT_EXIT_CODE(result, 1);
  for (const auto& [file, what] : std::vector<std::pair<std::string, std::string>>{
           {"link.json", "a symlink"}, {"dir.json", "a directory"}, {"sock.json", "a socket"}}) {
    const std::string where = (dir_ / ("secrets/" + file)).string();
    EXPECT_NE(result.err.find(where + " is " + what + ", not a secret file"), std::string::npos)
        << file << "\n"
        << result.err;
  }
  EXPECT_EQ(ReadFile(target.string()), "precious");
  EXPECT_TRUE(fs::is_symlink(dir_ / "secrets/link.json"));
  EXPECT_TRUE(fs::is_directory(dir_ / "secrets/dir.json"));
  EXPECT_TRUE(fs::is_socket(sock_path));
  EXPECT_EQ(Puts(), 0);  // found before any create: no token is issued for a place it cannot fill
}

// The containment rules hold for a parent directory that is a symlink out of the secret dir:
// nothing is written outside.
TEST_F(LocalSafetyE2eTest, AParentDirectorySymlinkOutOfTheSecretDirIsRefused) {
  fs::create_directories(dir_ / "outside");
  fs::create_directory_symlink(dir_ / "outside", dir_ / "secrets/team");
  Declare("ci-push", "team/ci-push.json");

  CommandResult result = Apply();
  ASSERT_EXIT_CODE(result, 1);
  EXPECT_NE(result.err.find("escapes the secret dir through a symlink at " +
                            (dir_ / "secrets/team").string()),
            std::string::npos)
      << result.err;
  EXPECT_TRUE(fs::is_empty(dir_ / "outside"));
}

// A secret file planted by another user, readable by everyone, with a hard link kept to it: the
// write replaces it with a fresh 0600 file of crtoken's, so neither the planted file nor the link
// ever holds the password.
TEST_F(LocalSafetyE2eTest, AFilePlantedByAnotherUserIsReplacedNotWrittenInto) {
  Declare("ci-push", "ci-push.json");
  const fs::path planted = dir_ / "secrets/ci-push.json";
  std::ofstream(planted) << R"({"auths":{"evil.example":{"username":"x","password":"y"}}})";
  ::chmod(planted.c_str(), 0644);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(planted.c_str(), 65534, 65534), 0);  // another user's file
  }
  const fs::path link = dir_ / "kept-link.json";
  fs::create_hard_link(planted, link);
  const std::string before = ReadFile(link.string());

  CommandResult result = Apply();
  ASSERT_EXIT_CODE(result, 0);
  ExpectSecretWorks("ci-push", "ci-push.json");
  EXPECT_EQ(ReadFile(link.string()), before);
}

}  // namespace
}  // namespace crtoken::test
