#include "daemon/sinks/file_state_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::FileMode;
using test::ReadFile;
using test::TempDir;
using test::WriteFile;
using Phase = OwnershipRecord::Phase;

OwnershipRecord Record(const std::string& name, Phase phase = Phase::kReady) {
  OwnershipRecord r;
  r.registry_id = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
  r.registry_name = "acme";
  r.token_name = name;
  r.token_id = "11111111-2222-5333-8444-555555555555";
  r.generation = 3;
  r.phase = phase;
  r.secret.kind = SecretRef::Kind::kFile;
  r.secret.file = name + ".json";
  r.source_file = "/specs/" + name + ".yaml";
  return r;
}

void ExpectSame(const OwnershipRecord& a, const OwnershipRecord& b) {
  EXPECT_EQ(a.registry_id, b.registry_id);
  EXPECT_EQ(a.registry_name, b.registry_name);
  EXPECT_EQ(a.token_name, b.token_name);
  EXPECT_EQ(a.token_id, b.token_id);
  EXPECT_EQ(a.generation, b.generation);
  EXPECT_EQ(a.phase, b.phase);
  EXPECT_EQ(a.secret, b.secret);
  EXPECT_EQ(a.source_file, b.source_file);
}

TEST(FileStateStoreTest, AMissingStateDirIsEmptyAndOpeningCreatesNothing) {
  TempDir dir;
  auto store = FileStateStore::Open(dir / "state");
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  EXPECT_TRUE(store.value()->Load().value().empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "state"));
}

TEST(FileStateStoreTest, RecordsSurviveAReopenWithEveryField) {
  TempDir dir;
  OwnershipRecord a = Record("ci-push");
  OwnershipRecord b = Record("puller", Phase::kCreating);
  b.secret.kind = SecretRef::Kind::kKubernetes;
  b.secret.file.clear();
  b.secret.k8s_namespace = "team-a";
  b.secret.k8s_name = "pull-secret";
  OwnershipRecord c = Record("held", Phase::kCreated);
  {
    auto store = FileStateStore::Open(dir / "state");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(store.value()->PutAll({a, b}).ok());
    ASSERT_TRUE(store.value()->Put(c).ok());
  }
  EXPECT_EQ(FileMode(dir / "state"), 0700u);
  EXPECT_EQ(FileMode(dir / "state/ownership.json"), 0600u);
  auto store = FileStateStore::Open(dir / "state");
  ASSERT_TRUE(store.ok());
  auto records = store.value()->Load().value();
  ASSERT_EQ(records.size(), 3u);
  ExpectSame(records[0], a);
  ExpectSame(records[1], c);
  ExpectSame(records[2], b);
}

TEST(FileStateStoreTest, PutReplacesAndRemoveForgetsDurably) {
  TempDir dir;
  {
    auto store = FileStateStore::Open(dir.path()).value();
    ASSERT_TRUE(store->PutAll({Record("a"), Record("b"), Record("c")}).ok());
    OwnershipRecord a2 = Record("a", Phase::kCreating);
    a2.generation = 4;
    ASSERT_TRUE(store->Put(a2).ok());
    ASSERT_TRUE(store->Remove(Record("b").key()).ok());
    ASSERT_TRUE(store->Remove(Record("zzz").key()).ok());  // absent: fine
  }
  auto records = FileStateStore::Open(dir.path()).value()->Load().value();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].token_name, "a");
  EXPECT_EQ(records[0].generation, 4);
  EXPECT_EQ(records[0].phase, Phase::kCreating);
  EXPECT_EQ(records[1].token_name, "c");
  {
    auto store = FileStateStore::Open(dir.path()).value();
    ASSERT_TRUE(store->RemoveAll({Record("a").key(), Record("c").key()}).ok());
  }
  EXPECT_TRUE(FileStateStore::Open(dir.path()).value()->Load().value().empty());
}

TEST(FileStateStoreTest, ACorruptFileIsAStartupErrorNamingThePath) {
  TempDir dir;
  const std::vector<std::string> corrupt = {
      "",
      "{\"version\":1,\"records\":[",
      "[]",
      "{\"version\":2,\"records\":[]}",
      "{\"version\":1,\"records\":[{\"registryId\":\"r\",\"tokenName\":\"a\",\"tokenId\":\"i\","
      "\"generation\":0,\"phase\":\"maybe\",\"secret\":{\"file\":\"a.json\"}}]}",
      "{\"version\":1,\"records\":[{\"registryId\":\"r\",\"tokenName\":\"a\",\"tokenId\":\"i\","
      "\"generation\":0,\"phase\":\"ready\"}]}",
  };
  for (const auto& content : corrupt) {
    WriteFile(dir / "ownership.json", content);
    auto store = FileStateStore::Open(dir.path());
    ASSERT_FALSE(store.ok()) << content;
    EXPECT_NE(store.error().message.find(dir / "ownership.json"), std::string::npos);
    EXPECT_NE(store.error().message.find("corrupt"), std::string::npos) << store.error().message;
  }
}

TEST(FileStateStoreTest, TheSerializedFormParsesBack) {
  std::map<TokenKey, OwnershipRecord> records;
  records[Record("a").key()] = Record("a");
  auto parsed = FileStateStore::Parse(FileStateStore::Serialize(records), "x");
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed.value().size(), 1u);
  ExpectSame(parsed.value().begin()->second, Record("a"));
}

TEST(FileStateStoreTest, EveryKindOfRecordAndEveryByteRoundTrips) {
  std::map<TokenKey, OwnershipRecord> records;
  for (Phase phase : {Phase::kCreating, Phase::kCreated, Phase::kReady}) {
    OwnershipRecord r = Record("p" + std::to_string(static_cast<int>(phase)), phase);
    records[r.key()] = r;
  }
  OwnershipRecord k8s = Record("k8s");
  k8s.secret = SecretRef{};
  k8s.secret.kind = SecretRef::Kind::kKubernetes;
  k8s.secret.k8s_namespace = "ci";
  k8s.secret.k8s_name = "pull";
  records[k8s.key()] = k8s;
  OwnershipRecord odd = Record("odd");
  odd.source_file = std::string("/specs/q\"b\\s\n\t\x01\x1f/") + "\xc3\xa9.yaml";
  odd.secret.file = "dir with space/\"x\".json";
  odd.generation = 1000000000;  // the largest the parser accepts
  records[odd.key()] = odd;
  const std::string text = FileStateStore::Serialize(records);
  EXPECT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text;
  auto parsed = FileStateStore::Parse(text, "x");
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  ASSERT_EQ(parsed.value().size(), records.size());
  for (const auto& [key, r] : records) {
    ASSERT_TRUE(parsed.value().count(key)) << r.token_name;
    ExpectSame(parsed.value().at(key), r);
  }
  auto empty = FileStateStore::Parse(FileStateStore::Serialize({}), "x");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value().empty());
}

// A spec file's name need not be UTF-8; the planner matches records to failed files by its bytes,
// so the state file must give them back exactly (and stay valid JSON).
TEST(FileStateStoreTest, ASourceFileNameThatIsNotUtf8RoundTripsThroughTheFile) {
  TempDir dir;
  OwnershipRecord r = Record("cafe");
  r.source_file = "/specs/caf\xe9.yaml";
  OwnershipRecord mixed = Record("mixed");
  mixed.source_file = "/specs/\xc3\xa9t\xe9/\xff\x80\"q\".yaml";
  {
    auto store = FileStateStore::Open(dir.path().string());
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    ASSERT_TRUE(store.value()->PutAll({r, mixed}).ok());
  }
  const std::string text = ReadFile(dir / FileStateStore::kFileName);
  EXPECT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text;
  auto reopened = FileStateStore::Open(dir.path().string());
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  auto loaded = reopened.value()->Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded.value().size(), 2u);
  for (const OwnershipRecord& got : loaded.value()) {
    ExpectSame(got, got.token_name == "cafe" ? r : mixed);
  }
  // A damaged byte field is a clear error, never a silently different name.
  std::string bad = text;
  const size_t at = bad.find("\"sourceFileHex\": \"");
  ASSERT_NE(at, std::string::npos) << text;
  bad.insert(at + 18, "zz");
  auto parsed = FileStateStore::Parse(bad, "x");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("sourceFileHex"), std::string::npos);
}

class FullDisk : public FileOps {
 public:
  bool full = false;
  ssize_t Write(int fd, const void* data, size_t size) override {
    if (full) {
      errno = ENOSPC;
      return -1;
    }
    return FileOps::Write(fd, data, size);
  }
};

TEST(FileStateStoreTest, AFailedWriteChangesNeitherTheFileNorTheMemory) {
  TempDir dir;
  FullDisk ops;
  auto store = FileStateStore::Open(dir.path(), &ops).value();
  ASSERT_TRUE(store->Put(Record("a")).ok());
  const std::string before = ReadFile(dir / "ownership.json");
  ops.full = true;
  Status status = store->Put(Record("b"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kIo);
  EXPECT_NE(status.error().message.find("No space left on device"), std::string::npos);
  EXPECT_EQ(store->Load().value().size(), 1u);
  EXPECT_EQ(ReadFile(dir / "ownership.json"), before);
  EXPECT_FALSE(store->Remove(Record("a").key()).ok());
  EXPECT_EQ(store->Load().value().size(), 1u);
}

TEST(FileStateStoreTest, ASecondWriterOnTheSameStateDirIsRefused) {
  TempDir dir;
  auto first = FileStateStore::Open(dir.path()).value();
  ASSERT_TRUE(first->Put(Record("a")).ok());
  auto second = FileStateStore::Open(dir.path()).value();  // reading is fine
  EXPECT_EQ(second->Load().value().size(), 1u);
  Status status = second->Put(Record("b"));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("in use"), std::string::npos);
}

}  // namespace
}  // namespace crtoken
