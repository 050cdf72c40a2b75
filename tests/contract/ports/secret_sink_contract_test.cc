// The SecretSink contract (reconciler/secret_sink.h) as one list of scenarios, run against the
// MemorySecretSink that the engine tests rely on (once with file refs, once with Kubernetes refs),
// FileSecretSink in a temp dir, and KubernetesSecretSink against the Kubernetes API emulator
// (tests/support/k8s_emulator). The real sinks are the truth: where the memory sink differs, it is
// wrong. Every sink keeps a secret's record with its password, lists the secrets of an owner, and
// stamps a record onto a secret written without one.
#include <cpprest/http_client.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "daemon/sinks/docker_config.h"
#include "daemon/sinks/file_secret_sink.h"
#include "daemon/sinks/kubernetes_secret_sink.h"
#include "reconciler/secret_sink.h"
#include "tests/support/fakes.h"
#include "tests/support/file_capabilities.h"
#include "tests/support/k8s_emulator/k8s_emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kHost[] = "acme-prod.cr.de-fra.ionos.com";
constexpr char kNamespace[] = "team-a";
constexpr char kKubeToken[] = "contract-kube-token";
// A token that may read and write Secrets in namespaces but not list them at the cluster scope.
constexpr char kNamespacedKubeToken[] = "contract-namespaced-kube-token";

// The record of token `username` with id `token_id` as `owner` writes it; none for an empty id.
SecretRecord RecordOf(const std::string& owner, const std::string& username,
                      const std::string& token_id) {
  if (token_id.empty()) return {};
  return SecretRecord{owner, "reg-0001", username, token_id};
}

SecretRef FileRef(const std::string& name) {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kFile;
  ref.file = "team-a/" + name + ".json";
  return ref;
}

SecretRef KubeRef(const std::string& name) {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = kNamespace;
  ref.k8s_name = name;
  return ref;
}

// One implementation under test, with the refs it serves and a way to put something crtoken does
// not own in a ref's place.
class SinkHarness {
 public:
  virtual ~SinkHarness() = default;
  virtual SecretSink& sink() = 0;
  virtual SecretRef Ref(const std::string& name) = 0;
  // The owner this test writes as (the Kubernetes emulator is shared by the suite's tests: each
  // takes an owner of its own, so that List sees only its own secrets).
  virtual std::string Owner() { return "team-a"; }
  // Occupies `ref`'s place with something crtoken must not overwrite or remove.
  virtual void PlantForeign(const SecretRef& ref) = 0;
  // The password stored at `ref`, read behind the sink's back ("" when there is none).
  virtual std::string StoredPassword(const SecretRef& ref) = 0;
  // List(owner) where the sink cannot see everything it would have to list: an unreadable
  // directory (file sink), no permission to list at the cluster scope (Kubernetes sink), a failing
  // list (memory sink). nullopt when this environment cannot make the place unreadable.
  virtual std::optional<Result<std::vector<ListedSecret>>> ListWhereUnreadable(
      const std::string& owner) = 0;
};

class MemoryFileHarness : public SinkHarness {
 public:
  SecretSink& sink() override { return sink_; }
  SecretRef Ref(const std::string& name) override { return FileRef(name); }
  void PlantForeign(const SecretRef& ref) override {
    sink_.SetForeign(ref.ToString(), "a directory is where " + ref.ToString() + " goes");
  }
  std::string StoredPassword(const SecretRef& ref) override {
    auto credential = sink_.Get(ref.ToString());
    return credential ? credential->password.Reveal() : "";
  }
  std::optional<Result<std::vector<ListedSecret>>> ListWhereUnreadable(
      const std::string& owner) override {
    sink_.fail_list = true;
    auto listed = sink_.List(owner);
    sink_.fail_list = false;
    return listed;
  }

 protected:
  test::MemorySecretSink sink_;
};

class MemoryKubernetesHarness : public MemoryFileHarness {
 public:
  SecretRef Ref(const std::string& name) override { return KubeRef(name); }
  void PlantForeign(const SecretRef& ref) override {
    sink_.SetForeign(ref.ToString(), "Secret " + ref.k8s_namespace + "/" + ref.k8s_name +
                                         " exists and is not managed by crtoken");
  }
};

class FileHarness : public SinkHarness {
 public:
  FileHarness() : sink_((dir_ / "secrets").string()) {}
  SecretSink& sink() override { return sink_; }
  SecretRef Ref(const std::string& name) override { return FileRef(name); }
  void PlantForeign(const SecretRef& ref) override {
    // A directory where the secret file goes, with something in it.
    const fs::path place = dir_ / "secrets" / ref.file;
    fs::create_directories(place);
    std::ofstream(place / "keep.txt") << "not crtoken's";
  }
  std::string StoredPassword(const SecretRef& ref) override {
    auto credential = ReadDockerCredential(test::ReadFile(dir_ / "secrets" / ref.file));
    return credential ? credential->password.Reveal() : "";
  }
  std::optional<Result<std::vector<ListedSecret>>> ListWhereUnreadable(
      const std::string& owner) override {
    // A directory of secrets that crtoken's user cannot open (root reads through permissions:
    // this thread gives up that capability while it lists).
    const fs::path team = dir_ / "secrets" / "team-a";
    fs::create_directories(team);
    fs::permissions(team, fs::perms::none);
    std::optional<Result<std::vector<ListedSecret>>> listed;
    {
      test::WithoutFileCapabilities as_a_user;
      if (as_a_user.ok()) listed = sink_.List(owner);
    }
    fs::permissions(team, fs::perms::owner_all);
    return listed;
  }

 private:
  test::TempDir dir_{"crtoken-sink-contract"};
  FileSecretSink sink_;
};

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string B64(const std::string& s) {
  return utility::conversions::to_base64(std::vector<unsigned char>(s.begin(), s.end()));
}

// One Kubernetes API emulator for the whole suite (it takes a moment to start); each test uses
// Secret names of its own.
class KubernetesHarness : public SinkHarness {
 public:
  KubernetesHarness() : prefix_("t" + std::to_string(++tests_) + "-") {
    if (!emulator_->started()) throw std::runtime_error("k8s emulator: " + emulator_->first_line());
    sink_ = MakeSink(kKubeToken);
  }
  static std::unique_ptr<KubernetesSecretSink> MakeSink(const std::string& token) {
    KubernetesConfig config;
    config.server = emulator_->Server();
    config.ca_pem = ReadAll(emulator_->CaFile());
    config.token = token;
    config.source = "contract test";
    KubernetesSinkOptions options;
    options.backoff = 1ms;
    options.request_timeout = 10s;
    options.list_page_size = 3;  // the suite's Secrets take several pages
    options.env = [](const std::string&) { return std::optional<std::string>(); };
    auto sink = KubernetesSecretSink::Create(config, options);
    if (!sink.ok()) throw std::runtime_error(sink.error().ToString());
    return std::move(sink.value());
  }
  static void StartEmulator() {
    emulator_ = new test::K8sEmulatorProcess(
        CRTOKEN_PYTHON,
        std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py",
        {"--token", kKubeToken, "--namespaced-token", kNamespacedKubeToken, "--namespace",
         kNamespace});
  }
  static void StopEmulator() {
    delete emulator_;
    emulator_ = nullptr;
  }

  SecretSink& sink() override { return *sink_; }
  SecretRef Ref(const std::string& name) override { return KubeRef(prefix_ + name); }
  std::string Owner() override { return prefix_ + "owner"; }
  void PlantForeign(const SecretRef& ref) override {
    // A pull secret someone made by hand: no managed-by label, though it carries this test's
    // owner label (List must not take it for crtoken's).
    const std::string config = R"({"auths":{"other.example":{"username":"u","password":"p"}}})";
    const json body = {{"metadata", {{"name", ref.k8s_name}, {"labels", {{kOwnerLabel, Owner()}}}}},
                       {"type", "kubernetes.io/dockerconfigjson"},
                       {"data", {{".dockerconfigjson", B64(config)}}}};
    auto [status, _] =
        Api(web::http::methods::POST, "/api/v1/namespaces/" + ref.k8s_namespace + "/secrets", body);
    if (status != 201) {
      throw std::runtime_error("planting " + ref.ToString() + ": HTTP " + std::to_string(status));
    }
  }
  std::string StoredPassword(const SecretRef& ref) override {
    auto [status, obj] =
        Api(web::http::methods::GET,
            "/api/v1/namespaces/" + ref.k8s_namespace + "/secrets/" + ref.k8s_name, nullptr);
    if (status != 200) return "";
    auto data =
        utility::conversions::from_base64(obj["data"][".dockerconfigjson"].get<std::string>());
    auto credential = ReadDockerCredential(std::string(data.begin(), data.end()));
    return credential ? credential->password.Reveal() : "";
  }
  std::optional<Result<std::vector<ListedSecret>>> ListWhereUnreadable(
      const std::string& owner) override {
    return MakeSink(kNamespacedKubeToken)->List(owner);
  }

 private:
  // One request to the emulator with the full-access token: (status, parsed body).
  static std::pair<int, json> Api(const web::http::method& method, const std::string& path,
                                  const json& body) {
    web::http::client::http_client_config cfg;
    const std::string ca = ReadAll(emulator_->CaFile());
    cfg.set_ssl_context_callback([ca](boost::asio::ssl::context& ctx) {
      ctx.add_certificate_authority(boost::asio::buffer(ca));
    });
    web::http::client::http_client client(emulator_->Server(), cfg);
    web::http::http_request req(method);
    req.set_request_uri(path);
    req.headers().add("Authorization", std::string("Bearer ") + kKubeToken);
    if (!body.is_null()) req.set_body(body.dump(), "application/json");
    auto resp = client.request(req).get();
    const std::string text = resp.extract_utf8string(true).get();
    return {resp.status_code(), json::parse(text, nullptr, /*allow_exceptions=*/false)};
  }

  static inline test::K8sEmulatorProcess* emulator_ = nullptr;
  static inline std::atomic<int> tests_{0};
  std::string prefix_;
  std::unique_ptr<KubernetesSecretSink> sink_;
};

template <typename H>
class SecretSinkContract : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if constexpr (std::is_same_v<H, KubernetesHarness>) KubernetesHarness::StartEmulator();
  }
  static void TearDownTestSuite() {
    if constexpr (std::is_same_v<H, KubernetesHarness>) KubernetesHarness::StopEmulator();
  }

  SecretSink& sink() { return h_.sink(); }
  SecretRef Ref(const std::string& name) { return h_.Ref(name); }
  SecretState MustInspect(const SecretRef& ref) {
    auto state = sink().Inspect(ref);
    EXPECT_TRUE(state.ok()) << ref.ToString() << ": " << state.error().ToString();
    return state.ok() ? state.value() : SecretState{};
  }
  std::string Owner() { return h_.Owner(); }
  // The credential of token `username` as this test's owner writes it (no record without an id).
  DockerCredential Cred(const std::string& username, const std::string& password,
                        const std::string& token_id, const std::string& hostname = kHost) {
    return DockerCredential{hostname, username, Password(password),
                            RecordOf(Owner(), username, token_id)};
  }
  SecretRecord Record(const std::string& username, const std::string& token_id) {
    return RecordOf(Owner(), username, token_id);
  }
  std::vector<SecretRef> ListedRefs(const std::string& owner) {
    auto listed = sink().List(owner);
    EXPECT_TRUE(listed.ok()) << listed.error().ToString();
    std::vector<SecretRef> out;
    if (!listed.ok()) return out;
    for (const ListedSecret& s : listed.value()) {
      EXPECT_EQ(s.record.owner, owner) << s.ref.ToString();
      out.push_back(s.ref);
    }
    return out;
  }

  H h_;
};

using Implementations =
    ::testing::Types<MemoryFileHarness, MemoryKubernetesHarness, FileHarness, KubernetesHarness>;
class ImplementationNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, MemoryFileHarness>) return "MemoryWithFileRefs";
    if (std::is_same_v<T, MemoryKubernetesHarness>) return "MemoryWithKubernetesRefs";
    if (std::is_same_v<T, FileHarness>) return "File";
    return "KubernetesOnEmulator";
  }
};
TYPED_TEST_SUITE(SecretSinkContract, Implementations, ImplementationNames);

TYPED_TEST(SecretSinkContract, AnAbsentSecretDoesNotExist) {
  SecretState state = this->MustInspect(this->Ref("nothing-here"));
  EXPECT_FALSE(state.exists);
  EXPECT_FALSE(state.has_password);
  EXPECT_EQ(state.hostname, "");
  EXPECT_EQ(state.username, "");
  EXPECT_EQ(state.record, SecretRecord{});
  EXPECT_EQ(state.conflict, "");
}

TYPED_TEST(SecretSinkContract, InspectShowsWhatWriteStoredButNotThePassword) {
  const SecretRef ref = this->Ref("pull");
  Status written = this->sink().Write(ref, this->Cred("ci-push", "s3cr3t", "tok-1"));
  ASSERT_TRUE(written.ok()) << written.error().ToString();
  SecretState state = this->MustInspect(ref);
  EXPECT_TRUE(state.exists);
  EXPECT_TRUE(state.has_password);
  EXPECT_EQ(state.hostname, kHost);
  EXPECT_EQ(state.username, "ci-push");
  EXPECT_EQ(state.record, this->Record("ci-push", "tok-1"));
  EXPECT_EQ(state.conflict, "");
}

// A Write replaces the whole credential: nothing of the previous one is left.
TYPED_TEST(SecretSinkContract, WriteReplacesEverythingTheSecretHeld) {
  const SecretRef ref = this->Ref("pull");
  ASSERT_TRUE(this->sink().Write(ref, this->Cred("ci-push", "first", "tok-1")).ok());
  Status rewritten = this->sink().Write(
      ref, this->Cred("ci-pull", "second", "tok-2", "acme-dev.cr.de-fra.ionos.com"));
  ASSERT_TRUE(rewritten.ok()) << rewritten.error().ToString();
  SecretState state = this->MustInspect(ref);
  EXPECT_TRUE(state.exists);
  EXPECT_TRUE(state.has_password);
  EXPECT_EQ(state.hostname, "acme-dev.cr.de-fra.ionos.com");
  EXPECT_EQ(state.username, "ci-pull");
  EXPECT_EQ(state.record, this->Record("ci-pull", "tok-2"));

  // A credential without a record leaves none behind from before.
  ASSERT_TRUE(this->sink().Write(ref, this->Cred("ci-pull", "third", "")).ok());
  state = this->MustInspect(ref);
  EXPECT_EQ(state.record, SecretRecord{});
  EXPECT_EQ(state.hostname, kHost);
}

TYPED_TEST(SecretSinkContract, DeleteRemovesTheSecretAndIsIdempotent) {
  const SecretRef ref = this->Ref("pull");
  ASSERT_TRUE(this->sink().Write(ref, this->Cred("ci-push", "s3cr3t", "tok-1")).ok());
  Status deleted = this->sink().Delete(ref);
  ASSERT_TRUE(deleted.ok()) << deleted.error().ToString();
  EXPECT_FALSE(this->MustInspect(ref).exists);

  Status again = this->sink().Delete(ref);
  EXPECT_TRUE(again.ok()) << again.error().ToString();
  Status never = this->sink().Delete(this->Ref("never-written"));
  EXPECT_TRUE(never.ok()) << never.error().ToString();
  EXPECT_FALSE(this->MustInspect(this->Ref("never-written")).exists);
}

TYPED_TEST(SecretSinkContract, SecretsOfDifferentNamesAreKeptApart) {
  const SecretRef a = this->Ref("pull-a");
  const SecretRef b = this->Ref("pull-b");
  ASSERT_TRUE(this->sink().Write(a, this->Cred("user-a", "pw-a", "tok-a")).ok());
  ASSERT_TRUE(this->sink().Write(b, this->Cred("user-b", "pw-b", "tok-b")).ok());
  EXPECT_EQ(this->MustInspect(a).username, "user-a");
  EXPECT_EQ(this->MustInspect(b).username, "user-b");

  ASSERT_TRUE(this->sink().Delete(a).ok());
  EXPECT_FALSE(this->MustInspect(a).exists);
  SecretState kept = this->MustInspect(b);
  EXPECT_TRUE(kept.exists);
  EXPECT_TRUE(kept.has_password);
  EXPECT_EQ(kept.username, "user-b");
  EXPECT_EQ(kept.record, this->Record("user-b", "tok-b"));
}

TYPED_TEST(SecretSinkContract, FlushKeepsWhatWasWrittenAndDeleted) {
  const SecretRef kept = this->Ref("kept");
  const SecretRef gone = this->Ref("gone");
  ASSERT_TRUE(this->sink().Write(kept, this->Cred("ci-push", "s3cr3t", "tok-1")).ok());
  ASSERT_TRUE(this->sink().Write(gone, this->Cred("ci-pull", "s3cr3t", "tok-2")).ok());
  ASSERT_TRUE(this->sink().Delete(gone).ok());
  Status flushed = this->sink().Flush();
  ASSERT_TRUE(flushed.ok()) << flushed.error().ToString();
  EXPECT_EQ(this->MustInspect(kept).username, "ci-push");
  EXPECT_FALSE(this->MustInspect(gone).exists);
  // Nothing pending: a Flush is still fine.
  EXPECT_TRUE(this->sink().Flush().ok());
}

// A place held by something crtoken does not own: Inspect says so (and reads nothing else), and
// neither Write nor Delete touches it.
TYPED_TEST(SecretSinkContract, APlaceThatIsNotCrtokensIsAConflictAndLeftAlone) {
  const SecretRef ref = this->Ref("theirs");
  this->h_.PlantForeign(ref);
  SecretState state = this->MustInspect(ref);
  EXPECT_TRUE(state.exists);
  EXPECT_NE(state.conflict, "");
  EXPECT_FALSE(state.has_password);
  EXPECT_EQ(state.hostname, "");
  EXPECT_EQ(state.username, "");
  EXPECT_EQ(state.record, SecretRecord{});

  Status written = this->sink().Write(ref, this->Cred("ci-push", "s3cr3t", "tok-1"));
  EXPECT_FALSE(written.ok()) << "Write replaced a place that is not crtoken's";
  Status deleted = this->sink().Delete(ref);
  EXPECT_FALSE(deleted.ok()) << "Delete removed a place that is not crtoken's";

  SecretState after = this->MustInspect(ref);
  EXPECT_TRUE(after.exists);
  EXPECT_NE(after.conflict, "");
  EXPECT_EQ(after.username, "");
}

// List: this owner's secrets only, whole records, in ref order; what is written and deleted shows
// at once. Another owner's secrets, secrets without a record and places that are not crtoken's are
// not listed.
TYPED_TEST(SecretSinkContract, ListShowsThisOwnersSecretsInRefOrder) {
  const SecretRef a = this->Ref("pull-a");
  const SecretRef b = this->Ref("pull-b");
  const SecretRef c = this->Ref("pull-c");
  ASSERT_TRUE(this->sink().Write(b, this->Cred("user-b", "pw-b", "tok-b")).ok());
  ASSERT_TRUE(this->sink().Write(a, this->Cred("user-a", "pw-a", "tok-a")).ok());
  ASSERT_TRUE(this->sink().Write(c, this->Cred("user-c", "pw-c", "")).ok());  // no record
  DockerCredential theirs = this->Cred("user-d", "pw-d", "");
  theirs.record = SecretRecord{"someone-else", "reg-0001", "user-d", "tok-d"};
  ASSERT_TRUE(this->sink().Write(this->Ref("pull-d"), theirs).ok());
  this->h_.PlantForeign(this->Ref("pull-e"));

  auto listed = this->sink().List(this->Owner());
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed.value().size(), 2u);
  EXPECT_EQ(listed.value()[0].ref, a);
  EXPECT_EQ(listed.value()[0].record, this->Record("user-a", "tok-a"));
  EXPECT_EQ(listed.value()[1].ref, b);
  EXPECT_EQ(listed.value()[1].record, this->Record("user-b", "tok-b"));
  EXPECT_EQ(this->ListedRefs("someone-else"), std::vector<SecretRef>{this->Ref("pull-d")});

  ASSERT_TRUE(this->sink().Delete(a).ok());
  ASSERT_TRUE(this->sink().Write(c, this->Cred("user-c", "pw-c", "tok-c")).ok());
  EXPECT_EQ(this->ListedRefs(this->Owner()), (std::vector<SecretRef>{b, c}));
  ASSERT_TRUE(this->sink().Write(b, this->Cred("user-b", "pw-b2", "")).ok());  // record gone
  EXPECT_EQ(this->ListedRefs(this->Owner()), std::vector<SecretRef>{c});
}

// A list that cannot see everything is an error, never a shorter list.
TYPED_TEST(SecretSinkContract, ListFailsWhereTheSinkCannotBeRead) {
  ASSERT_TRUE(this->sink().Write(this->Ref("pull"), this->Cred("ci-push", "pw", "tok-1")).ok());
  auto listed = this->h_.ListWhereUnreadable(this->Owner());
  if (!listed) GTEST_SKIP() << "cannot make the sink unreadable here";
  EXPECT_FALSE(listed->ok()) << "a partial list was returned";
  // Readable again, the list is whole.
  EXPECT_EQ(this->ListedRefs(this->Owner()), std::vector<SecretRef>{this->Ref("pull")});
}

// Stamp: the record of a secret written without one, the credential kept byte for byte.
TYPED_TEST(SecretSinkContract, StampAddsTheRecordAndKeepsThePassword) {
  const SecretRef ref = this->Ref("pull");
  const std::string password = "s3cr3t \"quoted\" \\ ü";
  ASSERT_TRUE(this->sink().Write(ref, this->Cred("ci-push", password, "")).ok());
  ASSERT_EQ(this->MustInspect(ref).record, SecretRecord{});
  EXPECT_EQ(this->ListedRefs(this->Owner()), std::vector<SecretRef>{});

  Status stamped = this->sink().Stamp(ref, this->Record("ci-push", "tok-1"));
  ASSERT_TRUE(stamped.ok()) << stamped.error().ToString();
  ASSERT_TRUE(this->sink().Flush().ok());
  SecretState state = this->MustInspect(ref);
  EXPECT_TRUE(state.has_password);
  EXPECT_EQ(state.hostname, kHost);
  EXPECT_EQ(state.username, "ci-push");
  EXPECT_EQ(state.record, this->Record("ci-push", "tok-1"));
  EXPECT_EQ(this->h_.StoredPassword(ref), password);
  EXPECT_EQ(this->ListedRefs(this->Owner()), std::vector<SecretRef>{ref});
}

TYPED_TEST(SecretSinkContract, StampOfAMissingSecretIsNotFound) {
  const SecretRef ref = this->Ref("never-written");
  Status stamped = this->sink().Stamp(ref, this->Record("ci-push", "tok-1"));
  ASSERT_FALSE(stamped.ok());
  EXPECT_EQ(stamped.error().kind, ErrorKind::kNotFound) << stamped.error().ToString();
  EXPECT_FALSE(this->MustInspect(ref).exists);
}

TYPED_TEST(SecretSinkContract, StampRefusesAPlaceThatIsNotCrtokens) {
  const SecretRef ref = this->Ref("theirs");
  this->h_.PlantForeign(ref);
  Status stamped = this->sink().Stamp(ref, this->Record("ci-push", "tok-1"));
  ASSERT_FALSE(stamped.ok()) << "Stamp wrote a place that is not crtoken's";
  EXPECT_EQ(stamped.error().kind, ErrorKind::kConflict) << stamped.error().ToString();
  SecretState after = this->MustInspect(ref);
  EXPECT_NE(after.conflict, "");
  EXPECT_EQ(after.record, SecretRecord{});
}

}  // namespace
}  // namespace crtoken
