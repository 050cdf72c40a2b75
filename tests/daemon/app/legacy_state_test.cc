// The read-only reader of the ownership.json of earlier versions: the committed fixtures, written
// by the old writer itself, read back field by field; corruption and misplaced files are clear
// errors in bounded time, never "nothing to migrate".
#include "daemon/app/legacy_state.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>

#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::ReadFile;
using test::TempDir;
using test::WriteFile;
using Phase = LegacyRecord::Phase;
namespace fs = std::filesystem;

const std::string kFixtures = std::string(CRTOKEN_SOURCE_DIR) + "/tests/daemon/app/legacy";
constexpr char kAcme[] = "5c4d7a52-3b1e-4f0a-9a8d-2e6c1b7f9d30";
constexpr char kBeta[] = "9e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";

SecretRef File(const std::string& path) {
  SecretRef ref;
  ref.file = path;
  return ref;
}

// Reads `fixture` as <dir>/ownership.json.
Result<std::optional<std::vector<LegacyRecord>>> ReadFixture(const TempDir& dir,
                                                             const std::string& fixture) {
  WriteFile(dir / "ownership.json", ReadFile(kFixtures + "/" + fixture));
  return ReadLegacyState(dir.path().string());
}

TEST(LegacyStateTest, TheOldWritersFileReadsBackRecordByRecord) {
  TempDir dir;
  auto read = ReadFixture(dir, "ownership.json");
  ASSERT_TRUE(read.ok()) << read.error().message;
  ASSERT_TRUE(read.value().has_value());
  const std::vector<LegacyRecord>& records = *read.value();
  struct Want {
    std::string name, id;
    int generation;
    Phase phase;
    std::string file, source;
  };
  const std::vector<Want> want = {
      {"ci-push", "f1fc240c-3483-54f7-b784-8fd0b5dba10f", 0, Phase::kReady, "ci-push.json",
       "/specs/ci-push.yaml"},
      {"deployer", "72622fd6-9528-59f1-a8db-5f250611fd47", 2, Phase::kReady, "teams/deployer.json",
       "/specs/teams.yaml"},
      {"half-made", "1e13f05b-3b97-509a-be86-bb58767d0c68", 0, Phase::kCreated, "half-made.json",
       "/specs/half-made.yaml"},
      {"intent", "d15f50b3-9eeb-5d70-adb2-e080f6299954", 1, Phase::kCreating, "intent.json",
       "/specs/intent.yaml"},
      {"lost-secret", "74d0f36b-c0a4-57a3-a8e3-3b8edfcc05d6", 0, Phase::kReady, "lost-secret.json",
       "/specs/lost-secret.yaml"},
      {"retired", "7b8dc6e4-4403-54e8-9029-52a764c06d8a", 0, Phase::kReady, "retired.json",
       "/specs/retired.yaml"},
  };
  ASSERT_EQ(records.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const LegacyRecord& r = records[i];
    EXPECT_EQ(r.registry_id, kAcme);
    EXPECT_EQ(r.registry_name, "acme");
    EXPECT_EQ(r.token_name, want[i].name);
    EXPECT_EQ(r.token_id, want[i].id) << want[i].name;
    EXPECT_EQ(r.generation, want[i].generation) << want[i].name;
    EXPECT_EQ(r.phase, want[i].phase) << want[i].name;
    EXPECT_EQ(r.secret, File(want[i].file)) << want[i].name;
    EXPECT_EQ(r.source_file, want[i].source) << want[i].name;
  }
  // Reading changes nothing.
  EXPECT_EQ(ReadFile(dir / "ownership.json"), ReadFile(kFixtures + "/ownership.json"));
}

TEST(LegacyStateTest, EveryFormOfTheFormatReadsBack) {
  TempDir dir;
  auto read = ReadFixture(dir, "ownership-every-field.json");
  ASSERT_TRUE(read.ok()) << read.error().message;
  const std::vector<LegacyRecord>& records = *read.value();
  ASSERT_EQ(records.size(), 3u);
  // In (registry id, token name) order.
  EXPECT_EQ(records[0].registry_id, kAcme);
  EXPECT_EQ(records[0].token_name, "ci-push");
  EXPECT_EQ(records[0].phase, Phase::kCreated);
  EXPECT_EQ(records[0].secret, File("nested/dir/ci \"push\".json"));

  EXPECT_EQ(records[1].registry_id, kBeta);
  EXPECT_EQ(records[1].token_name, "puller");
  EXPECT_EQ(records[1].generation, 3);
  EXPECT_EQ(records[1].secret.kind, SecretRef::Kind::kKubernetes);
  EXPECT_EQ(records[1].secret.k8s_namespace, "team-a");
  EXPECT_EQ(records[1].secret.k8s_name, "pull-secret");
  EXPECT_EQ(records[1].source_file, "/specs/caf\xe9.yaml");  // the exact bytes, from the hex

  EXPECT_EQ(records[2].token_name, "unnamed");
  EXPECT_EQ(records[2].registry_name, "");
  EXPECT_EQ(records[2].source_file, "");
  EXPECT_EQ(records[2].phase, Phase::kCreating);
  EXPECT_EQ(records[2].generation, 7);
}

TEST(LegacyStateTest, NoFileOrNoStateDirIsNothingToMigrateAndCreatesNothing) {
  TempDir dir;
  auto absent = ReadLegacyState((dir / "state").string());
  ASSERT_TRUE(absent.ok()) << absent.error().message;
  EXPECT_FALSE(absent.value().has_value());
  EXPECT_FALSE(fs::exists(dir / "state"));
  auto empty_dir = ReadLegacyState(dir.path().string());
  ASSERT_TRUE(empty_dir.ok());
  EXPECT_FALSE(empty_dir.value().has_value());
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(LegacyStateTest, ACorruptFileIsAnErrorNamingThePathAndWhatIsWrong) {
  TempDir dir;
  const std::string record =
      "\"registryId\":\"r\",\"tokenName\":\"a\",\"tokenId\":\"i\",\"generation\":0,"
      "\"phase\":\"ready\",\"secret\":{\"file\":\"a.json\"}";
  const std::vector<std::pair<std::string, std::string>> corrupt = {
      {"", "not valid JSON"},
      {"{\"version\":1,\"records\":[", "not valid JSON"},
      {"[]", "not a JSON object"},
      {"{\"records\":[]}", "no version"},
      {"{\"version\":2,\"records\":[]}", "unknown version 2"},
      {"{\"version\":1}", "no records list"},
      {"{\"version\":1,\"records\":[7]}", "record 0 is not an object"},
      {"{\"version\":1,\"records\":[{" + record + ",\"phase\":\"maybe\"}]}",
       "record 0: unknown phase \"maybe\""},
      {"{\"version\":1,\"records\":[{\"registryId\":\"r\",\"tokenName\":\"a\",\"tokenId\":\"i\","
       "\"generation\":0,\"phase\":\"ready\"}]}",
       "record 0: bad secret"},
      {"{\"version\":1,\"records\":[{" + record + ",\"generation\":-1}]}",
       "record 0: bad generation"},
      {"{\"version\":1,\"records\":[{" + record + ",\"tokenId\":\"\"}]}", "record 0: bad tokenId"},
      {"{\"version\":1,\"records\":[{" + record + ",\"sourceFileHex\":\"zz\"}]}",
       "record 0: bad sourceFileHex"},
      {"{\"version\":1,\"records\":[{" + record + "},{" + record + "}]}",
       "record 1: a second record for r/a"},
  };
  const std::string path = (dir / "ownership.json").string();
  for (const auto& [content, why] : corrupt) {
    WriteFile(dir / "ownership.json", content);
    auto read = ReadLegacyState(dir.path().string());
    ASSERT_FALSE(read.ok()) << content;
    EXPECT_EQ(read.error().kind, ErrorKind::kInvalid);
    EXPECT_EQ(read.error().message,
              "state file " + path + " is corrupt (" + why +
                  "); it records which tokens an earlier crtoken owned, to be migrated: restore "
                  "it from a backup or, if nothing is owned, remove it")
        << content;
    EXPECT_EQ(ReadFile(path), content);
  }
}

TEST(LegacyStateTest, AFifoOrADirectoryInThePlaceOfTheFileIsAnErrorNotAHang) {
  TempDir dir;
  const std::string fifo = (dir / "ownership.json").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto read = std::async(std::launch::async, [&] { return ReadLegacyState(dir.path().string()); });
  if (read.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "still blocked on " << fifo << " after 10 s";
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) ::close(writer);
  }
  auto result = read.get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "refusing to read " + fifo + ": it is a FIFO, not a regular file");

  ASSERT_EQ(::unlink(fifo.c_str()), 0);
  fs::create_directory(fifo);
  auto directory = ReadLegacyState(dir.path().string());
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().message.find(fifo), std::string::npos) << directory.error().message;
}

}  // namespace
}  // namespace crtoken
