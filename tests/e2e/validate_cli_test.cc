// `crtoken validate`, the real binary: exit codes, stdout and stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/crtoken_process.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;

const std::string kSource = CRTOKEN_SOURCE_DIR;
const std::string kCrtoken = crtoken::test::CrtokenBinaryPath();

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `crtoken ARGS` in `cwd` (ARGS are trusted test strings, quoted by the caller).
Outcome Crtoken(const std::string& args, const std::string& cwd = kSource,
                const std::string& env = "") {
  const crtoken::test::TempDir dir("crtoken-cli");
  const std::string command = "cd '" + cwd + "' && env -u CRTOKEN_SPECS " + env + " '" + kCrtoken +
                              "' " + args + " >'" + (dir / "out").string() + "' 2>'" +
                              (dir / "err").string() + "'";
  Outcome run;
  const int status = std::system(command.c_str());
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = crtoken::test::ReadFile(dir / "out");
  run.err = crtoken::test::ReadFile(dir / "err");
  return run;
}

TEST(ValidateCli, ExamplesAreValid) {
  ASSERT_TRUE(fs::exists(kCrtoken)) << kCrtoken;
  const Outcome run = Crtoken("validate manifests/examples");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "6 tokens in 5 files: valid\n");
  EXPECT_EQ(run.err, "");
}

TEST(ValidateCli, GoodCorpusSummaryCountsSkippedDocuments) {
  const Outcome run = Crtoken("validate tests/daemon/specs/corpus/good");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "12 tokens in 11 files: valid (4 other documents skipped)\n");
}

TEST(ValidateCli, BadFilePrintsFileLineColAndExitsOne) {
  const Outcome run = Crtoken("validate tests/daemon/specs/corpus/bad/bad-enum-action.yaml");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "tests/daemon/specs/corpus/bad/bad-enum-action.yaml:11:23: spec.scopes[0].actions[1]: "
            "\"write\" is not one of: pull, push, delete\n"
            "crtoken validate: 1 error in 1 of 1 file\n");
}

TEST(ValidateCli, EveryErrorOfEveryFileIsReported) {
  const Outcome run = Crtoken(
      "validate tests/daemon/specs/corpus/bad/many-errors.yaml manifests/examples "
      "tests/daemon/specs/corpus/bad/non-utf8.yaml");
  EXPECT_EQ(run.exit_code, 1);
  std::istringstream lines(run.err);
  std::string line;
  int many = 0, utf8 = 0, total = 0;
  while (std::getline(lines, line)) {
    ++total;
    if (line.rfind("tests/daemon/specs/corpus/bad/many-errors.yaml:", 0) == 0) ++many;
    if (line.rfind("tests/daemon/specs/corpus/bad/non-utf8.yaml:5:13: not a UTF-8 text file", 0) ==
        0)
      ++utf8;
  }
  EXPECT_EQ(many, 7) << run.err;
  EXPECT_EQ(utf8, 1) << run.err;
  EXPECT_EQ(total, 9) << run.err;  // 8 errors and the count
  EXPECT_NE(run.err.find("crtoken validate: 8 errors in 2 of 7 files\n"), std::string::npos)
      << run.err;
}

TEST(ValidateCli, WithoutPathsChecksTheDefaultManifestsDirectory) {
  const crtoken::test::TempDir tmp("crtoken-cwd");
  const fs::path& cwd = tmp.path();
  Outcome run = Crtoken("validate", cwd.string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.err,
            "./manifests: no such file or directory\ncrtoken validate: 1 error in 1 of 1 file\n");
  fs::create_directories(cwd / "manifests");
  fs::copy_file(kSource + "/manifests/examples/ci-push.yaml", cwd / "manifests/ci.yaml");
  run = Crtoken("validate", cwd.string());
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "1 token in 1 file: valid\n");
  // --specs and $CRTOKEN_SPECS, as for run, plan and apply; positional paths win over both.
  run = Crtoken("validate --specs '" + kSource + "/manifests/examples'", cwd.string());
  EXPECT_EQ(run.out, "6 tokens in 5 files: valid\n") << run.err;
  run = Crtoken("validate", cwd.string(),
                "CRTOKEN_SPECS='" + kSource + "/manifests/examples:manifests'");
  // Both lists were read: the copy in ./manifests clashes with the example it was copied from.
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find(kSource + "/manifests/examples/ci-push.yaml:9:9: token \"ci-push\" of "
                                   "registry \"acme-prod\" is declared more than once (also at "
                                   "manifests/ci.yaml:9:9)\n"),
            std::string::npos)
      << run.err;
  run = Crtoken("validate manifests", cwd.string(),
                "CRTOKEN_SPECS='" + kSource + "/manifests/examples'");
  EXPECT_EQ(run.out, "1 token in 1 file: valid\n") << run.err;
  fs::remove_all(cwd);
}

TEST(ValidateCli, HelpAndUnknownFlags) {
  Outcome run = Crtoken("validate --help");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find("Usage: crtoken validate [FLAGS] PATH..."), std::string::npos) << run.out;
  run = Crtoken("validate --bogus manifests/examples");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("unknown flag --bogus"), std::string::npos) << run.err;
}

}  // namespace
