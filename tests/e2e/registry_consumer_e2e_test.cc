// The secret file crtoken writes works for a real consumer of the dockerconfigjson format: skopeo
// pushes an image to a real registry (Debian's docker-registry, the CNCF distribution, with
// htpasswd auth on loopback) and pulls it back, with nothing but crtoken's file as its auth file,
// the registry's host name aside; a copy with a wrong password is refused and stores nothing.
// crtoken's own member "crtoken" (the record of the token) stays in the file and is ignored by
// skopeo. The real crtoken and crtoken-emulator; the image is made here (no network).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "daemon/common/base64.h"
#include "tests/support/crtoken_process.h"
#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr char kRegistryBinary[] = "/usr/bin/docker-registry";  // Debian's docker-registry
constexpr char kHtpasswd[] = "/usr/bin/htpasswd";               // Debian's apache2-utils
constexpr char kSkopeo[] = "/usr/bin/skopeo";                   // Debian's skopeo
constexpr char kToken[] = "consumer-push";
constexpr char kHostname[] = "acme.cr.de-fra.ionos.com";  // the emulator's host for "acme"
constexpr char kRepository[] = "crtoken/consumer";

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest failed");
  }
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

// gzip (RFC 1952) of `raw`, header time 0: an image layer as registries store them (skopeo would
// compress an uncompressed layer on push, and the manifest's digest would change).
std::string Gzip(const std::string& raw) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out(deflateBound(&z, raw.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  return out;
}

// A POSIX ustar archive holding one regular file (mode 0644, owner 0, time 0).
std::string TarWithOneFile(const std::string& name, const std::string& content) {
  std::string header(512, '\0');
  auto put = [&header](size_t offset, const std::string& field) {
    header.replace(offset, field.size(), field);
  };
  auto octal = [](unsigned long value, int digits) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%0*lo", digits, value);
    return std::string(buf);
  };
  put(0, name);
  put(100, octal(0644, 7));                  // mode
  put(108, octal(0, 7));                     // uid
  put(116, octal(0, 7));                     // gid
  put(124, octal(content.size(), 11));       // size
  put(136, octal(0, 11));                    // mtime
  header[156] = '0';                         // a regular file
  put(257, std::string("ustar", 6) + "00");  // magic "ustar\0", version "00"
  put(148, std::string(8, ' '));             // the checksum counts its own field as spaces
  unsigned long sum = 0;
  for (unsigned char c : header) sum += c;
  put(148, octal(sum, 6));
  header[154] = '\0';
  return header + content + std::string((512 - content.size() % 512) % 512, '\0') +
         std::string(1024, '\0');
}

struct OciImage {
  std::string manifest_digest;  // "sha256:..."
  std::string layer;            // the layer blob's bytes (gzip)
  std::string layer_digest;
};

// Writes an OCI image layout at `dir` with one image tagged `tag`: one small gzip layer, its
// config, its manifest, index.json and oci-layout, each blob under blobs/sha256/ by its digest.
OciImage WriteOciLayout(const fs::path& dir, const std::string& tag) {
  auto blob = [&dir](const std::string& bytes) {
    const std::string hex = Sha256Hex(bytes);
    WriteFile(dir / "blobs/sha256" / hex, bytes);
    return "sha256:" + hex;
  };
  OciImage image;
  const std::string tar = TarWithOneFile("hello.txt", "pulled with a secret crtoken wrote\n");
  image.layer = Gzip(tar);
  image.layer_digest = blob(image.layer);
  const std::string config =
      json{
          {"architecture", "amd64"},
          {"os", "linux"},
          {"config", json::object()},
          {"rootfs", {{"type", "layers"}, {"diff_ids", json::array({"sha256:" + Sha256Hex(tar)})}}}}
          .dump();
  const std::string manifest =
      json{{"schemaVersion", 2},
           {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
           {"config",
            {{"mediaType", "application/vnd.oci.image.config.v1+json"},
             {"digest", blob(config)},
             {"size", config.size()}}},
           {"layers", json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                                    {"digest", image.layer_digest},
                                    {"size", image.layer.size()}}})}}
          .dump();
  image.manifest_digest = blob(manifest);
  WriteFile(dir / "index.json",
            json{{"schemaVersion", 2},
                 {"manifests",
                  json::array({{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                {"digest", image.manifest_digest},
                                {"size", manifest.size()},
                                {"annotations", {{"org.opencontainers.image.ref.name", tag}}}}})}}
                .dump());
  WriteFile(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  return image;
}

// `text` with its one occurrence of `from` replaced by `to`; throws when `from` occurs not exactly
// once (naming `what`, never the text: it holds a password).
std::string ReplaceOnce(const std::string& text, const std::string& from, const std::string& to,
                        const std::string& what) {
  const size_t at = text.find(from);
  if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) {
    throw std::runtime_error(what + " does not occur exactly once in the secret file");
  }
  std::string out = text;
  out.replace(at, from.size(), to);
  return out;
}

// Debian's docker-registry on a free loopback port: plain HTTP, htpasswd (bcrypt) auth, its own
// config and storage under `dir`, its log in dir/registry.log. Ready once /v2/ answers 401.
// Killed and reaped when this goes away.
class RegistryServer {
 public:
  RegistryServer(const fs::path& dir, const fs::path& htpasswd) : dir_(dir) {
    std::string why;
    for (int attempt = 0; attempt < 3; ++attempt) {  // the free port may be taken meanwhile
      port_ = FreePort();
      // YAML flow style; the paths as JSON strings, which YAML reads as they are.
      std::ostringstream config;
      config << "version: 0.1\n"
             << "log: {level: info}\n"
             << "storage: {filesystem: {rootdirectory: " << json((dir_ / "storage").string())
             << "}}\n"
             << "http: {addr: \"" << Host() << "\"}\n"
             << "auth: {htpasswd: {realm: crtoken-consumer-test, path: " << json(htpasswd.string())
             << "}}\n";
      WriteFile(dir_ / "config.yml", config.str());
      process_ = std::make_unique<DaemonProcess>(
          DaemonProcess::Program{kRegistryBinary, {"serve", (dir_ / "config.yml").string()}},
          std::map<std::string, std::string>{}, dir_ / "registry.log");
      const auto end = std::chrono::steady_clock::now() + seconds(20);
      while (process_->running() && std::chrono::steady_clock::now() < end) {
        if (HttpCall("GET", Url("/v2/"), {}, "", 1000).status == 401) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      why = process_->running() ? "did not answer 401 on /v2/ within 20 s"
                                : "exited with " + std::to_string(*process_->Wait(seconds(0)));
      process_.reset();
    }
    throw std::runtime_error(std::string(kRegistryBinary) + " " + why + "; its log:\n" + Log());
  }

  std::string Host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string Url(const std::string& path) const { return "http://" + Host() + path; }
  std::string Log() const { return ReadFile(dir_ / "registry.log"); }
  fs::path storage() const { return dir_ / "storage"; }

 private:
  fs::path dir_;
  uint16_t port_ = 0;
  std::unique_ptr<DaemonProcess> process_;
};

class RegistryConsumerE2eTest : public ::testing::Test {
 protected:
  RegistryConsumerE2eTest()
      : emu_({"--registry", "acme", "--token", "t"}), dir_("crtoken-consumer") {
    for (const char* sub : {"specs", "out", "home", "tmp", "registry"}) {
      fs::create_directories(dir_ / sub);
    }
  }

  // crtoken apply creates the token and its secret file; the registry gets an htpasswd entry for
  // the token's name with the password the emulator issued; the registry starts.
  void SetUp() override {
    for (const char* binary : {kRegistryBinary, kHtpasswd, kSkopeo}) {
      ASSERT_TRUE(fs::exists(binary)) << binary << " is missing: `make deps` installs it";
    }
    WriteFile(dir_ / "specs/consumer.yaml",
              std::string("apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\n"
                          "metadata:\n  name: ") +
                  kToken +
                  "\nspec:\n  registry: acme\n  scopes:\n"
                  "    - {name: \"crtoken/*\", type: repository, actions: [pull, push]}\n"
                  "  secret:\n    file: consumer.json\n");
    CommandResult apply = RunCrtoken({"apply", "--specs", (dir_ / "specs").string(), "--api-url",
                                      emu_.base_url(), "--secret-dir", (dir_ / "secrets").string()},
                                     {{"IONOS_TOKEN", "t"}}, (dir_ / "out").string(), seconds(60));
    Record("crtoken apply stdout", apply.out);
    Record("crtoken apply stderr", apply.err);
    ASSERT_EQ(apply.exit_code, 0) << "stdout:\n" << apply.out << "stderr:\n" << apply.err;

    const json state = emu_.StateJson();
    for (const auto& r : state["registries"]) {
      for (const auto& t : r["tokens"]) {
        if (r["name"] == "acme" && t["name"] == kToken) {
          password_ = t["password"].get<std::string>();
          token_id_ = t["id"].get<std::string>();
        }
      }
    }
    ASSERT_FALSE(password_.empty()) << "the emulator holds no token " << kToken;
    secret_ = ReadFile(dir_ / "secrets/consumer.json");
    ASSERT_FALSE(secret_.empty()) << "crtoken wrote no secrets/consumer.json";

    // htpasswd -B (bcrypt), the password on stdin, never on a command line.
    const std::string password_file = (dir_ / "tmp/password").string();
    WriteFile(password_file, password_);
    fs::permissions(password_file, fs::perms::owner_read | fs::perms::owner_write);
    CommandResult htpasswd =
        RunProgram(kHtpasswd, {"-c", "-i", "-B", (dir_ / "registry/htpasswd").string(), kToken}, {},
                   (dir_ / "out").string(), seconds(30), [&password_file] {
                     const int fd = ::open(password_file.c_str(), O_RDONLY);
                     if (fd < 0 || ::dup2(fd, 0) < 0) ::_exit(126);
                   });
    fs::remove(password_file);
    Record("htpasswd output", htpasswd.out + htpasswd.err);
    ASSERT_EQ(htpasswd.exit_code, 0) << htpasswd.err;

    try {
      registry_ = std::make_unique<RegistryServer>(dir_ / "registry", dir_ / "registry/htpasswd");
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    // The entry is right: the registry lets the token in.
    ASSERT_EQ(
        HttpCall("GET", registry_->Url("/v2/"), {{"Authorization", BasicAuth(kToken, password_)}})
            .status,
        200);
  }

  // Nothing the test ran printed the password: crtoken, htpasswd, skopeo, the registry.
  void TearDown() override {
    if (registry_) Record("the registry's log", registry_->Log());
    if (password_.empty()) return;
    for (const auto& [what, text] : outputs_) {
      EXPECT_EQ(text.find(password_), std::string::npos) << what << " contains the password";
    }
  }

  void Record(const std::string& what, const std::string& text) {
    outputs_.emplace_back(what, text);
  }

  // crtoken's secret file, with the key under "auths" (the registry's host name) replaced by
  // the test registry's 127.0.0.1:PORT and every other byte kept, written to out/NAME.
  fs::path CopyForTestRegistry(const std::string& name) {
    const json original = json::parse(secret_);
    EXPECT_EQ(original["auths"].size(), 1u);
    EXPECT_TRUE(original["auths"].contains(kHostname));
    const std::string copy = ReplaceOnce(secret_, "\"" + std::string(kHostname) + "\"",
                                         "\"" + registry_->Host() + "\"", "the host name");
    // Only that key differs.
    json back = json::parse(copy);
    back["auths"][kHostname] = back["auths"][registry_->Host()];
    back["auths"].erase(registry_->Host());
    EXPECT_TRUE(back == original) << "the copy differs from the secret file beyond the host name";
    WriteFile(dir_ / "out" / name, copy);
    return dir_ / "out" / name;
  }

  // `auth_file` with the password changed in one character, in both members that hold it
  // ("password" and the base64 "auth" of name:password).
  fs::path WithWrongPassword(const fs::path& auth_file, const std::string& name) {
    std::string wrong = password_;
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    std::string text = ReadFile(auth_file);
    text = ReplaceOnce(text, "\"" + password_ + "\"", "\"" + wrong + "\"", "the password");
    text = ReplaceOnce(text, "\"" + Base64Encode(std::string(kToken) + ":" + password_) + "\"",
                       "\"" + Base64Encode(std::string(kToken) + ":" + wrong) + "\"",
                       "the auth member");
    WriteFile(dir_ / "out" / name, text);
    return dir_ / "out" / name;
  }

  // skopeo ARGS with a home, temp dir and runtime dir of its own (no auth file of the machine's
  // is ever read), no signature policy, bounded in time.
  CommandResult Skopeo(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--insecure-policy", "--command-timeout", "60s"};
    all.insert(all.end(), args.begin(), args.end());
    CommandResult r = RunProgram(kSkopeo, all,
                                 {{"HOME", (dir_ / "home").string()},
                                  {"TMPDIR", (dir_ / "tmp").string()},
                                  {"XDG_RUNTIME_DIR", (dir_ / "home").string()}},
                                 (dir_ / "out").string(), seconds(90));
    Record("skopeo " + args[0] + " output", r.out + r.err);
    return r;
  }

  std::string Reference() const {
    return "docker://" + registry_->Host() + "/" + kRepository + ":1";
  }

  // GET the manifest tagged 1 with the token's credentials: (status, Docker-Content-Digest).
  std::pair<int, std::string> RegistryManifest() {
    HttpResult r =
        HttpCall("GET", registry_->Url("/v2/" + std::string(kRepository) + "/manifests/1"),
                 {{"Authorization", BasicAuth(kToken, password_)},
                  {"Accept", "application/vnd.oci.image.manifest.v1+json"}});
    return {r.status, r.Header("Docker-Content-Digest")};
  }

  EmulatorProcess emu_;
  TempDir dir_;
  std::string secret_;    // crtoken's secret file, byte for byte
  std::string password_;  // the issued password: for the htpasswd entry and the leak checks only
  std::string token_id_;
  std::unique_ptr<RegistryServer> registry_;
  std::vector<std::pair<std::string, std::string>> outputs_;
};

TEST_F(RegistryConsumerE2eTest, SkopeoPushesAndPullsAnImageWithTheSecretFileAsItsAuthFile) {
  const fs::path auth_file = CopyForTestRegistry("auth.json");
  // crtoken's record of the token rides along in the file; skopeo ignores it.
  const json copy = json::parse(ReadFile(auth_file));
  EXPECT_TRUE(copy.contains("crtoken"))
      << "the secret file has no member \"crtoken\" beside \"auths\"; its members: " << [&copy] {
           std::string keys;
           for (const auto& [key, value] : copy.items()) keys += " " + key;
           return keys;
         }();
  if (copy.contains("crtoken")) {
    const json& record = copy["crtoken"];
    EXPECT_EQ(record.value("owner", ""), "crtoken");
    EXPECT_EQ(record.value("registryId", ""), emu_.RegistryId("acme"));
    EXPECT_EQ(record.value("token", ""), kToken);
    EXPECT_EQ(record.value("tokenId", ""), token_id_);
  }

  const OciImage image = WriteOciLayout(dir_ / "image", "tag");
  CommandResult push =
      Skopeo({"copy", "--dest-tls-verify=false", "--dest-authfile", auth_file.string(),
              "oci:" + (dir_ / "image").string() + ":tag", Reference()});
  ASSERT_EQ(push.exit_code, 0) << push.out << push.err;
  auto [status, digest] = RegistryManifest();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(digest, image.manifest_digest);

  CommandResult pull =
      Skopeo({"copy", "--src-tls-verify=false", "--src-authfile", auth_file.string(), Reference(),
              "oci:" + (dir_ / "pulled").string() + ":pulled"});
  ASSERT_EQ(pull.exit_code, 0) << pull.out << pull.err;
  const json index = json::parse(ReadFile(dir_ / "pulled/index.json"));
  ASSERT_EQ(index["manifests"].size(), 1u) << index.dump();
  EXPECT_EQ(index["manifests"][0]["digest"], image.manifest_digest);
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "pulled");
  const std::string layer_hex = image.layer_digest.substr(std::string("sha256:").size());
  EXPECT_TRUE(ReadFile(dir_ / "pulled/blobs/sha256" / layer_hex) == image.layer)
      << "the pulled layer differs from the pushed one";
}

TEST_F(RegistryConsumerE2eTest, ACopyWithAWrongPasswordIsRefusedAndNothingLands) {
  const fs::path wrong = WithWrongPassword(CopyForTestRegistry("auth.json"), "wrong.json");
  WriteOciLayout(dir_ / "image", "tag");
  CommandResult push = Skopeo({"copy", "--dest-tls-verify=false", "--dest-authfile", wrong.string(),
                               "oci:" + (dir_ / "image").string() + ":tag", Reference()});
  EXPECT_NE(push.exit_code, 0) << push.out << push.err;
  EXPECT_FALSE(push.timed_out);
  std::string said = push.out + push.err;
  for (char& c : said) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(said.find("unauthorized") != std::string::npos ||
              said.find("denied") != std::string::npos)
      << push.out << push.err;
  // No manifest under the tag, and no file at all in the registry's storage.
  EXPECT_EQ(RegistryManifest().first, 404);
  std::vector<std::string> stored;
  if (fs::exists(registry_->storage())) {
    for (const auto& entry : fs::recursive_directory_iterator(registry_->storage())) {
      if (!entry.is_directory()) stored.push_back(entry.path().string());
    }
  }
  EXPECT_TRUE(stored.empty()) << "stored: " << testing::PrintToString(stored);
}

}  // namespace
}  // namespace crtoken::test
