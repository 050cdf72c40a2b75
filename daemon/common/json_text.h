// Escaping text by hand: JSON string literals where building a nlohmann::json document first would
// cost more than the output is worth (secret files, the ownership record of every token, log
// lines), and one-line printable text for whatever came from outside (a server's error message).
// One escaper serves all three, so they cannot drift apart.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace crtoken {

// Appends `s` to `out` as a JSON string literal, quotes included: quotes, backslashes and control
// characters (C0, DEL, C1) escaped; valid UTF-8 passes through, an invalid byte becomes \ufffd.
void AppendJsonString(std::string& out, std::string_view s);

// The same, as a new string.
std::string JsonString(std::string_view s);

// Whether `s` is valid UTF-8 throughout: exactly the text that AppendJsonString keeps as it is.
bool IsValidUtf8(std::string_view s);

// Appends `text` to `out` as the inside of a JSON string (no quotes around it). Of a text longer
// than `max_bytes` only the first `max_bytes` bytes are kept, marked as PrintableText does.
void AppendJsonEscaped(std::string_view text, std::string& out,
                       size_t max_bytes = std::string_view::npos);

// The longest text that PrintableText keeps by default: an error message of a server, or a log
// line's message, fits many times over.
inline constexpr size_t kMaxPrintableBytes = 2048;

// `text` fit for one line of a terminal or a log: control characters (newline, carriage return,
// ESC, DEL, C1) become JSON-style escapes (\n, \r, \u001b), an invalid UTF-8 byte becomes \ufffd;
// quotes and backslashes stay as they are. Of a longer text the first `max_bytes` bytes are kept
// (cut at a character boundary) and the cut is marked "... (N more bytes)". For every text that
// came from outside before it reaches a message: it can neither forge a line nor flood a log.
std::string PrintableText(std::string_view text, size_t max_bytes = kMaxPrintableBytes);

}  // namespace crtoken
