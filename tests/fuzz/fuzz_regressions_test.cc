// Replays, in every build (no clang needed), each input that once broke a fuzz target
// (tests/fuzz/regressions/<name>/) and each seed (tests/fuzz/corpus/<name>/) through the same
// FuzzOne<Name> function libFuzzer calls: a broken invariant aborts the test, naming the input.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_targets.h"
#include "tests/support/temp_dir.h"

namespace crtoken::fuzz {
namespace {

namespace fs = std::filesystem;
using Entry = void (*)(const uint8_t*, size_t);

// The inputs of `folder` ("regressions" or "corpus") for target `name`, sorted.
std::vector<fs::path> Inputs(const std::string& folder, const std::string& name) {
  std::vector<fs::path> out;
  const fs::path dir = fs::path(CRTOKEN_SOURCE_DIR) / "tests/fuzz" / folder / name;
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Feeds every input of `folder` to `entry`; returns how many.
size_t Replay(const std::string& folder, const std::string& name, Entry entry) {
  const std::vector<fs::path> inputs = Inputs(folder, name);
  for (const fs::path& input : inputs) {
    // Named before it runs: an abort in the target leaves this line as the last one.
    std::fprintf(stderr, "replaying %s\n", input.c_str());
    const std::string bytes = test::ReadFile(input);
    entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  return inputs.size();
}

struct Target {
  const char* name;
  Entry entry;
};
// The name alone in test listings (ctest), not the bytes of the struct.
void PrintTo(const Target& target, std::ostream* os) { *os << target.name; }

class FuzzRegressions : public testing::TestWithParam<Target> {};

TEST_P(FuzzRegressions, ReplaysPastCrashesAndSeeds) {
  Replay("regressions", GetParam().name, GetParam().entry);
  // Every target has a seed corpus: a target without one would fuzz from nothing.
  EXPECT_GT(Replay("corpus", GetParam().name, GetParam().entry), 0u) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Targets, FuzzRegressions,
    testing::Values(Target{"spec", FuzzOneSpec}, Target{"registry_json", FuzzOneRegistryJson},
                    Target{"docker_config", FuzzOneDockerConfig},
                    Target{"kube_json", FuzzOneKubeJson}, Target{"time", FuzzOneTime},
                    Target{"credentials", FuzzOneCredentials},
                    Target{"emulator_http", FuzzOneEmulatorHttp}),
    [](const testing::TestParamInfo<Target>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace crtoken::fuzz
