// Log setup for the crtoken binary: spdlog to stderr, in one of two formats.
//
//   text: 2026-11-28T15:51:16.123Z info  reconciled registry=acme-prod actions=2
//   json: {"time":"2026-11-28T15:51:16.123Z","level":"info","message":"reconciled",
//          "registry":"acme-prod","actions":"2"}   (one object per line)
//
// Fields come from WithFields (reconciler/log_fields.h). Every string is JSON-escaped (quotes,
// backslashes, control characters; invalid UTF-8 becomes U+FFFD), so a line is always one valid
// JSON object whatever a message contains. In text mode control characters are escaped the same
// way (PrintableText, daemon/json_text.h), so no message can forge a line or send a terminal
// escape sequence. In both, a message or field value is cut after 16 KiB.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

#include "reconciler/error.h"

namespace crtoken {

// "text" or "json".
std::unique_ptr<spdlog::formatter> MakeLogFormatter(const std::string& format);

// Installs the default logger (stderr) with the format and level ("trace" ... "error", "off").
Status SetupLogging(const std::string& format, const std::string& level);

}  // namespace crtoken
