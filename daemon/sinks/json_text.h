// Writing JSON text by hand where building a nlohmann::json document first would cost more than
// the output is worth (secret files, the ownership record of every token).
#pragma once

#include <string>
#include <string_view>

namespace crtoken {

// Appends `s` to `out` as a JSON string literal, quotes included. Bytes >= 0x80 pass through
// unchanged (UTF-8 stays UTF-8); control characters are escaped.
void AppendJsonString(std::string& out, std::string_view s);

// The same, as a new string.
std::string JsonString(std::string_view s);

}  // namespace crtoken
