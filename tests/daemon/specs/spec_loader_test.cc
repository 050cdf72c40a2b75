// The spec language: the bad corpus (tests/daemon/specs/corpus/bad, each file states its exact
// errors), the good corpus and the examples, directory walking (kubelet ConfigMap and git-sync
// layouts), the cross-file checks, and robustness against arbitrary bytes.
#include "daemon/specs/spec_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "reconciler/time_util.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;

const std::string kSource = CRTOKEN_SOURCE_DIR;

using test::ReadFile;
using test::TempDir;
using test::WriteFile;

std::vector<std::string> ErrorStrings(const std::vector<SpecError>& errors) {
  std::vector<std::string> out;
  for (const SpecError& e : errors) out.push_back(e.ToString());
  return out;
}

const TokenSpec* FindSpec(const SpecSet& set, const std::string& name,
                          const std::string& registry = "") {
  for (const TokenSpec& spec : set.specs) {
    if (spec.name == name && (registry.empty() || spec.registry == registry)) return &spec;
  }
  return nullptr;
}

std::string Doc(const std::string& name, const std::string& registry, const std::string& secret) {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: " + registry +
         "\n  scopes:\n    - {name: \"*\", type: repository, actions: [pull]}\n  secret:\n    "
         "file: " +
         secret + "\n";
}

// --- The bad corpus -----------------------------------------------------------------------------

// Each entry of tests/daemon/specs/corpus/bad is a case: a file, or a directory of files checked
// together. Each file starts with its expectations, one line each: "# expect: LINE:COL: message"
// ({dir} stands for the case's directory); the run must report exactly these errors.
struct BadCase {
  std::string path;                   // the file or directory given to LoadSpecs
  std::vector<std::string> expected;  // full "FILE:LINE:COL: message" lines
  std::vector<std::string> missing;   // files without any expectation (a corpus bug)
};

std::vector<std::string> Expectations(const fs::path& file, const std::string& dir) {
  std::vector<std::string> out;
  std::istringstream in(ReadFile(file));
  std::string line;
  const std::string prefix = "# expect: ";
  while (std::getline(in, line) && line.rfind(prefix, 0) == 0) {
    std::string e = line.substr(prefix.size());
    for (std::size_t p; (p = e.find("{dir}")) != std::string::npos;) e.replace(p, 5, dir);
    out.push_back(file.string() + ":" + e);
  }
  return out;
}

std::vector<BadCase> BadCases() {
  std::vector<BadCase> cases;
  const fs::path root = fs::path(kSource) / "tests/daemon/specs/corpus/bad";
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(root)) entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  for (const fs::path& entry : entries) {
    BadCase c;
    c.path = entry.string();
    std::vector<fs::path> files;
    if (fs::is_directory(entry)) {
      for (const auto& f : fs::recursive_directory_iterator(entry)) {
        if (f.is_regular_file()) files.push_back(f.path());
      }
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(entry);
    }
    for (const fs::path& f : files) {
      auto e = Expectations(f, entry.string());
      if (e.empty()) c.missing.push_back(f.string());
      c.expected.insert(c.expected.end(), e.begin(), e.end());
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

class BadSpecTest : public testing::TestWithParam<BadCase> {};

TEST_P(BadSpecTest, ReportsExactlyTheExpectedErrors) {
  const BadCase& c = GetParam();
  EXPECT_TRUE(c.missing.empty()) << "no \"# expect:\" line in "
                                 << testing::PrintToString(c.missing);
  const SpecSet set = LoadSpecs({c.path});
  std::vector<std::string> actual = ErrorStrings(set.errors);
  std::vector<std::string> expected = c.expected;
  std::sort(actual.begin(), actual.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(actual, expected);
  // A file with an error changes nothing: none of its tokens is acted on.
  EXPECT_TRUE(set.specs.empty());
  EXPECT_FALSE(set.failed_files.empty());
}

std::string CaseName(const testing::TestParamInfo<BadCase>& info) {
  std::string name = fs::path(info.param.path).filename().string();
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadSpecTest, testing::ValuesIn(BadCases()), CaseName);

TEST(BadSpecCorpus, HasAtLeastThirtyCasesAndEachStatesItsErrors) {
  const auto cases = BadCases();
  EXPECT_GE(cases.size(), 30u);
  for (const BadCase& c : cases) {
    EXPECT_TRUE(c.missing.empty()) << c.path;
    EXPECT_FALSE(c.expected.empty()) << c.path;
  }
}

// --- The good corpus and the examples
// -------------------------------------------------------------

TEST(GoodSpecs, AllPassWithTheirValues) {
  const std::string root = kSource + "/tests/daemon/specs/corpus/good";
  const SpecSet set = LoadSpecs({root});
  ASSERT_TRUE(set.ok()) << testing::PrintToString(ErrorStrings(set.errors));
  EXPECT_TRUE(set.failed_files.empty());

  std::vector<std::string> files;
  for (const FileSpecs& f : set.files) files.push_back(f.file);
  const std::vector<std::string> want_files = {
      root + "/anchors.yaml",      root + "/bom-crlf.yaml",          root + "/flow-json.yaml",
      root + "/full-options.yaml", root + "/kubernetes-secret.yaml", root + "/kustomization.yaml",
      root + "/lifetime.yaml",     root + "/minimal.yaml",           root + "/multi-document.yaml",
      root + "/registry-id.yaml",  root + "/sub/deeper/nested.yml"};
  EXPECT_EQ(files, want_files);  // byte order, recursive, .yml too; .hidden and notes.txt unread
  ASSERT_EQ(set.specs.size(), 12u);
  int skipped = 0;
  for (const FileSpecs& f : set.files) skipped += f.skipped_documents;
  EXPECT_EQ(skipped, 4);  // ConfigMap, empty document, Kustomization, kustomization.yaml

  const TokenSpec* minimal = FindSpec(set, "minimal");
  ASSERT_NE(minimal, nullptr);
  EXPECT_EQ(minimal->registry, "acme-prod");
  EXPECT_EQ(minimal->registry_id, "");
  EXPECT_EQ(minimal->status, TokenStatus::kEnabled);
  EXPECT_FALSE(minimal->expiry.has_value());
  EXPECT_FALSE(minimal->lifetime.has_value());
  EXPECT_FALSE(minimal->adopt);
  EXPECT_EQ(minimal->secret.kind, SecretRef::Kind::kFile);
  EXPECT_EQ(minimal->secret.file, "minimal.json");
  EXPECT_EQ(minimal->scopes, (std::vector<Scope>{{"*", "repository", {"pull"}}}));
  EXPECT_EQ(minimal->source.ToString(), root + "/minimal.yaml:5:9");

  const TokenSpec* full = FindSpec(set, "Full-Options-2");
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->registry, "acme-dev");
  EXPECT_EQ(full->status, TokenStatus::kDisabled);
  EXPECT_EQ(full->expiry, ParseRfc3339("2027-06-30T00:00:00Z"));
  EXPECT_TRUE(full->adopt);
  EXPECT_EQ(full->secret.file, "nested/dir/full-options.json");
  EXPECT_EQ(full->scopes,
            (std::vector<Scope>{{"app/backend", "repository", {"delete", "push", "pull"}},
                                {"*", "registry", {"pull"}}}));
  EXPECT_EQ(full->source.ToString(), root + "/full-options.yaml:20:9");

  const TokenSpec* rotating = FindSpec(set, "rotating");
  ASSERT_NE(rotating, nullptr);
  EXPECT_FALSE(rotating->expiry.has_value());
  EXPECT_EQ(rotating->lifetime, std::chrono::hours(24 * 90));
  EXPECT_EQ(rotating->renew_before, std::chrono::hours(24 * 30));
  EXPECT_EQ(rotating->overlap, std::chrono::hours(1));
  const TokenSpec* short_lived = FindSpec(set, "short-lived");
  ASSERT_NE(short_lived, nullptr);
  EXPECT_EQ(short_lived->lifetime, std::chrono::hours(36));
  EXPECT_EQ(short_lived->renew_before, std::chrono::hours(12));  // a third, by default

  const TokenSpec* by_id = FindSpec(set, "by-id");
  ASSERT_NE(by_id, nullptr);
  EXPECT_EQ(by_id->registry, "");
  EXPECT_EQ(by_id->registry_id, "3fa85f64-5717-4562-b3fc-2c963f66afa6");
  EXPECT_FALSE(by_id->expiry.has_value());  // expiryDate: null

  const TokenSpec* k8s = FindSpec(set, "cluster-pull");
  ASSERT_NE(k8s, nullptr);
  EXPECT_EQ(k8s->secret.kind, SecretRef::Kind::kKubernetes);
  EXPECT_EQ(k8s->secret.k8s_namespace, "apps");
  EXPECT_EQ(k8s->secret.k8s_name, "acme-prod.pull-secret");

  const TokenSpec* json = FindSpec(set, "json-style");
  ASSERT_NE(json, nullptr);
  EXPECT_EQ(json->expiry, ParseRfc3339("2030-01-01T00:00:00Z"));

  const TokenSpec* anchors = FindSpec(set, "anchors");
  ASSERT_NE(anchors, nullptr);
  ASSERT_EQ(anchors->scopes.size(), 2u);
  EXPECT_EQ(anchors->scopes[1].actions, (std::vector<std::string>{"pull", "push"}));

  const TokenSpec* windows = FindSpec(set, "windows-file");
  ASSERT_NE(windows, nullptr);
  EXPECT_EQ(windows->source.ToString(), root + "/bom-crlf.yaml:5:9");
  EXPECT_EQ(windows->secret.file, "windows-file.json");

  ASSERT_NE(FindSpec(set, "multi-one"), nullptr);
  ASSERT_NE(FindSpec(set, "multi-two"), nullptr);
  EXPECT_EQ(FindSpec(set, "multi-two")->source.line, 24);
  ASSERT_NE(FindSpec(set, "nested"), nullptr);
}

TEST(Examples, AreValidAndDeclareTheDocumentedTokens) {
  const SpecSet set = LoadSpecs({kSource + "/manifests/examples"});
  ASSERT_TRUE(set.ok()) << testing::PrintToString(ErrorStrings(set.errors));
  EXPECT_EQ(set.specs.size(), 6u);

  const TokenSpec* ci = FindSpec(set, "ci-push");
  ASSERT_NE(ci, nullptr);
  EXPECT_EQ(ci->registry, "acme-prod");
  EXPECT_EQ(ci->scopes, (std::vector<Scope>{{"app/*", "repository", {"pull", "push"}}}));
  EXPECT_EQ(ci->secret.file, "ci-push.json");
  EXPECT_EQ(ci->lifetime, std::chrono::hours(24 * 90));
  EXPECT_EQ(ci->renew_before, std::chrono::hours(24 * 30));

  ASSERT_NE(FindSpec(set, "payments-pull", "acme-prod"), nullptr);
  ASSERT_NE(FindSpec(set, "search-pull", "acme-prod"), nullptr);
  ASSERT_NE(FindSpec(set, "search-pull", "acme-dev"), nullptr);
  for (const char* team : {"payments-pull", "search-pull"}) {
    for (const TokenSpec& spec : set.specs) {
      if (spec.name != team) continue;
      for (const Scope& scope : spec.scopes) {
        EXPECT_EQ(scope.actions, std::vector<std::string>{"pull"}) << team;  // read-only
      }
    }
  }
  const TokenSpec* legacy = FindSpec(set, "legacy-deploy");
  ASSERT_NE(legacy, nullptr);
  EXPECT_EQ(legacy->status, TokenStatus::kDisabled);
  const TokenSpec* contractor = FindSpec(set, "contractor-pull");
  ASSERT_NE(contractor, nullptr);
  EXPECT_EQ(contractor->expiry, ParseRfc3339("2027-06-30T00:00:00Z"));
  for (const TokenSpec& spec : set.specs) {
    EXPECT_TRUE(spec.registry == "acme-prod" || spec.registry == "acme-dev") << spec.name;
  }
}

// --- Directories --------------------------------------------------------------------------------

TEST(SpecFiles, KubeletConfigMapLayoutIsReadThroughItsVisibleSymlinks) {
  // What the kubelet makes of a ConfigMap volume: the data in a timestamped directory, a ..data
  // symlink to it, and one visible symlink per key into ..data. An update writes a new
  // timestamped directory and swaps ..data atomically.
  TempDir tmp;
  const fs::path dir = tmp.path() / "specs";
  WriteFile(dir / "..2026_11_28_10_00_00.000000001/ci.yaml",
            Doc("ci-push", "acme-prod", "ci.json"));
  WriteFile(dir / "..2026_11_28_10_00_00.000000001/team.yaml", Doc("team", "acme-dev", "t.json"));
  fs::create_directory_symlink("..2026_11_28_10_00_00.000000001", dir / "..data");
  fs::create_symlink("..data/ci.yaml", dir / "ci.yaml");
  fs::create_symlink("..data/team.yaml", dir / "team.yaml");

  SpecSet set = LoadSpecs({dir.string()});
  ASSERT_TRUE(set.ok()) << testing::PrintToString(ErrorStrings(set.errors));
  std::vector<std::string> files;
  for (const FileSpecs& f : set.files) files.push_back(f.file);
  EXPECT_EQ(files,
            (std::vector<std::string>{(dir / "ci.yaml").string(), (dir / "team.yaml").string()}));
  ASSERT_EQ(set.specs.size(), 2u);  // each token once: the ..data copies are not read twice

  // The update: new data, then ..data swapped by rename.
  WriteFile(dir / "..2026_11_28_10_05_00.000000002/ci.yaml",
            Doc("ci-push", "acme-prod", "ci2.json"));
  WriteFile(dir / "..2026_11_28_10_05_00.000000002/team.yaml", Doc("team", "acme-dev", "t.json"));
  fs::create_directory_symlink("..2026_11_28_10_05_00.000000002", dir / "..data_tmp");
  fs::rename(dir / "..data_tmp", dir / "..data");
  fs::remove_all(dir / "..2026_11_28_10_00_00.000000001");

  set = LoadSpecs({dir.string()});
  ASSERT_TRUE(set.ok()) << testing::PrintToString(ErrorStrings(set.errors));
  ASSERT_NE(FindSpec(set, "ci-push"), nullptr);
  EXPECT_EQ(FindSpec(set, "ci-push")->secret.file, "ci2.json");
  EXPECT_EQ(FindSpec(set, "ci-push")->source.file, (dir / "ci.yaml").string());
}

TEST(SpecFiles, GitSyncLayoutFollowsTheDirectorySymlinkOnly) {
  TempDir tmp;
  const fs::path root = tmp.path() / "git";
  WriteFile(root / ".worktrees/4f2a/tokens/ci.yaml", Doc("ci-push", "acme-prod", "ci.json"));
  fs::create_directory_symlink(".worktrees/4f2a", root / "current");
  const SpecSet set = LoadSpecs({root.string()});
  ASSERT_TRUE(set.ok()) << testing::PrintToString(ErrorStrings(set.errors));
  ASSERT_EQ(set.files.size(), 1u);
  EXPECT_EQ(set.files[0].file, (root / "current/tokens/ci.yaml").string());
}

TEST(SpecFiles, SymlinkLoopsAndRepeatedPathsAreReadOnce) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "specs";
  WriteFile(dir / "a.yaml", Doc("a-token", "acme-prod", "a.json"));
  fs::create_directory_symlink(".", dir / "loop");
  fs::create_directory_symlink(dir, dir / "sub-loop");
  const SpecSet set = LoadSpecs({dir.string(), (dir / "a.yaml").string(), dir.string()});
  ASSERT_TRUE(set.ok()) << testing::PrintToString(ErrorStrings(set.errors));
  EXPECT_EQ(set.files.size(), 1u);
  EXPECT_EQ(set.specs.size(), 1u);
}

TEST(SpecFiles, AnExplicitFileIsReadWhateverItsExtension) {
  TempDir tmp;
  WriteFile(tmp / "dir/token.txt", Doc("txt-token", "acme-prod", "a.json"));
  EXPECT_EQ(LoadSpecs({tmp / "dir"}).files.size(), 0u);  // not a *.yaml file: not picked up
  const SpecSet set = LoadSpecs({tmp / "dir/token.txt"});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set.specs.size(), 1u);
}

TEST(SpecFiles, MissingPathsAndBrokenSymlinksAreErrors) {
  TempDir tmp;
  WriteFile(tmp / "dir/good.yaml", Doc("good", "acme-prod", "good.json"));
  fs::create_symlink("gone.yaml", tmp.path() / "dir/dangling.yaml");
  // Whatever its name: it may have pointed at a directory of specs (a git-sync checkout).
  fs::create_symlink("gone", tmp.path() / "dir/dangling-other");
  const std::string missing = tmp / "nope";
  const SpecSet set = LoadSpecs({tmp / "dir", missing});
  EXPECT_EQ(ErrorStrings(set.errors),
            (std::vector<std::string>{tmp / "dir/dangling-other: cannot read: broken symlink",
                                      tmp / "dir/dangling.yaml: cannot read: broken symlink",
                                      missing + ": no such file or directory"}));
  EXPECT_EQ(set.failed_files, (std::set<std::string>{tmp / "dir/dangling-other",
                                                     tmp / "dir/dangling.yaml", missing}));
  EXPECT_EQ(set.unread, ErrorStrings(set.errors));  // none of them may let anything be pruned
  ASSERT_EQ(set.specs.size(), 1u);                  // the good file still counts
  EXPECT_EQ(set.specs[0].name, "good");
}

TEST(SpecFiles, UnreadableAndOversizedFilesAreErrors) {
  TempDir tmp;
  WriteFile(tmp / "big.yaml", std::string(kMaxSpecFileBytes + 1, '#'));
  FileSpecs big = LoadSpecFile(tmp / "big.yaml");
  ASSERT_EQ(big.errors.size(), 1u);
  EXPECT_EQ(big.errors[0].ToString(), (tmp / "big.yaml").string() + ": file too large (" +
                                          std::to_string(kMaxSpecFileBytes + 1) +
                                          " bytes; at most " + std::to_string(kMaxSpecFileBytes) +
                                          ")");
  if (geteuid() != 0) {  // root reads anything
    WriteFile(tmp / "locked.yaml", Doc("locked", "acme-prod", "l.json"));
    fs::permissions(tmp / "locked.yaml", fs::perms::none);
    FileSpecs locked = LoadSpecFile(tmp / "locked.yaml");
    ASSERT_EQ(locked.errors.size(), 1u);
    EXPECT_EQ(locked.errors[0].where.line, 0);
  }
  FileSpecs dir = LoadSpecFile(tmp.path().string());
  ASSERT_EQ(dir.errors.size(), 1u);
  EXPECT_EQ(dir.errors[0].message, "not a regular file");
}

// --- Cross-file checks and re-merging ------------------------------------------------------------

TEST(MergeFiles, DuplicatesFailBothFilesAndKeepTheOthers) {
  TempDir tmp;
  WriteFile(tmp / "a.yaml", Doc("shared", "acme-prod", "a.json") + "---\n" +
                                Doc("only-a", "acme-prod", "only-a.json"));
  WriteFile(tmp / "b.yaml", Doc("shared", "acme-prod", "b.json"));
  WriteFile(tmp / "c.yaml", Doc("shared", "acme-dev", "c.json"));  // another registry: fine
  const SpecSet set = LoadSpecs({tmp.path().string()});
  EXPECT_EQ(ErrorStrings(set.errors),
            (std::vector<std::string>{
                tmp.path().string() +
                    "/a.yaml:4:9: token \"shared\" of registry \"acme-prod\" is declared more "
                    "than once (also at " +
                    (tmp / "b.yaml:4:9)").string(),
                tmp.path().string() +
                    "/b.yaml:4:9: token \"shared\" of registry \"acme-prod\" is declared more "
                    "than once (also at " +
                    (tmp / "a.yaml:4:9)").string()}));
  EXPECT_EQ(set.failed_files,
            (std::set<std::string>{(tmp / "a.yaml").string(), (tmp / "b.yaml").string()}));
  ASSERT_EQ(set.specs.size(), 1u);  // only c.yaml's: a whole failed file changes nothing
  EXPECT_EQ(set.specs[0].registry, "acme-dev");
  // registry and registryId are not compared offline: this needs the API.
  EXPECT_EQ(set.files[0].errors.size(), 0u);  // per-file results stay free of cross-file errors
}

TEST(MergeFiles, TheDaemonKeepsTheLastGoodFileAndReMerges) {
  TempDir tmp;
  WriteFile(tmp / "a.yaml", Doc("a-token", "acme-prod", "a.json"));
  WriteFile(tmp / "b.yaml", Doc("b-token", "acme-prod", "b.json"));
  SpecSet set = LoadSpecs({tmp.path().string()});
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set.specs.size(), 2u);
  const FileSpecs last_good_b = set.files[1];

  // b.yaml breaks: reloading only that file and re-merging drops its tokens and names it failed.
  WriteFile(tmp / "b.yaml", Doc("b-token", "acme-prod", "b.json") + "  bogus: 1\n");
  FileSpecs broken = LoadSpecFile(tmp / "b.yaml");
  ASSERT_FALSE(broken.ok());
  std::vector<FileSpecs> files = set.files;
  files[1] = broken;
  SpecSet merged = MergeFiles(files);
  EXPECT_EQ(merged.failed_files, std::set<std::string>{tmp / "b.yaml"});
  ASSERT_EQ(merged.specs.size(), 1u);
  EXPECT_EQ(merged.specs[0].name, "a-token");

  // What the daemon acts on instead: the last good contents of b.yaml.
  files[1] = last_good_b;
  merged = MergeFiles(files);
  EXPECT_TRUE(merged.ok());
  EXPECT_EQ(merged.specs.size(), 2u);

  // A new duplicate introduced by one file is caught by the re-merge.
  WriteFile(tmp / "a.yaml", Doc("b-token", "acme-prod", "other.json"));
  files[0] = LoadSpecFile(tmp / "a.yaml");
  ASSERT_TRUE(files[0].ok());
  merged = MergeFiles(files);
  EXPECT_EQ(merged.errors.size(), 2u);
  EXPECT_TRUE(merged.specs.empty());
}

TEST(MergeFiles, SameSecretFileIsAnError) {
  TempDir tmp;
  WriteFile(tmp / "a.yaml", Doc("one", "acme-prod", "shared.json"));
  WriteFile(tmp / "b.yaml", Doc("two", "acme-dev", "shared.json"));
  const SpecSet set = LoadSpecs({tmp.path().string()});
  EXPECT_EQ(ErrorStrings(set.errors),
            (std::vector<std::string>{
                tmp.path().string() +
                    "/a.yaml:4:9: token \"one\" writes the secret file \"shared.json\", as does "
                    "the token at " +
                    (tmp / "b.yaml:4:9").string(),
                tmp.path().string() +
                    "/b.yaml:4:9: token \"two\" writes the secret file \"shared.json\", as does "
                    "the token at " +
                    (tmp / "a.yaml:4:9").string()}));
}

// --- Robustness
// -----------------------------------------------------------------------------------

// Every error of a text names a position inside it; nothing throws.
void ExpectWellFormed(const std::string& text, const std::string& label) {
  FileSpecs out;
  ASSERT_NO_THROW(out = ParseSpecText(text, "f.yaml")) << label;
  const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  for (const SpecError& e : out.errors) {
    EXPECT_GE(e.where.line, 1) << label << ": " << e.ToString();
    EXPECT_LE(e.where.line, lines + 1) << label << ": " << e.ToString();
    EXPECT_GE(e.where.column, 1) << label << ": " << e.ToString();
    EXPECT_FALSE(e.message.empty()) << label;
  }
}

std::vector<std::string> GoodTexts() {
  std::vector<std::string> texts;
  for (const char* dir : {"/tests/daemon/specs/corpus/good", "/manifests/examples"}) {
    for (const auto& f : fs::recursive_directory_iterator(kSource + dir)) {
      if (f.is_regular_file() && f.path().extension() == ".yaml") {
        texts.push_back(ReadFile(f.path()));
      }
    }
  }
  return texts;
}

TEST(Robustness, EveryPrefixOfEveryGoodFileParsesOrFailsWithAPosition) {
  for (const std::string& text : GoodTexts()) {
    for (std::size_t n = 0; n <= text.size(); ++n) {
      ExpectWellFormed(text.substr(0, n), "prefix " + std::to_string(n));
      if (HasFailure()) return;
    }
  }
}

TEST(Robustness, RandomMutationsNeverThrowAndAlwaysPointIntoTheText) {
  std::mt19937 rng(20261128);  // fixed seed: reproducible
  const std::string alphabet = "{}[]:-#&*!|>'\"%@`,? \t\n\r\\abcAZ09.\x80\xc3\xff";
  const auto texts = GoodTexts();
  for (int round = 0; round < 3000; ++round) {
    std::string text = texts[rng() % texts.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      const std::size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          text.erase(at, 1 + rng() % 8);
          break;
      }
    }
    ExpectWellFormed(text, "round " + std::to_string(round));
    if (HasFailure()) return;
  }
}

TEST(Robustness, DeepNestingIsAnErrorNotACrash) {
  FileSpecs out = ParseSpecText("spec: " + std::string(100000, '['), "deep.yaml");
  ASSERT_EQ(out.errors.size(), 1u);
  // The mapping is level 1, the 64th '[' (column 70) level 65.
  EXPECT_EQ(out.errors[0].ToString(),
            "deep.yaml:1:70: YAML nesting too deep: more than 64 levels (collections inside "
            "collections)");
}

TEST(Robustness, HugeValuesAreRejectedQuickly) {
  // Long strings reach the patterns; the loader checks lengths before any regular expression.
  const std::string text =
      Doc(std::string(200000, 'a'), std::string(200000, 'b'), std::string(5000, 'c'));
  FileSpecs out = ParseSpecText(text, "huge.yaml");
  ASSERT_EQ(out.errors.size(), 3u);
  EXPECT_EQ(out.errors[0].where.ToString(), "huge.yaml:4:9");
  EXPECT_EQ(out.errors[2].message, "spec.secret.file: is longer than 4096 bytes");
}

}  // namespace
}  // namespace crtoken
