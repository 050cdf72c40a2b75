// `crtoken status --from URL`: reads the running daemon's status document (GET URL/status on its
// health port; status_view.h). Plain GET, no credentials, no redirect followed, the body capped.
#pragma once

#include <chrono>
#include <string>

#include "reconciler/error.h"

namespace crtoken {

// The largest status document read (about 2 KB per token: tens of thousands of tokens).
inline constexpr size_t kMaxStatusBytes = 64u << 20;

// The body of GET `base_url` + "/status" (base_url: "http://HOST:PORT", a trailing '/' ignored).
// Errors name the URL and why: kInvalid for a URL that is not http(s):// or a 3xx, the status
// mapping of http_failure.h for other non-200 answers, kUnavailable when no answer came within
// `timeout` or the connection failed (refused, name not resolved: said so).
Result<std::string> FetchDaemonStatus(const std::string& base_url,
                                      std::chrono::milliseconds timeout);

}  // namespace crtoken
