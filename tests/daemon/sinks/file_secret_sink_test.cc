#include "daemon/sinks/file_secret_sink.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "daemon/sinks/composite_secret_sink.h"
#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::FileMode;
using test::FileRef;
using test::ReadFile;
using test::SampleCredential;
using test::TempDir;
using test::WriteFile;

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(FileSecretSinkTest, WritesExactDockerConfigJsonWithMode0600AndNoTempFileLeft) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  ASSERT_TRUE(sink.Write(FileRef("ci-push.json"), SampleCredential("s3cret")).ok());
  // base64("ci-push:s3cret") = Y2ktcHVzaDpzM2NyZXQ=
  EXPECT_EQ(ReadFile(dir / "ci-push.json"),
            R"({"auths":{"acme.cr.de-fra.ionos.com":{"username":"ci-push","password":"s3cret",)"
            R"("auth":"Y2ktcHVzaDpzM2NyZXQ="}}})");
  EXPECT_EQ(FileMode(dir / "ci-push.json"), 0600u);
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"ci-push.json"});
}

TEST(FileSecretSinkTest, EscapesPasswordsSoTheJsonRoundTrips) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  const std::string tricky = "a\"b\\c\n\x01/é";
  ASSERT_TRUE(sink.Write(FileRef("x.json"), SampleCredential(tricky)).ok());
  auto doc = nlohmann::json::parse(ReadFile(dir / "x.json"));
  EXPECT_EQ(doc["auths"]["acme.cr.de-fra.ionos.com"]["password"], tricky);
}

TEST(FileSecretSinkTest, CreatesParentDirectoriesWith0700AndCreatesTheSecretDir) {
  TempDir dir;
  FileSecretSink sink(dir / "secrets/root");
  ASSERT_TRUE(sink.Write(FileRef("team-a/pull/ci.json"), SampleCredential()).ok());
  EXPECT_EQ(FileMode(dir / "secrets/root/team-a"), 0700u);
  EXPECT_EQ(FileMode(dir / "secrets/root/team-a/pull"), 0700u);
  EXPECT_EQ(FileMode(dir / "secrets/root/team-a/pull/ci.json"), 0600u);
}

TEST(FileSecretSinkTest, OverwriteReplacesTheWholeContent) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  ASSERT_TRUE(
      sink.Write(FileRef("a.json"), SampleCredential("a-very-long-first-password-value")).ok());
  ASSERT_TRUE(sink.Write(FileRef("a.json"), SampleCredential("short")).ok());
  auto doc = nlohmann::json::parse(ReadFile(dir / "a.json"));
  EXPECT_EQ(doc["auths"]["acme.cr.de-fra.ionos.com"]["password"], "short");
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"a.json"});
}

TEST(FileSecretSinkTest, InspectReportsMissingWrittenGarbageAndEmptyPassword) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  auto missing = sink.Inspect(FileRef("sub/none.json"));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing.value().exists);

  ASSERT_TRUE(sink.Write(FileRef("ok.json"), SampleCredential()).ok());
  auto ok = sink.Inspect(FileRef("ok.json"));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok.value().exists);
  EXPECT_TRUE(ok.value().has_password);
  EXPECT_EQ(ok.value().hostname, "acme.cr.de-fra.ionos.com");
  EXPECT_EQ(ok.value().username, "ci-push");

  WriteFile(dir / "garbage.json", "not json {");
  auto garbage = sink.Inspect(FileRef("garbage.json"));
  ASSERT_TRUE(garbage.ok());
  EXPECT_TRUE(garbage.value().exists);
  EXPECT_FALSE(garbage.value().has_password);

  WriteFile(dir / "empty.json", R"({"auths":{"h":{"username":"u","password":""}}})");
  auto empty = sink.Inspect(FileRef("empty.json"));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value().exists);
  EXPECT_FALSE(empty.value().has_password);
  EXPECT_EQ(empty.value().hostname, "h");
}

TEST(FileSecretSinkTest, InspectOfAMissingSecretDirIsAbsentNotAnError) {
  TempDir dir;
  FileSecretSink sink(dir / "not-yet");
  auto state = sink.Inspect(FileRef("a.json"));
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state.value().exists);
  EXPECT_FALSE(std::filesystem::exists(dir / "not-yet"));  // read-only: nothing created
}

TEST(FileSecretSinkTest, DeleteRemovesAndAbsentIsOk) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  ASSERT_TRUE(sink.Write(FileRef("a/b.json"), SampleCredential()).ok());
  ASSERT_TRUE(sink.Delete(FileRef("a/b.json")).ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "a/b.json"));
  EXPECT_TRUE(sink.Delete(FileRef("a/b.json")).ok());
  EXPECT_TRUE(sink.Delete(FileRef("nowhere/b.json")).ok());
}

TEST(FileSecretSinkTest, RefusesAbsoluteAndDotDotPaths) {
  TempDir dir;
  FileSecretSink sink(dir / "secrets");
  for (const std::string bad :
       {"/etc/evil.json", "../evil.json", "a/../../evil.json", "a/..", "", "dir/"}) {
    Status status = sink.Write(FileRef(bad), SampleCredential());
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_EQ(status.error().kind, ErrorKind::kInvalid) << bad;
    EXPECT_FALSE(sink.Delete(FileRef(bad)).ok()) << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "evil.json"));
}

TEST(FileSecretSinkTest, RefusesADirectorySymlinkThatEscapes) {
  TempDir dir;
  std::filesystem::create_directories(dir / "secrets");
  std::filesystem::create_directories(dir / "outside");
  std::filesystem::create_directory_symlink(dir / "outside", dir / "secrets/link");
  FileSecretSink sink(dir / "secrets");
  Status status = sink.Write(FileRef("link/evil.json"), SampleCredential());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(status.error().message.find("escapes"), std::string::npos) << status.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir / "outside/evil.json"));
  EXPECT_FALSE(sink.Inspect(FileRef("link/evil.json")).ok());
}

TEST(FileSecretSinkTest, AllowsADirectorySymlinkThatStaysInside) {
  TempDir dir;
  std::filesystem::create_directories(dir / "secrets/real");
  std::filesystem::create_directory_symlink(dir / "secrets/real", dir / "secrets/alias");
  FileSecretSink sink(dir / "secrets");
  ASSERT_TRUE(sink.Write(FileRef("alias/a.json"), SampleCredential()).ok());
  EXPECT_TRUE(std::filesystem::exists(dir / "secrets/real/a.json"));
}

TEST(FileSecretSinkTest, NeverWritesOrReadsThroughASymlinkedFile) {
  TempDir dir;
  std::filesystem::create_directories(dir / "secrets");
  WriteFile(dir / "target.txt", "precious");
  std::filesystem::create_symlink(dir / "target.txt", dir / "secrets/a.json");
  FileSecretSink sink(dir / "secrets");
  Status status = sink.Write(FileRef("a.json"), SampleCredential());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("symlink"), std::string::npos);
  EXPECT_EQ(ReadFile(dir / "target.txt"), "precious");
  // Not read either: reported as a place crtoken must not write, so no token is created for it.
  auto inspected = sink.Inspect(FileRef("a.json"));
  ASSERT_TRUE(inspected.ok());
  EXPECT_NE(inspected.value().conflict.find("is a symlink"), std::string::npos);
  EXPECT_FALSE(inspected.value().has_password);
}

TEST(FileSecretSinkTest, KubernetesRefsAreNotForTheFileSink) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = "ci";
  ref.k8s_name = "pull";
  EXPECT_FALSE(sink.Write(ref, SampleCredential()).ok());
}

// Injects one errno into one kind of call; everything else goes to the real file system.
class FaultyOps : public FileOps {
 public:
  int fail_open_temp = 0;  // errno for creating a temp file
  int fail_write = 0;
  int fail_syncfs = 0;
  int fail_rename = 0;
  std::atomic<int> fsyncs{0};
  std::atomic<int> syncfs_calls{0};
  int OpenAt(int dirfd, const char* path, int flags, mode_t mode) override {
    if (fail_open_temp && (flags & O_CREAT)) return Fail(fail_open_temp);
    return FileOps::OpenAt(dirfd, path, flags, mode);
  }
  ssize_t Write(int fd, const void* data, size_t size) override {
    if (fail_write) return Fail(fail_write);
    return FileOps::Write(fd, data, size);
  }
  int Fsync(int fd) override {
    ++fsyncs;
    return FileOps::Fsync(fd);
  }
  int Syncfs(int fd) override {
    ++syncfs_calls;
    if (fail_syncfs) return Fail(fail_syncfs);
    return FileOps::Syncfs(fd);
  }
  int RenameAt(int a, const char* b, int c, const char* d) override {
    if (fail_rename) return Fail(fail_rename);
    return FileOps::RenameAt(a, b, c, d);
  }

 private:
  static int Fail(int err) {
    errno = err;
    return -1;
  }
};

struct FaultCase {
  const char* name;
  int FaultyOps::*field;
  int err;
};

class FileSecretSinkFaultTest : public ::testing::TestWithParam<FaultCase> {};

TEST_P(FileSecretSinkFaultTest, AFailedWriteKeepsTheOldContentLeavesNoTempAndSaysWhy) {
  TempDir dir;
  FileSecretSink good(dir.path());
  ASSERT_TRUE(good.Write(FileRef("a.json"), SampleCredential("old-password")).ok());
  const std::string before = ReadFile(dir / "a.json");

  FaultyOps ops;
  ops.*(GetParam().field) = GetParam().err;
  FileSecretSink sink(dir.path(), &ops);
  Status status = sink.Write(FileRef("a.json"), SampleCredential("new-password"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kIo);
  EXPECT_TRUE(status.error().Transient());
  EXPECT_NE(status.error().message.find(dir / "a.json"), std::string::npos)
      << status.error().message;
  EXPECT_NE(status.error().message.find(std::strerror(GetParam().err)), std::string::npos)
      << status.error().message;
  EXPECT_EQ(ReadFile(dir / "a.json"), before);
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"a.json"});
}

INSTANTIATE_TEST_SUITE_P(
    Faults, FileSecretSinkFaultTest,
    ::testing::Values(FaultCase{"ReadOnlyFileSystem", &FaultyOps::fail_open_temp, EROFS},
                      FaultCase{"PermissionDenied", &FaultyOps::fail_open_temp, EACCES},
                      FaultCase{"DiskFull", &FaultyOps::fail_write, ENOSPC},
                      FaultCase{"RenameFails", &FaultyOps::fail_rename, EXDEV}),
    [](const auto& info) { return std::string(info.param.name); });

// Durability is batched: writes and deletes do no fsync of their own, and one Flush syncs the
// file system they are on once, however many there were.
TEST(FileSecretSinkTest, OneFlushSyncsAllWritesAndDeletesSinceTheLast) {
  TempDir dir;
  FaultyOps ops;
  FileSecretSink sink(dir.path(), &ops);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(
        sink.Write(FileRef("r" + std::to_string(i % 5) + "/t" + std::to_string(i) + ".json"),
                   SampleCredential())
            .ok());
  }
  ASSERT_TRUE(sink.Delete(FileRef("r0/t0.json")).ok());
  EXPECT_EQ(ops.fsyncs, 0);
  ASSERT_TRUE(sink.Flush().ok());
  EXPECT_EQ(ops.syncfs_calls, 1);
  ASSERT_TRUE(sink.Flush().ok());  // nothing new: nothing to sync
  EXPECT_EQ(ops.syncfs_calls, 1);
  EXPECT_FALSE(std::filesystem::exists(dir / "r0/t0.json"));
  EXPECT_EQ(Entries(dir / "r1").size(), 10u);
}

TEST(FileSecretSinkTest, AFailedFlushSaysWhyAndTheNextFlushSyncsAgain) {
  TempDir dir;
  FaultyOps ops;
  FileSecretSink sink(dir.path(), &ops);
  ASSERT_TRUE(sink.Write(FileRef("a.json"), SampleCredential()).ok());
  ops.fail_syncfs = EIO;
  Status flushed = sink.Flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.error().kind, ErrorKind::kIo);
  EXPECT_TRUE(flushed.error().Transient());
  EXPECT_NE(flushed.error().message.find(dir.path()), std::string::npos) << flushed.error().message;
  EXPECT_NE(flushed.error().message.find(std::strerror(EIO)), std::string::npos);
  ops.fail_syncfs = 0;
  ASSERT_TRUE(sink.Flush().ok());
  EXPECT_EQ(ops.syncfs_calls, 2);
}

TEST(FileSecretSinkTest, ADeleteOfAnAbsentSecretIsSyncedToo) {
  // An earlier unlink whose sync failed leaves nothing to unlink the second time; the sync must
  // still happen before the caller forgets the secret.
  TempDir dir;
  FaultyOps ops;
  FileSecretSink sink(dir.path(), &ops);
  ASSERT_TRUE(sink.Write(FileRef("a.json"), SampleCredential()).ok());
  ASSERT_TRUE(sink.Flush().ok());
  ASSERT_TRUE(sink.Delete(FileRef("a.json")).ok());
  ASSERT_TRUE(sink.Delete(FileRef("a.json")).ok());
  ASSERT_TRUE(sink.Flush().ok());
  EXPECT_EQ(ops.syncfs_calls, 2);
}

TEST(CompositeSecretSinkTest, DispatchesByKindAndReportsAMissingKubernetesSink) {
  TempDir dir;
  FileSecretSink file(dir.path());
  CompositeSecretSink sink(&file, nullptr);
  ASSERT_TRUE(sink.Write(FileRef("a.json"), SampleCredential()).ok());
  EXPECT_TRUE(sink.Inspect(FileRef("a.json")).value().has_password);
  SecretRef k8s;
  k8s.kind = SecretRef::Kind::kKubernetes;
  k8s.k8s_namespace = "ci";
  k8s.k8s_name = "pull";
  Status status = sink.Write(k8s, SampleCredential());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("kubernetes sink not configured"), std::string::npos);
  EXPECT_FALSE(sink.Inspect(k8s).ok());
}

}  // namespace
}  // namespace crtoken
