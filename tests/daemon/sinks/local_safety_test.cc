// The file sink against what can sit at a path instead of a secret file: a FIFO (an open for
// reading waits for a writer, forever), a socket, a directory, a huge sparse file, a file left
// readable by others. Each is refused by name, in bounded time, without being
// read; nothing is replaced that was not a regular file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <sstream>

#include "daemon/sinks/file_secret_sink.h"
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

// Runs `fn` and fails the test if it has not returned after a generous deadline. A call stuck
// opening the FIFO `fifo` is then released (a writer comes and goes), so the test ends either way.
template <typename T>
T WithinDeadline(const std::string& fifo, std::function<T()> fn) {
  auto result = std::async(std::launch::async, std::move(fn));
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "still blocked on " << fifo << " after 10 s";
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) ::close(writer);
  }
  return result.get();
}

std::string ErrorOf(const Result<SecretState>& r) { return r.ok() ? "" : r.error().message; }
std::string ErrorOf(const Status& s) { return s.ok() ? "" : s.error().message; }

TEST(LocalSafetyTest, AFifoAtTheSecretPathIsRefusedInBoundedTimeAndNotReplaced) {
  TempDir dir;
  const std::string fifo = dir / "ci-push.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  FileSecretSink sink(dir.path());

  // Inspect reports the FIFO as a place crtoken must not write (a planner problem), unopened.
  auto inspected = WithinDeadline<Result<SecretState>>(
      fifo, [&] { return sink.Inspect(FileRef("ci-push.json")); });
  ASSERT_TRUE(inspected.ok()) << inspected.error().ToString();
  EXPECT_EQ(inspected.value().conflict,
            fifo + " is a FIFO, not a secret file: remove it, or point secret.file elsewhere");

  Status written = sink.Write(FileRef("ci-push.json"), SampleCredential());
  EXPECT_EQ(ErrorOf(written), "refusing to write " + fifo + ": it is a FIFO, not a regular file");
  struct stat st;
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
}

// The check before the open cannot see a FIFO that takes the file's place just after it: the open
// itself must not block, and the fstat after it refuses what was opened.
class SwapInFifoOps : public FileOps {
 public:
  explicit SwapInFifoOps(std::string path) : path_(std::move(path)) {}
  int OpenAt(int dirfd, const char* path, int flags, mode_t mode) override {
    if (!swapped_ && (flags & O_DIRECTORY) == 0 && (flags & O_CREAT) == 0) {
      swapped_ = true;
      ::unlink(path_.c_str());
      ::mkfifo(path_.c_str(), 0600);
    }
    return FileOps::OpenAt(dirfd, path, flags, mode);
  }

 private:
  std::string path_;
  bool swapped_ = false;
};

TEST(LocalSafetyTest, AFifoSwappedInJustBeforeTheOpenDoesNotBlockIt) {
  TempDir dir;
  FileSecretSink writer(dir.path());
  ASSERT_TRUE(writer.Write(FileRef("a.json"), SampleCredential()).ok());
  SwapInFifoOps ops(dir / "a.json");
  FileSecretSink sink(dir.path(), &ops);
  auto inspected = WithinDeadline<Result<SecretState>>(
      dir / "a.json", [&] { return sink.Inspect(FileRef("a.json")); });
  EXPECT_EQ(ErrorOf(inspected),
            "refusing to read " + (dir / "a.json").string() + ": it is a FIFO, not a regular file");
}

TEST(LocalSafetyTest, ASocketOrADirectoryAtTheSecretPathIsRefusedByName) {
  TempDir dir;
  const std::string sock_path = dir / "sock.json";
  int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock_path.size(), sizeof(addr.sun_path));
  std::strcpy(addr.sun_path, sock_path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::filesystem::create_directory(dir / "dir.json");
  FileSecretSink sink(dir.path());

  auto sock_state = sink.Inspect(FileRef("sock.json"));
  ASSERT_TRUE(sock_state.ok()) << sock_state.error().ToString();
  EXPECT_EQ(
      sock_state.value().conflict,
      sock_path + " is a socket, not a secret file: remove it, or point secret.file elsewhere");
  EXPECT_EQ(ErrorOf(sink.Write(FileRef("sock.json"), SampleCredential())),
            "refusing to write " + sock_path + ": it is a socket, not a regular file");
  auto dir_state = sink.Inspect(FileRef("dir.json"));
  ASSERT_TRUE(dir_state.ok()) << dir_state.error().ToString();
  EXPECT_EQ(dir_state.value().conflict, (dir / "dir.json").string() +
                                            " is a directory, not a secret file: remove it, or "
                                            "point secret.file elsewhere");
  EXPECT_EQ(ErrorOf(sink.Write(FileRef("dir.json"), SampleCredential())),
            "refusing to write " + (dir / "dir.json").string() +
                ": it is a directory, not a regular file");
  ::close(sock);
  EXPECT_TRUE(std::filesystem::is_socket(sock_path));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "dir.json"));
}

TEST(LocalSafetyTest, AFileOverTheSizeLimitIsRefusedUnreadAndOneAtTheLimitIsRead) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  const size_t limit = FileSecretSink::kMaxSecretFileBytes;
  EXPECT_EQ(limit, size_t{1} << 20);

  WriteFile(dir / "at-limit.json", std::string(limit, ' '));
  auto at_limit = sink.Inspect(FileRef("at-limit.json"));
  ASSERT_TRUE(at_limit.ok()) << at_limit.error().ToString();
  EXPECT_TRUE(at_limit.value().exists);
  EXPECT_FALSE(at_limit.value().has_password);

  WriteFile(dir / "over.json", std::string(limit + 1, ' '));
  EXPECT_EQ(ErrorOf(sink.Inspect(FileRef("over.json"))),
            "refusing to read " + (dir / "over.json").string() +
                ": it is 1048577 bytes, over the limit of " + "1048576 bytes");

  // 3 GB of nothing, which read whole would take 3 GB of memory.
  WriteFile(dir / "sparse.json", "");
  ASSERT_EQ(::truncate((dir / "sparse.json").c_str(), off_t{3} << 30), 0);
  auto sparse = sink.Inspect(FileRef("sparse.json"));
  ASSERT_FALSE(sparse.ok());
  EXPECT_EQ(sparse.error().kind, ErrorKind::kIo);
  EXPECT_EQ(sparse.error().message,
            "refusing to read " + (dir / "sparse.json").string() +
                ": it is 3221225472 bytes, over the limit of 1048576 bytes");
  // A write still replaces an oversized regular file with the secret.
  ASSERT_TRUE(sink.Write(FileRef("sparse.json"), SampleCredential()).ok());
  EXPECT_LT(std::filesystem::file_size(dir / "sparse.json"), 1024u);
}

// A secret file readable by others, or someone else's, is reported once (no password in the
// line); a write replaces it with a fresh 0600 file of this process, so a hard link to the old one
// never sees the new password.
TEST(LocalSafetyTest, ALooseSecretFileIsReportedOnceAndAWriteReplacesItWithA0600File) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  ASSERT_TRUE(sink.Write(FileRef("a.json"), SampleCredential()).ok());
  ASSERT_EQ(::chmod((dir / "a.json").c_str(), 0644), 0);
  ASSERT_EQ(::link((dir / "a.json").c_str(), (dir / "kept-link").c_str()), 0);
  const std::string old_content = ReadFile(dir / "kept-link");

  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  spdlog::set_default_logger(logger);
  EXPECT_TRUE(sink.Inspect(FileRef("a.json")).ok());
  EXPECT_TRUE(sink.Inspect(FileRef("a.json")).ok());
  spdlog::set_default_logger(previous);
  const std::string log = captured.str();
  EXPECT_NE(log.find("secret file " + (dir / "a.json").string() + " has mode 0644"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("has mode", log.find("has mode") + 1), std::string::npos) << log;
  EXPECT_EQ(log.find("s3cret"), std::string::npos) << log;

  DockerCredential fresh{"acme.cr.de-fra.ionos.com", "ci-push", Password("n3w-password"),
                         SecretRecord{}};
  ASSERT_TRUE(sink.Write(FileRef("a.json"), fresh).ok());
  EXPECT_EQ(FileMode(dir / "a.json"), 0600u);
  EXPECT_NE(ReadFile(dir / "a.json").find("n3w-password"), std::string::npos);
  EXPECT_EQ(ReadFile(dir / "kept-link"), old_content);
}

}  // namespace
}  // namespace crtoken
