// What the HTTP clients refuse from a server, and how they say so: the largest body they read, and
// the error text for a redirect (never followed). Pure (no cpprest, no I/O), so the rules are
// unit-tested directly.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace crtoken {

// The largest response body a client reads (cpprest_http.h). A page of 100 tokens is ~40 KB, a
// Secret a few KB: anything near this is not an answer but a flood.
inline constexpr size_t kMaxResponseBodyBytes = 4 * 1024 * 1024;

// The error text for a redirect (3xx): it names where the server pointed to (the Location's
// scheme, host and port; never its path or query, which may carry tokens) and that it was not
// followed. crtoken follows no redirects: a credential must never reach another origin.
std::string DescribeRedirect(int status, const std::optional<std::string>& location);

// "scheme://host[:port]" of a URL; "" when `url` is not absolute. For messages.
std::string OriginOf(std::string_view url);

}  // namespace crtoken
