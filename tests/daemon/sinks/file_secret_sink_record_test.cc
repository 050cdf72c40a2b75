// FileSecretSink and the secret's record: Write stores it in the dockerconfigjson, Inspect reads it
// back, List finds this owner's secrets anywhere under --secret-dir (and nothing it must not read
// or follow), Stamp adds a record to a secret written without one, keeping its password byte for
// byte. Real files in temp dirs; permission cases drop root's file capabilities.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "daemon/sinks/docker_config.h"
#include "daemon/sinks/file_secret_sink.h"
#include "tests/support/fakes.h"
#include "tests/support/file_capabilities.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;
using test::FileMode;
using test::FileRef;
using test::ReadFile;
using test::TempDir;
using test::WithoutFileCapabilities;
using test::WriteFile;

constexpr char kHost[] = "acme.cr.de-fra.ionos.com";

SecretRecord Record(const std::string& owner, const std::string& token,
                    const std::string& id = "") {
  return SecretRecord{owner, "reg-1", token, id.empty() ? "id-of-" + token : id};
}

DockerCredential Cred(const std::string& token, const std::string& password,
                      SecretRecord record = {}) {
  return DockerCredential{kHost, token, Password(password), std::move(record)};
}

std::vector<std::string> Files(const Result<std::vector<ListedSecret>>& listed) {
  std::vector<std::string> out;
  if (!listed.ok()) return {"error: " + listed.error().ToString()};
  for (const ListedSecret& s : listed.value()) out.push_back(s.ref.file);
  return out;
}

std::vector<std::string> Entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(FileSecretSinkRecordTest, WriteStoresTheRecordAndInspectReturnsIt) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  const SecretRecord record = Record("team-a", "ci-push");
  ASSERT_TRUE(sink.Write(FileRef("ci-push.json"), Cred("ci-push", "s3cret", record)).ok());
  EXPECT_EQ(ReadFile(dir / "ci-push.json"), DockerConfigJson(Cred("ci-push", "s3cret", record)));
  auto state = sink.Inspect(FileRef("ci-push.json"));
  ASSERT_TRUE(state.ok()) << state.error().ToString();
  EXPECT_TRUE(state.value().has_password);
  EXPECT_EQ(state.value().record, record);
}

TEST(FileSecretSinkRecordTest, ListFindsOnlyThisOwnersRecordsSortedByPath) {
  TempDir dir;
  const fs::path root = dir / "secrets";
  FileSecretSink sink(root);
  ASSERT_TRUE(sink.Write(FileRef("b.json"), Cred("b", "pw", Record("team-a", "b"))).ok());
  ASSERT_TRUE(sink.Write(FileRef("x/y/a.json"), Cred("a", "pw", Record("team-a", "a"))).ok());
  ASSERT_TRUE(sink.Write(FileRef("a.json"), Cred("c", "pw", Record("team-b", "c"))).ok());
  ASSERT_TRUE(sink.Write(FileRef("no-record.json"), Cred("d", "pw")).ok());
  WriteFile(root / "garbage.json", "not json {");
  WriteFile(root / "notes.txt", "hello");

  auto listed = sink.List("team-a");
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(Files(listed), (std::vector<std::string>{"b.json", "x/y/a.json"}));
  EXPECT_EQ(listed.value()[0].ref, FileRef("b.json"));
  EXPECT_EQ(listed.value()[0].record, Record("team-a", "b"));
  EXPECT_EQ(listed.value()[1].record, Record("team-a", "a"));
  EXPECT_EQ(Files(sink.List("team-b")), std::vector<std::string>{"a.json"});
  EXPECT_EQ(Files(sink.List("team-c")), std::vector<std::string>{});

  ASSERT_TRUE(sink.Delete(FileRef("b.json")).ok());
  EXPECT_EQ(Files(sink.List("team-a")), std::vector<std::string>{"x/y/a.json"});
}

TEST(FileSecretSinkRecordTest, ListOfASecretDirThatDoesNotExistYetIsEmpty) {
  TempDir dir;
  FileSecretSink sink(dir / "not-yet");
  EXPECT_EQ(Files(sink.List("team-a")), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(dir / "not-yet"));
}

// Symlinks (to a secret file, to a directory of secrets) are never followed, FIFOs never opened,
// and a file larger than any secret is not read: none of them records anything.
TEST(FileSecretSinkRecordTest, ListReadsOnlyRegularFilesAndFollowsNoSymlink) {
  TempDir dir;
  const fs::path root = dir / "secrets";
  FileSecretSink sink(root);
  FileSecretSink outside(dir / "outside");
  ASSERT_TRUE(outside.Write(FileRef("o.json"), Cred("o", "pw", Record("team-a", "o"))).ok());
  ASSERT_TRUE(sink.Write(FileRef("real/r.json"), Cred("r", "pw", Record("team-a", "r"))).ok());
  fs::create_symlink(dir / "outside/o.json", root / "file-link.json");
  fs::create_directory_symlink(dir / "outside", root / "dir-link");
  fs::create_directory_symlink(root / "real", root / "alias");  // inside: listed once, as real/
  ASSERT_EQ(::mkfifo((root / "fifo.json").c_str(), 0600), 0);
  WriteFile(root / "huge.json", DockerConfigJson(Cred("h", "pw", Record("team-a", "h"))) +
                                    std::string(FileSecretSink::kMaxSecretFileBytes, ' '));

  EXPECT_EQ(Files(sink.List("team-a")), std::vector<std::string>{"real/r.json"});
}

// A place List cannot read could hold a secret of this owner: the whole List fails, naming it.
TEST(FileSecretSinkRecordTest, AnUnreadableDirectoryOrFileFailsTheWholeList) {
  TempDir dir;
  const fs::path root = dir / "secrets";
  FileSecretSink sink(root);
  ASSERT_TRUE(sink.Write(FileRef("a.json"), Cred("a", "pw", Record("team-a", "a"))).ok());
  ASSERT_TRUE(sink.Write(FileRef("team/b.json"), Cred("b", "pw", Record("team-a", "b"))).ok());

  fs::permissions(root / "team", fs::perms::none);
  Result<std::vector<ListedSecret>> unreadable_dir = std::vector<ListedSecret>{};
  {
    WithoutFileCapabilities as_a_user;
    if (!as_a_user.ok()) {
      fs::permissions(root / "team", fs::perms::owner_all);
      GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here";
    }
    unreadable_dir = sink.List("team-a");
  }
  fs::permissions(root / "team", fs::perms::owner_all);
  ASSERT_FALSE(unreadable_dir.ok()) << "a partial list was returned";
  EXPECT_EQ(unreadable_dir.error().kind, ErrorKind::kIo);
  EXPECT_EQ(unreadable_dir.error().message,
            "cannot open directory " + (root / "team").string() + ": Permission denied");

  fs::permissions(root / "team/b.json", fs::perms::none);
  Result<std::vector<ListedSecret>> unreadable_file = std::vector<ListedSecret>{};
  {
    WithoutFileCapabilities as_a_user;
    unreadable_file = sink.List("team-a");
  }
  ASSERT_FALSE(unreadable_file.ok()) << "a partial list was returned";
  EXPECT_EQ(unreadable_file.error().message,
            "cannot open " + (root / "team/b.json").string() + ": Permission denied");
}

// A secret written before secrets carried a record, in the exact old format.
TEST(FileSecretSinkRecordTest, StampAddsTheRecordAndKeepsThePasswordByteForByte) {
  TempDir dir;
  const std::string password = "pä\"ss\\wörd\n\x01";
  const std::string old = DockerConfigJson(Cred("ci-push", password));
  WriteFile(dir / "team/ci-push.json", old);
  ::chmod((dir / "team/ci-push.json").c_str(), 0644);
  FileSecretSink sink(dir.path());

  const SecretRecord record = Record("team-a", "ci-push");
  Status stamped = sink.Stamp(FileRef("team/ci-push.json"), record);
  ASSERT_TRUE(stamped.ok()) << stamped.error().ToString();
  EXPECT_EQ(ReadFile(dir / "team/ci-push.json"),
            DockerConfigJson(Cred("ci-push", password, record)));
  auto credential = ReadDockerCredential(ReadFile(dir / "team/ci-push.json"));
  ASSERT_TRUE(credential.has_value());
  EXPECT_EQ(credential->password.Reveal(), password);
  EXPECT_EQ(FileMode(dir / "team/ci-push.json"), 0600u);  // written as Write writes
  EXPECT_EQ(Entries(dir / "team"), std::vector<std::string>{"ci-push.json"});
  EXPECT_EQ(sink.Inspect(FileRef("team/ci-push.json")).value().record, record);
  EXPECT_EQ(Files(sink.List("team-a")), std::vector<std::string>{"team/ci-push.json"});

  // Stamped again with another record, the credential still does not change.
  const SecretRecord next = Record("team-a", "ci-push", "id-2");
  ASSERT_TRUE(sink.Stamp(FileRef("team/ci-push.json"), next).ok());
  EXPECT_EQ(ReadFile(dir / "team/ci-push.json"), DockerConfigJson(Cred("ci-push", password, next)));
}

TEST(FileSecretSinkRecordTest, StampOfAMissingSecretIsNotFoundAndCreatesNothing) {
  TempDir dir;
  FileSecretSink sink(dir / "secrets");
  for (const char* file : {"a.json", "sub/a.json"}) {
    Status status = sink.Stamp(FileRef(file), Record("team-a", "a"));
    ASSERT_FALSE(status.ok()) << file;
    EXPECT_EQ(status.error().kind, ErrorKind::kNotFound) << file;
    EXPECT_NE(status.error().message.find((dir / "secrets" / file).string()), std::string::npos)
        << status.error().message;
  }
  EXPECT_FALSE(fs::exists(dir / "secrets"));
}

// Where Inspect reports a conflict, Stamp and Delete refuse as Write does, and touch nothing.
TEST(FileSecretSinkRecordTest, StampAndDeleteRefuseASymlinkOrADirectoryAtTheSecretPath) {
  TempDir dir;
  WriteFile(dir / "target.json", DockerConfigJson(Cred("t", "precious")));
  fs::create_symlink(dir / "target.json", dir / "link.json");
  fs::create_directories(dir / "dir.json");
  WriteFile(dir / "dir.json/keep.txt", "keep");
  FileSecretSink sink(dir.path());
  for (const char* file : {"link.json", "dir.json"}) {
    SCOPED_TRACE(file);
    const std::string kind = std::string(file) == "link.json" ? "a symlink" : "a directory";
    const std::string place = (dir / file).string() + " is " + kind + ", not a secret file";
    ASSERT_NE(sink.Inspect(FileRef(file)).value().conflict, "");
    Status stamped = sink.Stamp(FileRef(file), Record("team-a", "t"));
    ASSERT_FALSE(stamped.ok());
    EXPECT_EQ(stamped.error().kind, ErrorKind::kConflict);
    EXPECT_EQ(stamped.error().message, place + ": refusing to stamp it");
    Status deleted = sink.Delete(FileRef(file));
    ASSERT_FALSE(deleted.ok());
    EXPECT_EQ(deleted.error().kind, ErrorKind::kConflict);
    EXPECT_EQ(deleted.error().message, place + ": refusing to delete it");
  }
  EXPECT_EQ(fs::read_symlink(dir / "link.json"), dir / "target.json");
  EXPECT_EQ(ReadFile(dir / "target.json"), DockerConfigJson(Cred("t", "precious")));
  EXPECT_EQ(ReadFile(dir / "dir.json/keep.txt"), "keep");
}

// Bad input: a secret file that is not JSON exists, holds no password and records nothing; List
// skips it; Stamp has no credential to keep and leaves it as it is.
TEST(FileSecretSinkRecordTest, ASecretFileThatIsNotJsonRecordsNothingAndIsNotStamped) {
  TempDir dir;
  WriteFile(dir / "bad.json", "{\"auths\": {\"h\": ");
  WriteFile(dir / "good.json", DockerConfigJson(Cred("g", "pw", Record("team-a", "g"))));
  FileSecretSink sink(dir.path());
  auto state = sink.Inspect(FileRef("bad.json"));
  ASSERT_TRUE(state.ok()) << state.error().ToString();
  EXPECT_TRUE(state.value().exists);
  EXPECT_FALSE(state.value().has_password);
  EXPECT_TRUE(state.value().record.empty());
  EXPECT_EQ(state.value().conflict, "");
  EXPECT_EQ(Files(sink.List("team-a")), std::vector<std::string>{"good.json"});

  Status stamped = sink.Stamp(FileRef("bad.json"), Record("team-a", "b"));
  ASSERT_FALSE(stamped.ok());
  EXPECT_EQ(stamped.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(stamped.error().message.find((dir / "bad.json").string()), std::string::npos);
  EXPECT_EQ(ReadFile(dir / "bad.json"), "{\"auths\": {\"h\": ");
}

// Bad input: a secret dir crtoken may read but not write. Write and Stamp fail naming the file
// and leave it as it was; List still lists.
TEST(FileSecretSinkRecordTest, AReadOnlySecretDirFailsWriteAndStampButNotList) {
  TempDir dir;
  const fs::path root = dir / "secrets";
  FileSecretSink sink(root);
  const SecretRecord record = Record("team-a", "a");
  ASSERT_TRUE(sink.Write(FileRef("a.json"), Cred("a", "old", record)).ok());
  ASSERT_TRUE(sink.Write(FileRef("plain.json"), Cred("p", "old")).ok());
  const std::string before = ReadFile(root / "a.json");
  fs::permissions(root, fs::perms::owner_read | fs::perms::owner_exec);
  Status written = Status::Ok();
  Status stamped = Status::Ok();
  Result<std::vector<ListedSecret>> listed = std::vector<ListedSecret>{};
  {
    WithoutFileCapabilities as_a_user;
    if (!as_a_user.ok()) {
      fs::permissions(root, fs::perms::owner_all);
      GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here";
    }
    written = sink.Write(FileRef("a.json"), Cred("a", "new", record));
    stamped = sink.Stamp(FileRef("plain.json"), Record("team-a", "p"));
    listed = sink.List("team-a");
  }
  fs::permissions(root, fs::perms::owner_all);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().message, "cannot create a temporary file for " +
                                         (root / "a.json").string() + ": Permission denied");
  ASSERT_FALSE(stamped.ok());
  EXPECT_EQ(stamped.error().message, "cannot create a temporary file for " +
                                         (root / "plain.json").string() + ": Permission denied");
  EXPECT_EQ(ReadFile(root / "a.json"), before);
  EXPECT_TRUE(sink.Inspect(FileRef("plain.json")).value().record.empty());
  EXPECT_EQ(Files(listed), std::vector<std::string>{"a.json"});
}

// Stamp is a write like any other: the next Flush makes it durable.
class CountingOps : public FileOps {
 public:
  std::atomic<int> syncfs_calls{0};
  int Syncfs(int fd) override {
    ++syncfs_calls;
    return FileOps::Syncfs(fd);
  }
};

TEST(FileSecretSinkRecordTest, AStampIsMadeDurableByTheNextFlush) {
  TempDir dir;
  WriteFile(dir / "a.json", DockerConfigJson(Cred("a", "pw")));
  CountingOps ops;
  FileSecretSink sink(dir.path(), &ops);
  ASSERT_TRUE(sink.Flush().ok());
  EXPECT_EQ(ops.syncfs_calls, 0);
  ASSERT_TRUE(sink.Stamp(FileRef("a.json"), Record("team-a", "a")).ok());
  ASSERT_TRUE(sink.Flush().ok());
  EXPECT_EQ(ops.syncfs_calls, 1);
}

}  // namespace
}  // namespace crtoken
