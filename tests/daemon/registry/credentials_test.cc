#include "daemon/registry/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class CredentialsFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& content, mode_t mode = 0600) {
    const std::string path = dir_ / "credentials";
    std::ofstream(path, std::ios::trunc) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }
  test::TempDir dir_{"crtoken-cred"};
};

TEST(CredentialsTest, BearerFromEnvironment) {
  auto c = LoadCredentials("", Env({{"IONOS_TOKEN", "tok-123"}}), nullptr);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_TRUE(c.value().is_bearer());
  EXPECT_EQ(c.value().AuthorizationHeader(), "Bearer tok-123");
  EXPECT_EQ(c.value().description().find("tok-123"), std::string::npos);
}

TEST(CredentialsTest, BasicFromEnvironment) {
  auto c = LoadCredentials(
      "", Env({{"IONOS_USERNAME", "Aladdin"}, {"IONOS_PASSWORD", "open sesame"}}), nullptr);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_FALSE(c.value().is_bearer());
  EXPECT_EQ(c.value().AuthorizationHeader(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(c.value().description().find("open sesame"), std::string::npos);
}

TEST(CredentialsTest, TokenWinsOverBasic) {
  auto c = LoadCredentials(
      "", Env({{"IONOS_TOKEN", "t"}, {"IONOS_USERNAME", "u"}, {"IONOS_PASSWORD", "p"}}), nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value().AuthorizationHeader(), "Bearer t");
}

TEST(CredentialsTest, MissingNamesTheThreeWays) {
  for (auto env : {Env({}), Env({{"IONOS_TOKEN", ""}})}) {
    auto c = LoadCredentials("", env, nullptr);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().kind, ErrorKind::kInvalid);
    for (const char* way :
         {"IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD", "--credentials-file"}) {
      EXPECT_NE(c.error().message.find(way), std::string::npos) << way;
    }
  }
}

TEST(CredentialsTest, HalfOfBasicIsAnError) {
  auto c = LoadCredentials("", Env({{"IONOS_USERNAME", "u"}}), nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("IONOS_PASSWORD"), std::string::npos);
  auto d = LoadCredentials("", Env({{"IONOS_PASSWORD", "secret-pw"}}), nullptr);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("IONOS_USERNAME"), std::string::npos);
  EXPECT_EQ(d.error().message.find("secret-pw"), std::string::npos);
}

TEST(CredentialsTest, ControlCharactersRefused) {
  auto c = LoadCredentials("", Env({{"IONOS_TOKEN", "abc\r\nX-Evil: 1"}}), nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message.find("X-Evil"), std::string::npos);
}

TEST_F(CredentialsFileTest, TokenFileWinsOverEnvironment) {
  const std::string path = Write("# crtoken credentials\n\nIONOS_TOKEN = \"file-token\"\n");
  std::vector<std::string> warnings;
  auto c = LoadCredentials(path, Env({{"IONOS_TOKEN", "env-token"}}), &warnings);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c.value().AuthorizationHeader(), "Bearer file-token");
  EXPECT_TRUE(warnings.empty());
  EXPECT_NE(c.value().description().find(path), std::string::npos);
}

TEST_F(CredentialsFileTest, BasicFileWithExportAndCrlf) {
  const std::string path =
      Write("export IONOS_USERNAME=Aladdin\r\nIONOS_PASSWORD='open sesame'\r\n");
  auto c = LoadCredentials(path, Env({}), nullptr);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c.value().AuthorizationHeader(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST_F(CredentialsFileTest, ErrorsNameFileAndLineButNoSecret) {
  struct Case {
    std::string content;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"IONOS_TOKEN=abc\nIONOS_PASWORD=s3cr3t\n", ":2: unknown key 'IONOS_PASWORD'"},
      {"# only a comment\nnot a pair s3cr3t\n", ":2: want KEY=VALUE"},
      {"IONOS_TOKEN=\n", ":1: IONOS_TOKEN is empty"},
      {"IONOS_TOKEN=s3cr3t\nIONOS_TOKEN=s3cr3t\n", ":2: IONOS_TOKEN given twice"},
      {"\n# nothing\n", "no credentials in file"},
      {"IONOS_USERNAME=u\n", "IONOS_PASSWORD"},
  };
  for (const Case& tc : cases) {
    const std::string path = Write(tc.content);
    auto c = LoadCredentials(path, Env({{"IONOS_TOKEN", "env"}}), nullptr);
    ASSERT_FALSE(c.ok()) << tc.content;
    EXPECT_EQ(c.error().kind, ErrorKind::kInvalid);
    EXPECT_NE(c.error().message.find(path), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find(tc.want), std::string::npos) << c.error().message;
    EXPECT_EQ(c.error().message.find("s3cr3t"), std::string::npos) << c.error().message;
  }
}

TEST_F(CredentialsFileTest, MissingFileIsAnError) {
  auto c = LoadCredentials((dir_ / "absent").string(), Env({{"IONOS_TOKEN", "env"}}), nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find((dir_ / "absent").string()), std::string::npos);
}

TEST_F(CredentialsFileTest, WorldReadableFileWarns) {
  const std::string path = Write("IONOS_TOKEN=t\n", 0644);
  std::vector<std::string> warnings;
  auto c = LoadCredentials(path, Env({}), &warnings);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("readable by every user"), std::string::npos);
}

}  // namespace
}  // namespace crtoken
