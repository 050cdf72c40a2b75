// Ownership read from the world on every pass, against the in-memory fakes: two installations
// (owners) share one registry; the secrets of the owner are listed once per pass (a failed listing
// holds deletes back); a registry deleted and recreated under its name converges; and what a pass
// costs when nothing changes. End states, not call sequences (the cost test counts requests).
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "reconciler/reconciler.h"
#include "reconciler/token_id.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;

constexpr char kHost[] = "acme.cr.de-fra.ionos.com";

TokenSpec Spec(const std::string& name, const std::string& registry = "acme") {
  TokenSpec spec;
  spec.name = name;
  spec.registry = registry;
  spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
  spec.secret.kind = SecretRef::Kind::kFile;
  spec.secret.file = registry + "/" + name + ".json";
  spec.source = SourceLocation{"/specs/" + name + ".yaml", 4, 9};
  return spec;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// One installation of crtoken: its owner name, its own secrets, its own process.
struct Installation {
  std::string owner;
  MemorySecretSink sink;
  std::unique_ptr<Reconciler> reconciler;
  Installation(FakeRegistryApi& api, const Clock& clock, std::string name)
      : owner(std::move(name)) {
    ReconcilerConfig config;
    config.policy.owner = owner;
    config.policy.prune = PruneMode::kOwned;
    reconciler = std::make_unique<Reconciler>(api, sink, clock, nullptr, config);
  }
};

class OwnershipTest : public ::testing::Test {
 protected:
  OwnershipTest() : acme_(api_.AddRegistry("acme", kHost)) {}

  // The owner whose id the live token `name` of `registry_id` carries ("" when none).
  std::string OwnerOf(const std::string& registry_id, const std::string& name,
                      const std::vector<std::string>& owners) {
    auto token = api_.Find(registry_id, name);
    if (!token) return "";
    for (const std::string& owner : owners) {
      if (ClassifyTokenId(owner, registry_id, name, token->token.id).cls == TokenIdClass::kMine) {
        return owner;
      }
    }
    return "?";
  }

  FakeRegistryApi api_;
  FakeClock clock_;
  std::string acme_;
};

TEST_F(OwnershipTest, TwoOwnersOnOneRegistryPruneOnlyTheirOwnAndAShareNameIsReportedOnce) {
  Installation a(api_, clock_, "cluster-a");
  Installation b(api_, clock_, "cluster-b");
  DesiredState want_a, want_b;
  want_a.specs = {Spec("a-push"), Spec("a-pull"), Spec("shared")};
  want_b.specs = {Spec("b-push"), Spec("b-pull"), Spec("shared")};

  PassResult first_a = a.reconciler->Reconcile(want_a);
  EXPECT_TRUE(first_a.converged) << Joined(first_a.errors);
  PassResult first_b = b.reconciler->Reconcile(want_b);
  EXPECT_FALSE(first_b.converged);
  // The second to declare "shared" reports it, naming the holder, and leaves it alone.
  const std::string holder = FingerprintText(OwnerFingerprint("cluster-a"));
  const std::string self = FingerprintText(OwnerFingerprint("cluster-b"));
  EXPECT_NE(Joined(first_b.errors)
                .find("/specs/shared.yaml:4:9: a token named shared exists in registry acme and "
                      "belongs to another crtoken installation (owner fingerprint " +
                      holder + "; this one is owner \"cluster-b\", fingerprint " + self + ")"),
            std::string::npos)
      << Joined(first_b.errors);
  EXPECT_EQ(OwnerOf(acme_, "shared", {"cluster-a", "cluster-b"}), "cluster-a");
  EXPECT_EQ(OwnerOf(acme_, "b-push", {"cluster-a", "cluster-b"}), "cluster-b");
  EXPECT_EQ(api_.TokenCount(acme_), 5u);
  EXPECT_FALSE(b.sink.Get("file:acme/shared.json").has_value());

  // Each drops a spec: each prunes its own token only; the other's tokens stay as they are.
  want_a.specs = {Spec("a-push"), Spec("shared")};
  want_b.specs = {Spec("b-push")};
  const std::string b_pull_id = api_.Find(acme_, "b-pull")->token.id;
  PassResult prune_a = a.reconciler->Reconcile(want_a);
  EXPECT_TRUE(prune_a.converged) << Joined(prune_a.errors);
  EXPECT_FALSE(api_.Find(acme_, "a-pull").has_value());
  EXPECT_EQ(api_.Find(acme_, "b-pull")->token.id, b_pull_id);
  EXPECT_EQ(prune_a.plan.counts.unmanaged, 2);  // b-push, b-pull: another owner's
  PassResult prune_b = b.reconciler->Reconcile(want_b);
  EXPECT_TRUE(prune_b.converged) << Joined(prune_b.errors);
  EXPECT_FALSE(api_.Find(acme_, "b-pull").has_value());
  EXPECT_FALSE(b.sink.Get("file:acme/b-pull.json").has_value());
  EXPECT_EQ(OwnerOf(acme_, "shared", {"cluster-a", "cluster-b"}), "cluster-a");
  EXPECT_TRUE(a.sink.Get("file:acme/shared.json").has_value());
  EXPECT_EQ(api_.TokenCount(acme_), 3u);  // a-push, shared, b-push

  // Nothing more to do for either, and prune all does not take the other's tokens either.
  EXPECT_TRUE(a.reconciler->Reconcile(want_a).plan.empty());
  ReconcilerConfig all;
  all.policy.owner = "cluster-b";
  all.policy.prune = PruneMode::kAll;
  PassResult prune_all = Reconciler(api_, b.sink, clock_, nullptr, all).Reconcile(want_b);
  EXPECT_TRUE(prune_all.converged) << Joined(prune_all.errors);
  EXPECT_EQ(api_.TokenCount(acme_), 3u);
}

TEST_F(OwnershipTest, AnotherOwnersTokenIsTakenOverOnlyWhenAdopted) {
  Installation old_owner(api_, clock_, "crtoken");
  DesiredState desired;
  desired.specs = {Spec("ci-push")};
  ASSERT_TRUE(old_owner.reconciler->Reconcile(desired).converged);

  // Restarted under another owner: its tokens are another owner's now.
  Installation renamed(api_, clock_, "cluster-a");
  EXPECT_FALSE(renamed.reconciler->Reconcile(desired).converged);
  EXPECT_EQ(OwnerOf(acme_, "ci-push", {"crtoken", "cluster-a"}), "crtoken");
  desired.specs[0].adopt = true;
  PassResult adopted = renamed.reconciler->Reconcile(desired);
  EXPECT_TRUE(adopted.converged) << Joined(adopted.errors);
  EXPECT_EQ(OwnerOf(acme_, "ci-push", {"crtoken", "cluster-a"}), "cluster-a");
  EXPECT_EQ(renamed.sink.Get("file:acme/ci-push.json")->password.Reveal(),
            api_.Find(acme_, "ci-push")->password);
  EXPECT_EQ(api_.TokenCount(acme_), 1u);
}

TEST_F(OwnershipTest, ARegistryRecreatedUnderItsNameConvergesWithoutALoopOfLookups) {
  Installation crtoken(api_, clock_, "crtoken");
  DesiredState desired;
  desired.specs = {Spec("ci-push"), Spec("old")};
  ASSERT_TRUE(crtoken.reconciler->Reconcile(desired).converged);

  // The registry is deleted (with its tokens) and created again: same name, new id.
  api_.RemoveRegistry(acme_);
  const std::string again = api_.AddRegistry("acme", kHost);
  desired.specs = {Spec("ci-push")};
  PassResult pass = crtoken.reconciler->Reconcile(desired);
  EXPECT_TRUE(pass.converged) << Joined(pass.errors);
  // The declared token is created in the new registry, its secret rewritten to record it; the
  // secret of the undeclared one, recording the registry that is gone, is deleted.
  auto token = crtoken.sink.Get("file:acme/ci-push.json");
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(token->record.registry_id, again);
  EXPECT_EQ(token->password.Reveal(), api_.Find(again, "ci-push")->password);
  EXPECT_FALSE(crtoken.sink.Get("file:acme/old.json").has_value());
  EXPECT_EQ(api_.lookups, 1);  // the old id, once: 404

  // The next passes look nothing up and change nothing.
  for (int i = 0; i < 2; ++i) {
    PassResult quiet = crtoken.reconciler->Reconcile(desired);
    EXPECT_TRUE(quiet.converged) << Joined(quiet.errors);
    EXPECT_TRUE(quiet.plan.empty());
  }
  EXPECT_EQ(api_.lookups, 1);
}

TEST_F(OwnershipTest, ARegistryNoSpecNamesAnyMoreIsStillPrunedAndItsRefIsOffered) {
  const std::string beta = api_.AddRegistry("beta", "beta.cr.de-txl.ionos.com");
  Installation crtoken(api_, clock_, "crtoken");
  DesiredState desired;
  desired.specs = {Spec("ci-push"), Spec("deployer", "beta")};
  ASSERT_TRUE(crtoken.reconciler->Reconcile(desired).converged);
  desired.specs.pop_back();
  // The daemon splits the work by ref: beta is offered by id, found in the secrets.
  auto refs = crtoken.reconciler->RegistryRefs(desired);
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs.value(), (std::vector<std::string>{"acme", beta}));
  PassResult pass = crtoken.reconciler->Reconcile(desired, {beta});
  EXPECT_TRUE(pass.converged) << Joined(pass.errors);
  EXPECT_FALSE(api_.Find(beta, "deployer").has_value());
  EXPECT_FALSE(crtoken.sink.Get("file:beta/deployer.json").has_value());
  EXPECT_TRUE(api_.Find(acme_, "ci-push").has_value());
  refs = crtoken.reconciler->RegistryRefs(desired);
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs.value(), std::vector<std::string>{"acme"});
}

TEST_F(OwnershipTest, ARegistryDeclaredByNameIsNotOfferedAgainByTheIdItsSecretsRecord) {
  Installation crtoken(api_, clock_, "crtoken");
  DesiredState desired;
  desired.specs = {Spec("ci-push")};
  // Before any pass: one registry list tells the id's name.
  ASSERT_TRUE(crtoken.sink
                  .Write(desired.specs[0].secret,
                         DockerCredential{kHost, "ci-push", Password("x"),
                                          SecretRecord{"crtoken", acme_, "ci-push", "whatever"}})
                  .ok());
  auto refs = crtoken.reconciler->RegistryRefs(desired);
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs.value(), std::vector<std::string>{"acme"});
  EXPECT_EQ(api_.registry_lists, 1);
  // After a pass the names are known: no registry list at all.
  crtoken.reconciler->Reconcile(desired);
  const int lists = api_.registry_lists;
  refs = crtoken.reconciler->RegistryRefs(desired);
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs.value(), std::vector<std::string>{"acme"});
  EXPECT_EQ(api_.registry_lists, lists);
  // A listing that fails is an error: the daemon cannot tell which registries need a pass.
  crtoken.sink.fail_list = true;
  EXPECT_FALSE(crtoken.reconciler->RegistryRefs(desired).ok());
}

// What a pass costs when nothing changes: 10 registries of 100 tokens each, declared by name.
TEST_F(OwnershipTest, ANoChangePassCostsOneRegistryListAndOneTokenListPerRegistry) {
  Installation crtoken(api_, clock_, "crtoken");
  DesiredState desired;
  for (int r = 0; r < 10; ++r) {
    const std::string name = "reg-" + std::to_string(r);
    api_.AddRegistry(name, name + ".cr.de-fra.ionos.com");
    for (int t = 0; t < 100; ++t) desired.specs.push_back(Spec("tok-" + std::to_string(t), name));
  }
  PassResult first = crtoken.reconciler->Reconcile(desired);
  ASSERT_TRUE(first.converged) << Joined(first.errors);
  ASSERT_EQ(first.write_requests, 1000);

  api_.registry_lists = 0;
  api_.lists = 0;
  api_.lookups = 0;
  api_.gets = 0;
  crtoken.sink.listings = 0;
  const int writes = api_.Writes();
  const int secret_writes = crtoken.sink.writes;
  const int flushes = crtoken.sink.flushes;
  PassResult quiet = crtoken.reconciler->Reconcile(desired);
  EXPECT_TRUE(quiet.converged) << Joined(quiet.errors);
  EXPECT_TRUE(quiet.plan.empty());
  EXPECT_EQ(quiet.plan.counts.in_sync, 1000);
  EXPECT_EQ(api_.registry_lists, 1);
  EXPECT_EQ(api_.lists, 10);
  EXPECT_EQ(api_.lookups, 0);
  EXPECT_EQ(api_.gets, 0);
  EXPECT_EQ(api_.Writes(), writes);
  EXPECT_EQ(crtoken.sink.listings, 1);
  EXPECT_EQ(crtoken.sink.writes, secret_writes);
  EXPECT_EQ(crtoken.sink.flushes, flushes);
  std::printf(
      "no-change pass, 10 registries x 100 tokens by name: %d registry list, %d token lists, "
      "%d lookups, %d token GETs, %d writes; %d secret listing, 0 secret writes, 0 syncs\n",
      api_.registry_lists.load(), api_.lists.load(), api_.lookups.load(), api_.gets.load(),
      api_.Writes() - writes, crtoken.sink.listings.load());
}

}  // namespace
}  // namespace crtoken
