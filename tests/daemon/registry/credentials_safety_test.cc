// A credentials file's errors never show a secret, and reading it never hangs: what the file holds
// is not echoed unless it is one of the known key names or looks like a variable name, and a FIFO,
// a device or a huge file in its place is refused by name.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>

#include "daemon/registry/credentials.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

class CredentialsSafetyTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& content) {
    const std::string path = dir_ / "credentials";
    std::ofstream(path, std::ios::trunc) << content;
    ::chmod(path.c_str(), 0600);
    return path;
  }
  test::TempDir dir_{"crtoken-cred-safety"};
};

TEST_F(CredentialsSafetyTest, ARawTokenOrAMistypedSeparatorIsNeverEchoed) {
  struct Case {
    std::string content;
    std::string secret;  // must not appear in the error, not even in part
    std::string want;
  };
  const std::vector<Case> cases = {
      // A raw base64 token: its padding looks like a separator.
      {"c2VjcmV0LXRva2VuLXZhbHVl==\n", "c2VjcmV0", ":1: unknown key ("},
      {"# a comment\nIONOS_PASSWORD: pa55=word\n", "pa55", ":2: unknown key ("},
      {"IONOS_PASSWORD pa55=word\n", "pa55", ":1: unknown key ("},
      {"IONOS_TOKEN=t\nionos_password=pa55word\n", "pa55word", ":2: unknown key ("},
      {"IONOS_PASSWORDpa55word=x\n", "pa55word", ":1: unknown key ("},
      // A key that looks like a variable name is shown, as a typo of a known one would be.
      {"IONOS_PASWORD=pa55word\n", "pa55word", ":1: unknown key 'IONOS_PASWORD'"},
  };
  for (const Case& tc : cases) {
    const std::string path = Write(tc.content);
    auto c = LoadCredentials(path, NoEnv(), nullptr);
    ASSERT_FALSE(c.ok()) << tc.content;
    EXPECT_EQ(c.error().kind, ErrorKind::kInvalid);
    EXPECT_NE(c.error().message.find(path + tc.want), std::string::npos) << c.error().message;
    EXPECT_EQ(c.error().message.find(tc.secret), std::string::npos) << c.error().message;
  }
}

TEST_F(CredentialsSafetyTest, AFifoInPlaceOfTheFileIsRefusedInBoundedTime) {
  const std::string fifo = (dir_ / "credentials").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto loaded =
      std::async(std::launch::async, [&] { return LoadCredentials(fifo, NoEnv(), nullptr); });
  if (loaded.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "still blocked on " << fifo << " after 10 s";
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // releases the reader
    if (writer >= 0) ::close(writer);
  }
  auto c = loaded.get();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "cannot read the credentials file: refusing to read " + fifo +
                                   ": it is a FIFO, not a regular file");
}

TEST_F(CredentialsSafetyTest, AHugeFileIsRefusedUnreadAndASymlinkedFileIsRead) {
  const std::string path = Write("");
  ASSERT_EQ(::truncate(path.c_str(), off_t{1} << 30), 0);
  auto huge = LoadCredentials(path, NoEnv(), nullptr);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message.find(path + ": it is 1073741824 bytes, over the limit"),
            std::string::npos)
      << huge.error().message;

  // A Kubernetes Secret volume mounts its keys through symlinks.
  std::filesystem::create_directories(dir_ / "..data");
  std::ofstream(dir_ / "..data/IONOS_CREDENTIALS") << "IONOS_TOKEN=from-volume\n";
  std::filesystem::create_symlink("..data/IONOS_CREDENTIALS", dir_ / "linked");
  auto linked = LoadCredentials((dir_ / "linked").string(), NoEnv(), nullptr);
  ASSERT_TRUE(linked.ok()) << linked.error().ToString();
  EXPECT_EQ(linked.value().AuthorizationHeader(), "Bearer from-volume");
}

}  // namespace
}  // namespace crtoken
