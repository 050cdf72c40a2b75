// The SecretSink contract (reconciler/secret_sink.h) as one list of scenarios, run against the
// MemorySecretSink that the engine tests rely on (once with file refs, once with Kubernetes refs),
// FileSecretSink in a temp dir, and KubernetesSecretSink against the Kubernetes API emulator
// (tests/support/k8s_emulator). The real sinks are the truth: where the memory sink differs, it is
// wrong.
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

#include "daemon/sinks/file_secret_sink.h"
#include "daemon/sinks/kubernetes_secret_sink.h"
#include "reconciler/secret_sink.h"
#include "tests/support/fakes.h"
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

DockerCredential Cred(const std::string& username, const std::string& password,
                      const std::string& token_id, const std::string& hostname = kHost) {
  return DockerCredential{hostname, username, Password(password),
                          SecretRecord{"", "", "", token_id}};
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
  // Whether the sink records DockerCredential::token_id (the file format has no place for it).
  virtual bool KeepsTokenId() const = 0;
  // Occupies `ref`'s place with something crtoken must not overwrite or remove.
  virtual void PlantForeign(const SecretRef& ref) = 0;
};

class MemoryFileHarness : public SinkHarness {
 public:
  SecretSink& sink() override { return sink_; }
  SecretRef Ref(const std::string& name) override { return FileRef(name); }
  // The fake keeps the record for every kind of ref, as the file sink does once it records.
  bool KeepsTokenId() const override { return true; }
  void PlantForeign(const SecretRef& ref) override {
    sink_.SetForeign(ref.ToString(), "a directory is where " + ref.ToString() + " goes");
  }

 protected:
  test::MemorySecretSink sink_;
};

class MemoryKubernetesHarness : public MemoryFileHarness {
 public:
  SecretRef Ref(const std::string& name) override { return KubeRef(name); }
  bool KeepsTokenId() const override { return true; }
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
  bool KeepsTokenId() const override { return false; }
  void PlantForeign(const SecretRef& ref) override {
    // A directory where the secret file goes, with something in it.
    const fs::path place = dir_ / "secrets" / ref.file;
    fs::create_directories(place);
    std::ofstream(place / "keep.txt") << "not crtoken's";
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
    KubernetesConfig config;
    config.server = emulator_->Server();
    config.ca_pem = ReadAll(emulator_->CaFile());
    config.token = kKubeToken;
    config.source = "contract test";
    KubernetesSinkOptions options;
    options.backoff = 1ms;
    options.request_timeout = 10s;
    options.env = [](const std::string&) { return std::optional<std::string>(); };
    auto sink = KubernetesSecretSink::Create(config, options);
    if (!sink.ok()) throw std::runtime_error(sink.error().ToString());
    sink_ = std::move(sink.value());
  }
  static void StartEmulator() {
    emulator_ = new test::K8sEmulatorProcess(
        CRTOKEN_PYTHON,
        std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py",
        {"--token", kKubeToken, "--namespace", kNamespace});
  }
  static void StopEmulator() {
    delete emulator_;
    emulator_ = nullptr;
  }

  SecretSink& sink() override { return *sink_; }
  SecretRef Ref(const std::string& name) override { return KubeRef(prefix_ + name); }
  bool KeepsTokenId() const override { return true; }
  void PlantForeign(const SecretRef& ref) override {
    // A pull secret someone made by hand: no managed-by label.
    const std::string config = R"({"auths":{"other.example":{"username":"u","password":"p"}}})";
    const json body = {{"metadata", {{"name", ref.k8s_name}}},
                       {"type", "kubernetes.io/dockerconfigjson"},
                       {"data", {{".dockerconfigjson", B64(config)}}}};
    web::http::client::http_client_config cfg;
    const std::string ca = ReadAll(emulator_->CaFile());
    cfg.set_ssl_context_callback([ca](boost::asio::ssl::context& ctx) {
      ctx.add_certificate_authority(boost::asio::buffer(ca));
    });
    web::http::client::http_client client(emulator_->Server(), cfg);
    web::http::http_request req(web::http::methods::POST);
    req.set_request_uri("/api/v1/namespaces/" + ref.k8s_namespace + "/secrets");
    req.headers().add("Authorization", std::string("Bearer ") + kKubeToken);
    req.set_body(body.dump(), "application/json");
    auto resp = client.request(req).get();
    if (resp.status_code() != 201) {
      throw std::runtime_error("planting " + ref.ToString() + ": HTTP " +
                               std::to_string(resp.status_code()));
    }
  }

 private:
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
  std::string ExpectedTokenId(const std::string& id) const { return h_.KeepsTokenId() ? id : ""; }

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
  EXPECT_EQ(state.record.token_id, "");
  EXPECT_EQ(state.conflict, "");
}

TYPED_TEST(SecretSinkContract, InspectShowsWhatWriteStoredButNotThePassword) {
  const SecretRef ref = this->Ref("pull");
  Status written = this->sink().Write(ref, Cred("ci-push", "s3cr3t", "tok-1"));
  ASSERT_TRUE(written.ok()) << written.error().ToString();
  SecretState state = this->MustInspect(ref);
  EXPECT_TRUE(state.exists);
  EXPECT_TRUE(state.has_password);
  EXPECT_EQ(state.hostname, kHost);
  EXPECT_EQ(state.username, "ci-push");
  EXPECT_EQ(state.record.token_id, this->ExpectedTokenId("tok-1"));
  EXPECT_EQ(state.conflict, "");
}

// A Write replaces the whole credential: nothing of the previous one is left.
TYPED_TEST(SecretSinkContract, WriteReplacesEverythingTheSecretHeld) {
  const SecretRef ref = this->Ref("pull");
  ASSERT_TRUE(this->sink().Write(ref, Cred("ci-push", "first", "tok-1")).ok());
  Status rewritten =
      this->sink().Write(ref, Cred("ci-pull", "second", "tok-2", "acme-dev.cr.de-fra.ionos.com"));
  ASSERT_TRUE(rewritten.ok()) << rewritten.error().ToString();
  SecretState state = this->MustInspect(ref);
  EXPECT_TRUE(state.exists);
  EXPECT_TRUE(state.has_password);
  EXPECT_EQ(state.hostname, "acme-dev.cr.de-fra.ionos.com");
  EXPECT_EQ(state.username, "ci-pull");
  EXPECT_EQ(state.record.token_id, this->ExpectedTokenId("tok-2"));

  // A credential without a token id leaves none behind from before.
  ASSERT_TRUE(this->sink().Write(ref, Cred("ci-pull", "third", "")).ok());
  state = this->MustInspect(ref);
  EXPECT_EQ(state.record.token_id, "");
  EXPECT_EQ(state.hostname, kHost);
}

TYPED_TEST(SecretSinkContract, DeleteRemovesTheSecretAndIsIdempotent) {
  const SecretRef ref = this->Ref("pull");
  ASSERT_TRUE(this->sink().Write(ref, Cred("ci-push", "s3cr3t", "tok-1")).ok());
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
  ASSERT_TRUE(this->sink().Write(a, Cred("user-a", "pw-a", "tok-a")).ok());
  ASSERT_TRUE(this->sink().Write(b, Cred("user-b", "pw-b", "tok-b")).ok());
  EXPECT_EQ(this->MustInspect(a).username, "user-a");
  EXPECT_EQ(this->MustInspect(b).username, "user-b");

  ASSERT_TRUE(this->sink().Delete(a).ok());
  EXPECT_FALSE(this->MustInspect(a).exists);
  SecretState kept = this->MustInspect(b);
  EXPECT_TRUE(kept.exists);
  EXPECT_TRUE(kept.has_password);
  EXPECT_EQ(kept.username, "user-b");
  EXPECT_EQ(kept.record.token_id, this->ExpectedTokenId("tok-b"));
}

TYPED_TEST(SecretSinkContract, FlushKeepsWhatWasWrittenAndDeleted) {
  const SecretRef kept = this->Ref("kept");
  const SecretRef gone = this->Ref("gone");
  ASSERT_TRUE(this->sink().Write(kept, Cred("ci-push", "s3cr3t", "tok-1")).ok());
  ASSERT_TRUE(this->sink().Write(gone, Cred("ci-pull", "s3cr3t", "tok-2")).ok());
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
  EXPECT_EQ(state.record.token_id, "");

  Status written = this->sink().Write(ref, Cred("ci-push", "s3cr3t", "tok-1"));
  EXPECT_FALSE(written.ok()) << "Write replaced a place that is not crtoken's";
  Status deleted = this->sink().Delete(ref);
  EXPECT_FALSE(deleted.ok()) << "Delete removed a place that is not crtoken's";

  SecretState after = this->MustInspect(ref);
  EXPECT_TRUE(after.exists);
  EXPECT_NE(after.conflict, "");
  EXPECT_EQ(after.username, "");
}

}  // namespace
}  // namespace crtoken
