// "A typo must never delete tokens", end to end: the real `crtoken plan`/`apply`/`validate`
// against crtoken-emulator, with spec trees that cannot be read in every way a careful attacker
// would try next (a mistyped or missing --specs, a dangling git-sync link, a vanished file, a
// symlink loop, an empty root, an unreadable subdirectory, a FIFO, a socket, a dangling entry),
// and YAML built to exhaust memory. Each time: the tokens, their ids and passwords, and the secret
// files are exactly as before, and no DELETE reached the API.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/file_capabilities.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// In the child, before exec: the exec'd crtoken is bound by file permissions like any user.
void WithoutFileCapabilities() {
  if (!DropFileCapabilitiesForExec()) ::_exit(126);
}

// What must not change: every token's id and password, and every secret file's content.
using Snapshot = std::map<std::string, std::string>;

class SpecSafetyE2eTest : public ::testing::Test {
 protected:
  SpecSafetyE2eTest()
      : emu_({"--registry", "acme-prod", "--token", "t"}), dir_("crtoken-spec-safety") {
    fs::create_directories(dir_ / "out");
  }

  // crtoken COMMAND [--specs PATH]... with the emulator, secret and state dirs of this test.
  CommandResult Run(const std::string& command, const std::vector<std::string>& specs,
                    std::vector<std::string> extra = {},
                    const std::function<void()>& in_child = {}) {
    std::vector<std::string> args = OneShotArgs(command, emu_.base_url(), dir_.path());
    for (const std::string& s : specs) {
      args.push_back("--specs");
      args.push_back(s);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCrtoken(args, {{"IONOS_TOKEN", "t"}}, Path("out"), std::chrono::milliseconds(0),
                      in_child);
  }
  std::string Path(const std::string& rel) const { return (dir_ / rel).string(); }

  Snapshot Take() {
    Snapshot snap;
    const json state = emu_.StateJson();
    for (const auto& r : state["registries"]) {
      for (const auto& t : r["tokens"]) {
        snap["token " + t["name"].get<std::string>()] =
            t["id"].get<std::string>() + " " + t["password"].get<std::string>();
      }
    }
    if (fs::exists(dir_ / "secrets")) {
      for (const auto& f : fs::recursive_directory_iterator(dir_ / "secrets")) {
        if (f.is_regular_file())
          snap["secret " + f.path().filename().string()] = ReadFile(f.path());
      }
    }
    return snap;
  }
  int Requests(const std::string& method) {
    int n = 0;
    for (const auto& r : emu_.Requests()) n += r.method == method;
    return n;
  }

  // Two tokens from specs/ (one file each), applied: what every test starts from.
  Snapshot ApplyTwoTokens(const fs::path& specs) {
    WriteFile(specs / "ci-push.yaml", TokenSpecYaml("ci-push"));
    WriteFile(specs / "puller.yaml", TokenSpecYaml("puller"));
    const CommandResult r = Run("apply", {specs.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const Snapshot snap = Take();
    EXPECT_EQ(snap.size(), 4u) << ::testing::PrintToString(snap);
    emu_.ClearRequests();
    return snap;
  }

  CommandResult Validate(const std::string& path) {
    return RunCrtoken({"validate", path}, {}, Path("out"));
  }

  // The run failed, changed nothing that exists, sent and planned no DELETE, and named `unread`.
  // `held`: the deletes it held back for that (those whose own file failed are kept anyway).
  void ExpectNothingDeleted(const CommandResult& r, const Snapshot& before,
                            const std::string& unread, int held) {
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(Requests("DELETE"), 0);
    const Snapshot after = Take();
    for (const auto& [what, value] : before) {
      auto it = after.find(what);
      ASSERT_NE(it, after.end()) << what << " is gone";
      EXPECT_EQ(it->second, value) << what << " changed";
    }
    EXPECT_NE(r.err.find(unread), std::string::npos) << r.err;
    if (held > 0) {
      const std::string why = "registry acme-prod: nothing pruned, " + std::to_string(held) +
                              (held == 1 ? " delete" : " deletes") +
                              " held back while spec paths cannot be read (";
      EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    }
    EXPECT_EQ(("\n" + r.out).find("\ndelete "), std::string::npos) << r.out;
  }

  EmulatorProcess emu_;
  TempDir dir_;
};

TEST_F(SpecSafetyE2eTest, AMistypedSpecsPathDeletesNothingInAnyPruneMode) {
  const Snapshot before = ApplyTwoTokens(dir_ / "specs");
  const std::string typo = Path("spces");
  for (const char* prune : {"owned", "all"}) {
    CommandResult plan = Run("plan", {typo}, {"--prune", prune});
    ExpectNothingDeleted(plan, before, typo + ": no such file or directory", 2);
    EXPECT_NE(plan.out.find("0 to delete"), std::string::npos) << plan.out;
    CommandResult apply = Run("apply", {typo}, {"--prune", prune});
    ExpectNothingDeleted(apply, before, typo + ": no such file or directory", 2);
    // The last line no longer claims only the failing files' tokens were kept.
    EXPECT_NE(apply.err.find("1 spec errors; the tokens of failing files were left as they are, "
                             "and nothing was deleted: part of the specs cannot be read"),
              std::string::npos)
        << apply.err;
  }
  // With the right path everything is in sync.
  CommandResult plan = Run("plan", {Path("specs")});
  EXPECT_EQ(plan.exit_code, 0) << plan.out << plan.err;
}

TEST_F(SpecSafetyE2eTest, AMissingDefaultManifestsDirectoryDeletesNothing) {
  // apply run from a directory that has ./manifests, then from one that does not.
  const Snapshot before = ApplyTwoTokens(dir_ / "project/manifests");
  fs::create_directories(dir_ / "elsewhere");
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_ / "elsewhere");
  CommandResult plan = Run("plan", {});
  CommandResult apply = Run("apply", {});
  fs::current_path(cwd);
  ExpectNothingDeleted(plan, before, "./manifests: no such file or directory", 2);
  ExpectNothingDeleted(apply, before, "./manifests: no such file or directory", 2);
}

TEST_F(SpecSafetyE2eTest, ADanglingGitSyncLinkDeletesNothing) {
  // git-sync: root/current -> .worktrees/<rev>; the worktree is removed before the link moves.
  const fs::path root = dir_ / "git";
  fs::create_directories(root / ".worktrees/4f2a");
  fs::create_directory_symlink(".worktrees/4f2a", root / "current");
  const Snapshot before = ApplyTwoTokens(root / "current");
  fs::remove_all(root / ".worktrees/4f2a");
  CommandResult apply = Run("apply", {(root / "current").string()});
  ExpectNothingDeleted(apply, before, (root / "current").string() + ": broken symlink", 2);
}

TEST_F(SpecSafetyE2eTest, AVanishedSpecFileRootAndASymlinkLoopDeleteNothing) {
  const fs::path specs = dir_ / "specs";
  const Snapshot before = ApplyTwoTokens(specs);
  // The same tokens from two explicit files; then one of them vanishes.
  CommandResult apply =
      Run("apply", {(specs / "ci-push.yaml").string(), (specs / "puller.yaml").string()});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  fs::rename(specs / "puller.yaml", dir_ / "puller.yaml.away");
  apply = Run("apply", {(specs / "ci-push.yaml").string(), (specs / "puller.yaml").string()});
  EXPECT_EQ(apply.exit_code, 1);
  EXPECT_EQ(Requests("DELETE"), 0);
  EXPECT_NE(apply.err.find((specs / "puller.yaml").string() + ": no such file or directory"),
            std::string::npos)
      << apply.err;
  EXPECT_EQ(Take(), before);
  // The root replaced by a symlink loop.
  fs::rename(specs, dir_ / "specs.away");
  fs::create_directory_symlink(specs, specs);
  apply = Run("apply", {specs.string()});
  ExpectNothingDeleted(apply, before,
                       specs.string() + ": cannot read: Too many levels of symbolic links", 2);
}

TEST_F(SpecSafetyE2eTest, AnEmptyRootDeletesNothingUntilAFileDeclaresNothing) {
  const fs::path specs = dir_ / "specs";
  const Snapshot before = ApplyTwoTokens(specs);
  // The directory is there but holds nothing, as a volume that failed to mount does.
  fs::remove(specs / "ci-push.yaml");
  fs::remove(specs / "puller.yaml");
  CommandResult apply = Run("apply", {specs.string()});
  ExpectNothingDeleted(apply, before, specs.string() + ": holds no spec file (*.yaml, *.yml)", 2);
  // A spec file that declares nothing prunes everything, on purpose.
  WriteFile(specs / "tokens.yaml", "# nothing declared\n");
  apply = Run("apply", {specs.string()});
  EXPECT_EQ(apply.exit_code, 0) << apply.err;
  EXPECT_EQ(Requests("DELETE"), 2);
  EXPECT_TRUE(Take().empty()) << ::testing::PrintToString(Take());
}

TEST_F(SpecSafetyE2eTest, AnUnreadableSubdirectoryDeletesNothingButTheRestIsApplied) {
  const fs::path specs = dir_ / "specs";
  WriteFile(specs / "sub/puller.yaml", TokenSpecYaml("puller"));
  WriteFile(specs / "ci-push.yaml", TokenSpecYaml("ci-push"));
  ASSERT_EQ(Run("apply", {specs.string()}).exit_code, 0);
  const Snapshot before = Take();
  emu_.ClearRequests();
  // A new token next to the unreadable directory is still created.
  WriteFile(specs / "ci-push.yaml", TokenSpecYaml("ci-push") + "---\n" + TokenSpecYaml("deployer"));
  fs::permissions(specs / "sub", fs::perms::none);
  CommandResult apply = Run("apply", {specs.string()}, {}, WithoutFileCapabilities);
  fs::permissions(specs / "sub", fs::perms::owner_all);
  if (apply.exit_code == 126) GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here";
  EXPECT_EQ(apply.exit_code, 1) << apply.err;
  EXPECT_NE(apply.err.find((specs / "sub").string() + ": cannot read directory: Permission denied"),
            std::string::npos)
      << apply.err;
  EXPECT_NE(apply.err.find("nothing pruned, 1 delete held back"), std::string::npos) << apply.err;
  EXPECT_EQ(Requests("DELETE"), 0);
  EXPECT_EQ(Requests("PUT"), 1);  // deployer
  const Snapshot after = Take();
  for (const auto& [what, value] : before) EXPECT_EQ(after.at(what), value) << what;
  EXPECT_EQ(after.count("token deployer"), 1u);
  EXPECT_EQ(after.count("secret deployer.json"), 1u);
}

TEST_F(SpecSafetyE2eTest, AFifoASocketOrADanglingLinkInTheTreeDeletesNothing) {
  const fs::path specs = dir_ / "specs";
  const Snapshot before = ApplyTwoTokens(specs);
  // A spec file replaced by a FIFO: never opened (it would block), an error.
  fs::remove(specs / "puller.yaml");
  ASSERT_EQ(::mkfifo((specs / "puller.yaml").c_str(), 0600), 0);
  CommandResult apply = Run("apply", {specs.string()});
  // (Its token is kept twice over: its own file failed, and the tree was not read in full.)
  ExpectNothingDeleted(
      apply, before,
      (specs / "puller.yaml").string() + ": cannot read: not a regular file (a FIFO)", 0);
  // ... by a socket.
  fs::remove(specs / "puller.yaml");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", (specs / "puller.yaml").c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  apply = Run("apply", {specs.string()});
  ::close(fd);
  ExpectNothingDeleted(
      apply, before,
      (specs / "puller.yaml").string() + ": cannot read: not a regular file (a socket)", 0);
  // ... and the file moved into a directory that is linked in, whose target is gone.
  fs::remove(specs / "puller.yaml");
  fs::create_directory_symlink(dir_ / "team-checkout", specs / "team");
  apply = Run("apply", {specs.string()});
  ExpectNothingDeleted(apply, before, (specs / "team").string() + ": cannot read: broken symlink",
                       1);
}

TEST_F(SpecSafetyE2eTest, DeepNestingAndAliasBombsAreRejectedInBoundedMemory) {
  // A ConfigMap holds 1 MB; the loader reads files up to 8 MB. Unbounded, 1 MB of '[' took
  // 244 MB to validate and 8 MB took 1.97 GB.
  for (const size_t size : {size_t{1} << 20, size_t{8} << 20}) {
    WriteFile(dir_ / "deep.yaml", std::string(size, '['));
    const CommandResult r = Validate(Path("deep.yaml"));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(Path("deep.yaml") + ":1:64: YAML nesting too deep"), std::string::npos)
        << r.err.substr(0, 300);
    EXPECT_LT(r.max_rss_kb, 64 * 1024) << size << " bytes of '[' took " << r.max_rss_kb << " KB";
  }
  // Each alias re-reads a list of 1,000 actions: 10 KB of this took 400 MB.
  std::string actions = "[";
  for (int i = 0; i < 1000; ++i) actions += i ? ", pull" : "pull";
  std::string scopes = "[&s {name: x, type: repository, actions: " + actions + "]}";
  for (int i = 0; i < 20000; ++i) scopes += ", *s";
  WriteFile(dir_ / "bomb.yaml",
            "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n"
            "  name: bomb\nspec:\n  registry: acme-prod\n  scopes: " +
                scopes + "]\n  secret: {file: bomb.json}\n");
  const CommandResult r = Validate(Path("bomb.yaml"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("YAML aliases expand too much"), std::string::npos) << r.err.substr(0, 300);
  EXPECT_LT(r.max_rss_kb, 64 * 1024) << "the alias bomb took " << r.max_rss_kb << " KB";
}

}  // namespace
}  // namespace crtoken::test
