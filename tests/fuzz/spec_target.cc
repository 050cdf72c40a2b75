// Any bytes must parse, or fail with errors that point into the text with a message; never
// crash, hang or exhaust memory.
#include <string>

#include "daemon/specs/spec_loader.h"
#include "tests/fuzz/fuzz_targets.h"

namespace crtoken::fuzz {

void FuzzOneSpec(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const FileSpecs out = ParseSpecText(text, "fuzz.yaml");
  for (const SpecError& e : out.errors) {
    CRTOKEN_FUZZ_CHECK(e.where.line >= 1 && e.where.column >= 1);
    CRTOKEN_FUZZ_CHECK(!e.message.empty());
  }
}

}  // namespace crtoken::fuzz
