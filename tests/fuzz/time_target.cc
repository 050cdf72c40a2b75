// Each line of the input is parsed as an RFC 3339 date-time and as a duration. A date that
// parses formats to a text that parses back to the same instant; a duration is never negative.
#include <string>
#include <string_view>

#include "reconciler/time_util.h"
#include "tests/fuzz/fuzz_targets.h"

namespace crtoken::fuzz {

void FuzzOneTime(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (true) {
    const size_t nl = rest.find('\n');
    const std::string line(rest.substr(0, nl));
    if (auto instant = ParseRfc3339(line)) {
      const std::string formatted = FormatRfc3339(*instant);
      const auto again = ParseRfc3339(formatted);
      CRTOKEN_FUZZ_CHECK(again.has_value() && *again == *instant);
    }
    if (auto duration = ParseDuration(line)) {
      CRTOKEN_FUZZ_CHECK(duration->count() >= 0);
    }
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
}

}  // namespace crtoken::fuzz
