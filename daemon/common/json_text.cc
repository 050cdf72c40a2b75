#include "daemon/common/json_text.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace crtoken {
namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t Utf8Length(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || n > s.size()) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
  }
  if (n == 2 && c < 0xc2) return 0;                   // overlong
  if (n == 3 && c == 0xe0 && b(1) < 0xa0) return 0;   // overlong
  if (n == 3 && c == 0xed && b(1) >= 0xa0) return 0;  // surrogates
  if (n == 4 && (c > 0xf4 || (c == 0xf0 && b(1) < 0x90) || (c == 0xf4 && b(1) >= 0x90))) return 0;
  return n;
}

void AppendUnicodeEscape(unsigned code, std::string& out) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04x", code);
  out += buf;
}

// The one escaper. Control characters always become escapes, invalid UTF-8 \ufffd; quotes and
// backslashes only in JSON (`json`). Stops before the character that would take the input read
// past `max_bytes` and then says how much was left out.
void AppendEscapedText(std::string_view text, bool json, size_t max_bytes, std::string& out) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const char* named = nullptr;
    switch (c) {
      case '"':
        named = json ? "\\\"" : nullptr;
        break;
      case '\\':
        named = json ? "\\\\" : nullptr;
        break;
      case '\n':
        named = "\\n";
        break;
      case '\r':
        named = "\\r";
        break;
      case '\t':
        named = "\\t";
        break;
      case '\b':
        named = "\\b";
        break;
      case '\f':
        named = "\\f";
        break;
      default:
        break;
    }
    size_t n = 1;
    if (c >= 0x80) {
      n = Utf8Length(text.substr(i));
      if (n == 0) n = 1;  // an invalid byte, replaced below
    }
    if (i + n > max_bytes) break;
    if (named != nullptr) {
      out += named;
    } else if (c < 0x20 || c == 0x7f) {
      AppendUnicodeEscape(c, out);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (n == 1) {
      out += "\\ufffd";
    } else if (n == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      AppendUnicodeEscape(static_cast<unsigned char>(text[i + 1]), out);  // C1: U+0080..U+009F
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  if (i < text.size()) out += "... (" + std::to_string(text.size() - i) + " more bytes)";
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8Length(s.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void AppendJsonEscaped(std::string_view text, std::string& out, size_t max_bytes) {
  AppendEscapedText(text, /*json=*/true, max_bytes, out);
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  AppendJsonEscaped(s, out);
  out += '"';
}

std::string JsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendJsonString(out, s);
  return out;
}

std::string PrintableText(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 32);
  AppendEscapedText(text, /*json=*/false, max_bytes, out);
  return out;
}

}  // namespace crtoken
