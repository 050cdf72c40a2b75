// How long loading and checking spec files takes, and the memory it holds: 1,000 and 10,000
// tokens in files of 100 documents each (written to a temp dir). Prints figures; asserts nothing.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "daemon/specs/spec_loader.h"

namespace fs = std::filesystem;

std::string Token(int i) {
  const std::string name = "token-" + std::to_string(i);
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: registry-" + std::to_string(i % 10) +
         "\n  expiryDate: 2027-06-30T00:00:00Z\n  scopes:\n    - name: \"app-" + std::to_string(i) +
         "/*\"\n      type: repository\n      actions: [pull, push]\n    - name: \"base/*\"\n"
         "      type: repository\n      actions: [pull]\n  secret:\n    file: secrets/" +
         name + ".json\n";
}

long PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

int main() {
  std::string tmpl = (fs::temp_directory_path() / "crtoken-spec-bench-XXXXXX").string();
  const fs::path root = mkdtemp(tmpl.data());
  std::printf("%-8s %-6s %-10s %-12s %-14s %s\n", "tokens", "files", "bytes", "load median",
              "tokens/s", "peak RSS after load");
  for (int tokens : {1000, 10000}) {
    const fs::path dir = root / std::to_string(tokens);
    fs::create_directories(dir);
    std::size_t bytes = 0;
    for (int f = 0; f < tokens / 100; ++f) {
      std::string text;
      for (int i = f * 100; i < (f + 1) * 100; ++i) text += (i % 100 ? "---\n" : "") + Token(i);
      bytes += text.size();
      std::ofstream(dir / ("tokens-" + std::to_string(f) + ".yaml")) << text;
    }
    std::vector<double> ms;
    crtoken::SpecSet kept;
    for (int run = 0; run < 5; ++run) {
      const auto start = std::chrono::steady_clock::now();
      crtoken::SpecSet set = crtoken::LoadSpecs({dir.string()});
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      if (!set.ok() || set.specs.size() != static_cast<std::size_t>(tokens)) {
        std::fprintf(stderr, "unexpected result: %zu errors, %zu specs\n", set.errors.size(),
                     set.specs.size());
        return 1;
      }
      kept = std::move(set);  // held, as the daemon holds its snapshot
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-8d %-6d %-10zu %-12s %-14.0f %.1f MB\n", tokens, tokens / 100, bytes,
                (std::to_string(static_cast<int>(ms[2])) + " ms").c_str(),
                tokens / (ms[2] / 1000.0), PeakRssKb() / 1024.0);
  }
  fs::remove_all(root);
  return 0;
}
