// The RegistryApi contract (reconciler/registry_api.h) as one list of scenarios, run against the
// in-memory FakeRegistryApi that the engine tests rely on and against HttpRegistryApi talking to a
// real crtoken-emulator. The HTTP client on the emulator is the truth: where the two differ, the
// fake is wrong. End states are read back through each side's own view (the fake's memory, the
// emulator's admin state), not only through the interface under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "daemon/registry/http_registry_api.h"
#include "reconciler/registry_api.h"
#include "reconciler/token_id.h"
#include "tests/support/emulator_process.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using namespace std::chrono_literals;

constexpr char kRegistry[] = "acme-prod";
constexpr char kOtherRegistry[] = "acme-dev";
// A well-formed registry id that no registry has.
constexpr char kUnknownRegistryId[] = "0badc0de-0000-4000-8000-000000000000";

// The token id `n` (a UUID, as every caller-chosen id must be).
std::string TokenId(int n) {
  std::string s = std::to_string(n);
  return "5eed0000-0000-4000-8000-" + std::string(12 - s.size(), '0') + s;
}

Instant At(int y, int m, int d) { return std::chrono::sys_days{std::chrono::year{y} / m / d}; }

TokenFields Fields(const std::string& name) {
  TokenFields f;
  f.name = name;
  f.status = TokenStatus::kEnabled;
  f.expiry = At(2031, 1, 15);
  f.scopes = {Scope{"app/*", "repository", {"pull", "push"}}};
  return f;
}

// What a harness holds beyond acme-prod and acme-dev: `extra_registries` more, named reg-000,
// reg-001, ...; and the most items a page of the API's lists holds (0: the API's default; the
// fake has no pages).
struct Seed {
  int extra_registries = 0;
  int page_size = 0;
};

std::string ExtraRegistryName(int i) {
  char name[16];
  std::snprintf(name, sizeof(name), "reg-%03d", i);
  return name;
}

// One implementation under test, with a view of its state that does not go through it.
class RegistryHarness {
 public:
  virtual ~RegistryHarness() = default;
  virtual RegistryApi& api() = 0;
  // Adds a registry that is still being provisioned (not Running, no hostname yet).
  virtual void AddProvisioningRegistry(const std::string& name) = 0;
  // Makes registry lists fail at a page after the first until ClearFaults() (the fake, which has
  // no pages: the whole call).
  virtual void FailRegistryListAfterTheFirstPage() = 0;
  virtual void ClearFaults() = 0;
  // The password the registry holds for the token named `name`; nullopt when there is none.
  virtual std::optional<std::string> StoredPassword(const std::string& registry_id,
                                                    const std::string& name) = 0;
  // How many tokens the registry holds.
  virtual size_t TokenCount(const std::string& registry_id) = 0;
  // Moves the registry's clock forward (it starts at the wall clock).
  virtual void AdvanceClock(std::chrono::seconds by) = 0;
};

class FakeHarness : public RegistryHarness {
 public:
  explicit FakeHarness(Seed seed = {}) {
    clock_.Set(std::chrono::system_clock::now());
    fake_.UseClock(&clock_);
    fake_.AddRegistry(kRegistry, std::string(kRegistry) + ".cr.de-fra.ionos.com");
    fake_.AddRegistry(kOtherRegistry, std::string(kOtherRegistry) + ".cr.de-fra.ionos.com");
    for (int i = 0; i < seed.extra_registries; ++i) {
      fake_.AddRegistry(ExtraRegistryName(i), ExtraRegistryName(i) + ".cr.de-fra.ionos.com");
    }
  }
  RegistryApi& api() override { return fake_; }
  void AddProvisioningRegistry(const std::string& name) override {
    fake_.AddRegistry(name, "", "New");
  }
  void FailRegistryListAfterTheFirstPage() override { failing_ = true; }
  void ClearFaults() override { failing_ = false; }
  std::optional<std::string> StoredPassword(const std::string& registry_id,
                                            const std::string& name) override {
    auto t = fake_.Find(registry_id, name);
    if (!t) return std::nullopt;
    return t->password;
  }
  size_t TokenCount(const std::string& registry_id) override {
    return fake_.TokenCount(registry_id);
  }
  void AdvanceClock(std::chrono::seconds by) override { clock_.Advance(by); }

 private:
  // The fake's fault hook fails the next call: a fake that keeps failing queues one per call.
  class FailingFake : public test::FakeRegistryApi {
   public:
    explicit FailingFake(const bool* failing) : failing_(failing) {}
    Result<std::vector<RegistryInfo>> ListRegistries() override {
      if (*failing_)
        FailNext("LIST_REGISTRIES", Error{ErrorKind::kUnavailable, "page 2: HTTP 500"});
      return FakeRegistryApi::ListRegistries();
    }

   private:
    const bool* failing_;
  };
  test::FakeClock clock_;
  bool failing_ = false;
  FailingFake fake_{&failing_};
};

class EmulatorHarness : public RegistryHarness {
 public:
  explicit EmulatorHarness(Seed seed = {}) : emu_(Args(seed)) {
    HttpRegistryApiConfig config;
    config.base_url = emu_.base_url();
    config.credentials = Credentials::Bearer("contract-t");
    config.qps = 100000;
    config.burst = 100000;
    config.request_timeout = 10s;
    config.jitter_seed = 1;
    auto api = HttpRegistryApi::Create(config);
    if (!api.ok()) throw std::runtime_error(api.error().ToString());
    api_ = std::move(api.value());
  }
  RegistryApi& api() override { return *api_; }
  void AddProvisioningRegistry(const std::string& name) override {
    const std::string body =
        nlohmann::json{{"properties", {{"name", name}, {"location", "de/fra"}}}}.dump();
    auto made = api_->Call(HttpMethod::kPost, "/registries", &body);
    if (!made.ok() || made.value().status != 201) {
      throw std::runtime_error("POST /registries " + name + " failed");
    }
  }
  void FailRegistryListAfterTheFirstPage() override {
    emu_.AddFault(
        {{"method", "GET"}, {"path", "/registries\\?.*pagination\\.token="}, {"status", 500}});
  }
  void ClearFaults() override { emu_.ClearFaults(); }
  std::optional<std::string> StoredPassword(const std::string& registry_id,
                                            const std::string& name) override {
    const nlohmann::json state = emu_.StateJson();
    for (const auto& r : state["registries"]) {
      if (r["id"] != registry_id) continue;
      for (const auto& t : r["tokens"]) {
        if (t["name"] == name) return t["password"].get<std::string>();
      }
    }
    return std::nullopt;
  }
  size_t TokenCount(const std::string& registry_id) override {
    const nlohmann::json state = emu_.StateJson();
    for (const auto& r : state["registries"]) {
      if (r["id"] == registry_id) return r["tokens"].size();
    }
    return 0;
  }
  void AdvanceClock(std::chrono::seconds by) override { emu_.AdvanceClock(by.count()); }

 private:
  static std::vector<std::string> Args(Seed seed) {
    std::vector<std::string> args = {"--registry", kRegistry, "--registry", kOtherRegistry,
                                     "--token", "contract-t",
                                     // a POSTed registry stays in provisioning for the test
                                     "--provision-seconds", "600"};
    for (int i = 0; i < seed.extra_registries; ++i) {
      args.push_back("--registry");
      args.push_back(ExtraRegistryName(i));
    }
    if (seed.page_size > 0) {
      args.push_back("--max-limit");
      args.push_back(std::to_string(seed.page_size));
    }
    return args;
  }
  test::EmulatorProcess emu_;
  std::unique_ptr<HttpRegistryApi> api_;
};

template <typename H>
class RegistryApiContract : public ::testing::Test {
 protected:
  void SetUp() override {
    auto reg = test::RegistryNamed(api(), kRegistry);
    ASSERT_TRUE(reg.ok()) << reg.error().ToString();
    rid_ = reg.value().id;
    auto other = test::RegistryNamed(api(), kOtherRegistry);
    ASSERT_TRUE(other.ok()) << other.error().ToString();
    other_rid_ = other.value().id;
  }
  RegistryApi& api() { return h_.api(); }

  // Creates the token `name` under TokenId(n); fails the test when that does not work.
  ObservedToken MustCreate(int n, const std::string& name) {
    auto created = api().CreateToken(rid_, TokenId(n), Fields(name));
    EXPECT_TRUE(created.ok()) << created.error().ToString();
    return created.ok() ? created.value().token : ObservedToken{};
  }

  H h_;
  std::string rid_;
  std::string other_rid_;
};

using Implementations = ::testing::Types<FakeHarness, EmulatorHarness>;
class ImplementationNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, FakeHarness> ? "Fake" : "HttpOnEmulator";
  }
};
TYPED_TEST_SUITE(RegistryApiContract, Implementations, ImplementationNames);

// --- registries ---

TYPED_TEST(RegistryApiContract, GetRegistryByIdAgreesWithTheList) {
  auto got = this->api().GetRegistry(this->rid_);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got.value().id, this->rid_);
  EXPECT_EQ(got.value().name, kRegistry);
  EXPECT_EQ(got.value().hostname, std::string(kRegistry) + ".cr.de-fra.ionos.com");
  EXPECT_EQ(got.value().state, "Running");

  auto unknown = this->api().GetRegistry(kUnknownRegistryId);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::kNotFound) << unknown.error().ToString();
}

TYPED_TEST(RegistryApiContract, ListRegistriesHoldsEveryRegistryOnceAsTheReadByIdSeesIt) {
  this->h_.AddProvisioningRegistry("fresh-reg");
  auto listed = this->api().ListRegistries();
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed.value().size(), 3u);
  std::map<std::string, RegistryInfo> by_name;
  for (const RegistryInfo& r : listed.value()) {
    EXPECT_TRUE(by_name.emplace(r.name, r).second) << r.name << " listed twice";
  }
  ASSERT_EQ(by_name.count(kRegistry), 1u);
  ASSERT_EQ(by_name.count(kOtherRegistry), 1u);
  EXPECT_EQ(by_name[kRegistry].id, this->rid_);
  EXPECT_EQ(by_name[kOtherRegistry].id, this->other_rid_);
  EXPECT_NE(this->rid_, this->other_rid_);
  for (const char* name : {kRegistry, kOtherRegistry}) {
    EXPECT_TRUE(IsUuid(by_name[name].id)) << by_name[name].id;
    auto got = this->api().GetRegistry(by_name[name].id);
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    EXPECT_EQ(got.value().name, name);
    EXPECT_EQ(by_name[name].hostname, got.value().hostname);
    EXPECT_EQ(by_name[name].hostname, std::string(name) + ".cr.de-fra.ionos.com");
    EXPECT_EQ(by_name[name].state, "Running");
  }
  // A registry still being provisioned is listed, without a hostname.
  ASSERT_EQ(by_name.count("fresh-reg"), 1u);
  EXPECT_TRUE(IsUuid(by_name["fresh-reg"].id)) << by_name["fresh-reg"].id;
  EXPECT_EQ(by_name["fresh-reg"].hostname, "");
  EXPECT_NE(by_name["fresh-reg"].state, "Running");
}

// Many registries, in pages of 7 where the implementation has pages.
template <typename H>
class RegistryListContract : public ::testing::Test {
 protected:
  static constexpr int kExtra = 23;
  RegistryListContract() : h_(Seed{kExtra, 7}) {}
  RegistryApi& api() { return h_.api(); }
  H h_;
};
TYPED_TEST_SUITE(RegistryListContract, Implementations, ImplementationNames);

TYPED_TEST(RegistryListContract, EveryRegistryIsListedOnceAcrossPages) {
  auto listed = this->api().ListRegistries();
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  std::set<std::string> names;
  std::set<std::string> ids;
  for (const RegistryInfo& r : listed.value()) {
    names.insert(r.name);
    ids.insert(r.id);
    EXPECT_EQ(r.hostname, r.name + ".cr.de-fra.ionos.com");
    // The list agrees with the read by id.
    auto got = this->api().GetRegistry(r.id);
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    EXPECT_EQ(got.value().name, r.name);
  }
  std::set<std::string> expected = {kRegistry, kOtherRegistry};
  for (int i = 0; i < TestFixture::kExtra; ++i) expected.insert(ExtraRegistryName(i));
  EXPECT_EQ(names, expected);
  EXPECT_EQ(ids.size(), expected.size());
  EXPECT_EQ(listed.value().size(), expected.size());
}

TYPED_TEST(RegistryListContract, AFailedPageFailsTheWholeList) {
  this->h_.FailRegistryListAfterTheFirstPage();
  auto listed = this->api().ListRegistries();
  ASSERT_FALSE(listed.ok()) << "a partial list of " << listed.value().size() << " registries";
  EXPECT_EQ(listed.error().kind, ErrorKind::kUnavailable) << listed.error().ToString();
  this->h_.ClearFaults();
  listed = this->api().ListRegistries();
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  EXPECT_EQ(listed.value().size(), static_cast<size_t>(TestFixture::kExtra + 2));
}

// --- create ---

TYPED_TEST(RegistryApiContract, CreateReturnsTheTokenAsSentAndItsPasswordOnce) {
  TokenFields fields = Fields("ci-push");
  fields.status = TokenStatus::kDisabled;
  fields.scopes = {Scope{"app/*", "repository", {"pull", "push"}},
                   Scope{"base/*", "repository", {"pull"}}};
  auto created = this->api().CreateToken(this->rid_, TokenId(1), fields);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  const ObservedToken& t = created.value().token;
  EXPECT_EQ(t.id, TokenId(1));
  EXPECT_EQ(t.name, "ci-push");
  EXPECT_EQ(t.status, TokenStatus::kDisabled);
  EXPECT_EQ(t.expiry, At(2031, 1, 15));
  EXPECT_EQ(t.scopes, fields.scopes);
  ASSERT_FALSE(created.value().password.empty());
  // The password returned is the one the registry holds.
  EXPECT_EQ(this->h_.StoredPassword(this->rid_, "ci-push"), created.value().password.Reveal());

  auto got = this->api().GetToken(this->rid_, TokenId(1));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got.value().id, TokenId(1));
  EXPECT_EQ(got.value().name, "ci-push");
  EXPECT_EQ(got.value().status, TokenStatus::kDisabled);
  EXPECT_EQ(got.value().expiry, At(2031, 1, 15));
  EXPECT_EQ(got.value().scopes, fields.scopes);
}

TYPED_TEST(RegistryApiContract, CreateWithoutExpiryMakesATokenThatNeverExpires) {
  TokenFields fields = Fields("no-expiry");
  fields.expiry.reset();
  auto created = this->api().CreateToken(this->rid_, TokenId(1), fields);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_FALSE(created.value().token.expiry.has_value());
  auto got = this->api().GetToken(this->rid_, TokenId(1));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_FALSE(got.value().expiry.has_value());
}

// A retried create (the same PUT again, e.g. after a lost answer) never makes a second token and
// never hands out a password: the registry keeps the one issued first, so a second one would not
// work. It is an error, not a success without a password.
TYPED_TEST(RegistryApiContract, RepeatedCreateWithTheSameIdMakesOneTokenAndNoSecondPassword) {
  auto first = this->api().CreateToken(this->rid_, TokenId(1), Fields("ci-push"));
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  const std::string password = first.value().password.Reveal();

  TokenFields again = Fields("ci-push");
  again.status = TokenStatus::kDisabled;
  auto second = this->api().CreateToken(this->rid_, TokenId(1), again);
  ASSERT_FALSE(second.ok()) << "a repeated PUT returned a password";
  EXPECT_EQ(second.error().kind, ErrorKind::kUnavailable) << second.error().ToString();

  EXPECT_EQ(this->h_.TokenCount(this->rid_), 1u);
  EXPECT_EQ(this->h_.StoredPassword(this->rid_, "ci-push"), password);
  auto listed = this->api().ListTokens(this->rid_);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].id, TokenId(1));
  // The PUT replaced the token's writable fields.
  EXPECT_EQ(listed.value()[0].status, TokenStatus::kDisabled);
}

TYPED_TEST(RegistryApiContract, CreateOfANameTakenByAnotherIdIsAConflictAndChangesNothing) {
  this->MustCreate(1, "ci-push");
  const auto password = this->h_.StoredPassword(this->rid_, "ci-push");
  TokenFields other = Fields("ci-push");
  other.status = TokenStatus::kDisabled;
  auto taken = this->api().CreateToken(this->rid_, TokenId(2), other);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().kind, ErrorKind::kConflict) << taken.error().ToString();

  EXPECT_EQ(this->h_.TokenCount(this->rid_), 1u);
  EXPECT_EQ(this->h_.StoredPassword(this->rid_, "ci-push"), password);
  auto got = this->api().GetToken(this->rid_, TokenId(1));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got.value().status, TokenStatus::kEnabled);
  auto absent = this->api().GetToken(this->rid_, TokenId(2));
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().kind, ErrorKind::kNotFound);
}

// A token's name cannot change: a PUT onto an existing id with another name is refused.
TYPED_TEST(RegistryApiContract, CreateOntoAnExistingIdWithAnotherNameIsRefused) {
  this->MustCreate(1, "ci-push");
  auto renamed = this->api().CreateToken(this->rid_, TokenId(1), Fields("ci-pull"));
  ASSERT_FALSE(renamed.ok());
  EXPECT_EQ(renamed.error().kind, ErrorKind::kInvalid) << renamed.error().ToString();

  auto got = this->api().GetToken(this->rid_, TokenId(1));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got.value().name, "ci-push");
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 1u);
  EXPECT_FALSE(this->h_.StoredPassword(this->rid_, "ci-pull").has_value());
}

// Token ids are unique across registries.
TYPED_TEST(RegistryApiContract, CreateWithAnIdUsedInAnotherRegistryIsAConflict) {
  this->MustCreate(1, "ci-push");
  auto elsewhere = this->api().CreateToken(this->other_rid_, TokenId(1), Fields("ci-push"));
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_EQ(elsewhere.error().kind, ErrorKind::kConflict) << elsewhere.error().ToString();
  EXPECT_EQ(this->h_.TokenCount(this->other_rid_), 0u);
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 1u);
}

TYPED_TEST(RegistryApiContract, CreateInAnUnknownRegistryIsNotFound) {
  auto created = this->api().CreateToken(kUnknownRegistryId, TokenId(1), Fields("ci-push"));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ErrorKind::kNotFound) << created.error().ToString();
}

TYPED_TEST(RegistryApiContract, IdsThatAreNotUuidsAreInvalid) {
  auto created = this->api().CreateToken(this->rid_, "not-a-uuid", Fields("ci-push"));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ErrorKind::kInvalid) << created.error().ToString();
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 0u);
  auto got = this->api().GetToken(this->rid_, "not-a-uuid");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ErrorKind::kInvalid) << got.error().ToString();
  auto registry = this->api().GetRegistry("acme-prod");
  ASSERT_FALSE(registry.ok());
  EXPECT_EQ(registry.error().kind, ErrorKind::kInvalid) << registry.error().ToString();
  auto list = this->api().ListTokens("acme-prod");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::kInvalid) << list.error().ToString();
  TokenPatch patch;
  patch.status = TokenStatus::kDisabled;
  auto patched = this->api().PatchToken(this->rid_, "not-a-uuid", patch);
  ASSERT_FALSE(patched.ok());
  EXPECT_EQ(patched.error().kind, ErrorKind::kInvalid) << patched.error().ToString();
  Status deleted = this->api().DeleteToken(this->rid_, "not-a-uuid");
  ASSERT_FALSE(deleted.ok());
  EXPECT_EQ(deleted.error().kind, ErrorKind::kInvalid) << deleted.error().ToString();
}

// Names follow the API's pattern: a letter first, then letters, digits and '-', 2 to 63 long,
// not ending in '-'.
TYPED_TEST(RegistryApiContract, TokenNamesOutsideTheApisPatternAreInvalid) {
  int n = 0;
  const std::vector<std::string> bad = {
      "", "x", "9lives", "ci_push", "ci-push-", "ci.push", "a" + std::string(63, 'b')};
  for (const std::string& name : bad) {
    auto created = this->api().CreateToken(this->rid_, TokenId(++n), Fields(name));
    ASSERT_FALSE(created.ok()) << "'" << name << "' was taken";
    EXPECT_EQ(created.error().kind, ErrorKind::kInvalid) << created.error().ToString();
  }
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 0u);
  auto longest =
      this->api().CreateToken(this->rid_, TokenId(++n), Fields("A" + std::string(62, '1')));
  EXPECT_TRUE(longest.ok()) << longest.error().ToString();
}

// Ids are UUIDs, and UUIDs are compared without regard to case; the API writes them lower-case.
TYPED_TEST(RegistryApiContract, TokenIdsAreCaseInsensitiveAndComeBackLowerCase) {
  const std::string upper = "5EED0000-0000-4000-8000-00000000ABCD";
  const std::string lower = "5eed0000-0000-4000-8000-00000000abcd";
  auto created = this->api().CreateToken(this->rid_, upper, Fields("ci-push"));
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_EQ(created.value().token.id, lower);
  auto got = this->api().GetToken(this->rid_, lower);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got.value().id, lower);
  auto listed = this->api().ListTokens(this->rid_);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].id, lower);
  // The same id in the other case is the same token.
  auto again = this->api().CreateToken(this->rid_, lower, Fields("ci-push"));
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 1u);
  Status deleted = this->api().DeleteToken(this->rid_, upper);
  ASSERT_TRUE(deleted.ok()) << deleted.error().ToString();
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 0u);
}

// --- read ---

TYPED_TEST(RegistryApiContract, UnknownTokensAndRegistriesAreNotFound) {
  auto token = this->api().GetToken(this->rid_, TokenId(9));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().kind, ErrorKind::kNotFound) << token.error().ToString();
  auto in_unknown = this->api().GetToken(kUnknownRegistryId, TokenId(9));
  ASSERT_FALSE(in_unknown.ok());
  EXPECT_EQ(in_unknown.error().kind, ErrorKind::kNotFound) << in_unknown.error().ToString();
  auto list = this->api().ListTokens(kUnknownRegistryId);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::kNotFound) << list.error().ToString();
}

TYPED_TEST(RegistryApiContract, TokensOfOneRegistryAreNotSeenInAnother) {
  this->MustCreate(1, "ci-push");
  auto other = this->api().ListTokens(this->other_rid_);
  ASSERT_TRUE(other.ok()) << other.error().ToString();
  EXPECT_TRUE(other.value().empty());
  auto got = this->api().GetToken(this->other_rid_, TokenId(1));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ErrorKind::kNotFound) << got.error().ToString();
  // The same name may live in each registry.
  auto same_name = this->api().CreateToken(this->other_rid_, TokenId(2), Fields("ci-push"));
  ASSERT_TRUE(same_name.ok()) << same_name.error().ToString();
}

// More tokens than one page holds (the client asks for 100 a page): the list is whole.
TYPED_TEST(RegistryApiContract, ListReturnsEveryTokenAcrossPages) {
  constexpr int kTokens = 230;
  for (int i = 1; i <= kTokens; ++i) this->MustCreate(i, "t-" + std::to_string(i));
  auto listed = this->api().ListTokens(this->rid_);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  std::set<std::string> ids;
  std::set<std::string> names;
  for (const ObservedToken& t : listed.value()) {
    ids.insert(t.id);
    names.insert(t.name);
    EXPECT_EQ(t.scopes, Fields("x").scopes) << t.name;
  }
  EXPECT_EQ(listed.value().size(), static_cast<size_t>(kTokens));
  EXPECT_EQ(ids.size(), static_cast<size_t>(kTokens));
  EXPECT_EQ(names.size(), static_cast<size_t>(kTokens));
  EXPECT_TRUE(ids.count(TokenId(1)) && ids.count(TokenId(kTokens)));
}

// The list is in creation order, across pages, whatever the ids: a token deleted and created
// again comes last.
TYPED_TEST(RegistryApiContract, ListIsInCreationOrderAcrossPages) {
  constexpr int kTokens = 130;
  std::vector<std::string> created;
  for (int i = 0; i < kTokens; ++i) {
    // Ids made in descending order, and names in neither order of the ids.
    const int n = kTokens - i;
    created.push_back(this->MustCreate(n, "t-" + std::to_string((i * 7) % kTokens)).id);
  }
  ASSERT_TRUE(this->api().DeleteToken(this->rid_, created.front()).ok());
  auto again = this->api().CreateToken(this->rid_, created.front(), Fields("again"));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  std::vector<std::string> expected(created.begin() + 1, created.end());
  expected.push_back(created.front());

  auto listed = this->api().ListTokens(this->rid_);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  std::vector<std::string> ids;
  for (const ObservedToken& t : listed.value()) ids.push_back(t.id);
  EXPECT_EQ(ids, expected);
}

// --- expiry ---

// An expiry that is not in the future is refused, on create, on a PUT onto an existing token and
// on a patch; nothing changes.
TYPED_TEST(RegistryApiContract, AnExpiryInThePastIsRefusedAndChangesNothing) {
  TokenFields past = Fields("expired");
  past.expiry = At(2020, 1, 1);
  auto created = this->api().CreateToken(this->rid_, TokenId(1), past);
  ASSERT_FALSE(created.ok()) << "a token that expired before it was made";
  EXPECT_EQ(created.error().kind, ErrorKind::kInvalid) << created.error().ToString();
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 0u);
  EXPECT_FALSE(this->h_.StoredPassword(this->rid_, "expired").has_value());

  this->MustCreate(2, "ci-push");
  TokenFields replace = Fields("ci-push");
  replace.status = TokenStatus::kDisabled;
  replace.expiry = At(2020, 1, 1);
  auto put = this->api().CreateToken(this->rid_, TokenId(2), replace);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().kind, ErrorKind::kInvalid) << put.error().ToString();

  TokenPatch patch;
  patch.expiry = std::optional<Instant>(At(2020, 1, 1));
  auto patched = this->api().PatchToken(this->rid_, TokenId(2), patch);
  ASSERT_FALSE(patched.ok());
  EXPECT_EQ(patched.error().kind, ErrorKind::kInvalid) << patched.error().ToString();

  auto got = this->api().GetToken(this->rid_, TokenId(2));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got.value().status, TokenStatus::kEnabled);
  EXPECT_EQ(got.value().expiry, At(2031, 1, 15));
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 1u);
}

// A token whose expiry comes is gone, as the service deletes it: not listed, not found, its
// password gone, its name free; the others stay.
TYPED_TEST(RegistryApiContract, ATokenWhoseExpiryComesIsGone) {
  const Instant now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  TokenFields soon = Fields("short-lived");
  soon.expiry = now + std::chrono::hours(1);
  ASSERT_TRUE(this->api().CreateToken(this->rid_, TokenId(1), soon).ok());
  this->MustCreate(2, "long-lived");  // expires in 2031
  ASSERT_EQ(this->h_.TokenCount(this->rid_), 2u);

  this->h_.AdvanceClock(std::chrono::hours(2));

  auto got = this->api().GetToken(this->rid_, TokenId(1));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ErrorKind::kNotFound) << got.error().ToString();
  auto listed = this->api().ListTokens(this->rid_);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].id, TokenId(2));
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 1u);
  EXPECT_FALSE(this->h_.StoredPassword(this->rid_, "short-lived").has_value());
  EXPECT_TRUE(this->api().DeleteToken(this->rid_, TokenId(1)).ok());
  TokenFields renewed = Fields("short-lived");
  renewed.expiry.reset();
  auto created = this->api().CreateToken(this->rid_, TokenId(3), renewed);
  EXPECT_TRUE(created.ok()) << created.error().ToString();
}

// --- patch ---

TYPED_TEST(RegistryApiContract, PatchChangesOnlyTheFieldsItSets) {
  this->MustCreate(1, "ci-push");
  TokenPatch status;
  status.status = TokenStatus::kDisabled;
  auto patched = this->api().PatchToken(this->rid_, TokenId(1), status);
  ASSERT_TRUE(patched.ok()) << patched.error().ToString();
  EXPECT_EQ(patched.value().status, TokenStatus::kDisabled);
  EXPECT_EQ(patched.value().expiry, At(2031, 1, 15));
  EXPECT_EQ(patched.value().scopes, Fields("x").scopes);

  TokenPatch expiry;
  expiry.expiry = std::optional<Instant>(At(2032, 2, 29));
  patched = this->api().PatchToken(this->rid_, TokenId(1), expiry);
  ASSERT_TRUE(patched.ok()) << patched.error().ToString();
  EXPECT_EQ(patched.value().expiry, At(2032, 2, 29));
  EXPECT_EQ(patched.value().status, TokenStatus::kDisabled);

  auto got = this->api().GetToken(this->rid_, TokenId(1));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got.value().name, "ci-push");
  EXPECT_EQ(got.value().status, TokenStatus::kDisabled);
  EXPECT_EQ(got.value().expiry, At(2032, 2, 29));
  EXPECT_EQ(got.value().scopes, Fields("x").scopes);
}

TYPED_TEST(RegistryApiContract, PatchClearsTheExpiry) {
  this->MustCreate(1, "ci-push");
  TokenPatch clear;
  clear.expiry = std::optional<Instant>();
  auto patched = this->api().PatchToken(this->rid_, TokenId(1), clear);
  ASSERT_TRUE(patched.ok()) << patched.error().ToString();
  EXPECT_FALSE(patched.value().expiry.has_value());
  auto got = this->api().GetToken(this->rid_, TokenId(1));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_FALSE(got.value().expiry.has_value());
  EXPECT_EQ(got.value().status, TokenStatus::kEnabled);
}

TYPED_TEST(RegistryApiContract, PatchReplacesTheWholeScopeList) {
  TokenFields fields = Fields("ci-push");
  fields.scopes = {Scope{"app/*", "repository", {"pull", "push"}},
                   Scope{"base/*", "repository", {"pull"}}};
  ASSERT_TRUE(this->api().CreateToken(this->rid_, TokenId(1), fields).ok());
  TokenPatch scopes;
  scopes.scopes = std::vector<Scope>{Scope{"*", "repository", {"delete"}}};
  auto patched = this->api().PatchToken(this->rid_, TokenId(1), scopes);
  ASSERT_TRUE(patched.ok()) << patched.error().ToString();
  EXPECT_EQ(patched.value().scopes, *scopes.scopes);
  auto got = this->api().GetToken(this->rid_, TokenId(1));
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got.value().scopes, *scopes.scopes);
  EXPECT_EQ(got.value().expiry, At(2031, 1, 15));
}

TYPED_TEST(RegistryApiContract, PatchKeepsThePassword) {
  this->MustCreate(1, "ci-push");
  const auto password = this->h_.StoredPassword(this->rid_, "ci-push");
  ASSERT_TRUE(password.has_value());
  TokenPatch patch;
  patch.status = TokenStatus::kDisabled;
  patch.scopes = std::vector<Scope>{};
  ASSERT_TRUE(this->api().PatchToken(this->rid_, TokenId(1), patch).ok());
  EXPECT_EQ(this->h_.StoredPassword(this->rid_, "ci-push"), password);
}

TYPED_TEST(RegistryApiContract, PatchOfAnUnknownTokenOrRegistryIsNotFound) {
  TokenPatch patch;
  patch.status = TokenStatus::kDisabled;
  auto token = this->api().PatchToken(this->rid_, TokenId(9), patch);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().kind, ErrorKind::kNotFound) << token.error().ToString();
  auto registry = this->api().PatchToken(kUnknownRegistryId, TokenId(9), patch);
  ASSERT_FALSE(registry.ok());
  EXPECT_EQ(registry.error().kind, ErrorKind::kNotFound) << registry.error().ToString();
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 0u);
}

// --- delete ---

TYPED_TEST(RegistryApiContract, DeleteRemovesTheTokenAndIsIdempotent) {
  this->MustCreate(1, "ci-push");
  this->MustCreate(2, "ci-pull");
  Status deleted = this->api().DeleteToken(this->rid_, TokenId(1));
  ASSERT_TRUE(deleted.ok()) << deleted.error().ToString();

  auto got = this->api().GetToken(this->rid_, TokenId(1));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ErrorKind::kNotFound) << got.error().ToString();
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 1u);
  EXPECT_FALSE(this->h_.StoredPassword(this->rid_, "ci-push").has_value());
  auto listed = this->api().ListTokens(this->rid_);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].id, TokenId(2));

  // Already gone: still a success.
  Status again = this->api().DeleteToken(this->rid_, TokenId(1));
  EXPECT_TRUE(again.ok()) << again.error().ToString();
  // The name is free again, for a new id.
  auto recreated = this->api().CreateToken(this->rid_, TokenId(3), Fields("ci-push"));
  ASSERT_TRUE(recreated.ok()) << recreated.error().ToString();
  EXPECT_EQ(this->h_.TokenCount(this->rid_), 2u);
}

// A token in a registry that does not exist is gone too: deleting it succeeds.
TYPED_TEST(RegistryApiContract, DeleteInAnUnknownRegistrySucceeds) {
  Status deleted = this->api().DeleteToken(kUnknownRegistryId, TokenId(1));
  EXPECT_TRUE(deleted.ok()) << deleted.error().ToString();
}

}  // namespace
}  // namespace crtoken
