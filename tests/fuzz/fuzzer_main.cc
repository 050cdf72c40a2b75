// libFuzzer's entry point for one target: built once per target (tests/fuzz/CMakeLists.txt)
// with CRTOKEN_FUZZ_ENTRY naming its FuzzOne<Name> function.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  crtoken::fuzz::CRTOKEN_FUZZ_ENTRY(data, size);
  return 0;
}
