// libFuzzer target for the spec loader: any bytes must parse or fail with errors that point into
// the text, never crash, hang or exhaust memory. Run with tests/fuzz/run.sh (clang, not in ctest).
#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/specs/spec_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const crtoken::FileSpecs out = crtoken::ParseSpecText(text, "fuzz.yaml");
  for (const crtoken::SpecError& e : out.errors) {
    if (e.where.line < 1 || e.where.column < 1 || e.message.empty()) __builtin_trap();
  }
  return 0;
}
