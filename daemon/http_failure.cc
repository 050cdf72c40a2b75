#include "daemon/http_failure.h"

#include "daemon/json_text.h"

namespace crtoken {

std::string OriginOf(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return "";
  const size_t authority = scheme_end + 3;
  size_t end = url.find_first_of("/?#", authority);
  if (end == std::string_view::npos) end = url.size();
  std::string_view host = url.substr(authority, end - authority);
  const size_t at = host.rfind('@');  // userinfo is never repeated
  if (at != std::string_view::npos) host = host.substr(at + 1);
  if (host.empty()) return "";
  return std::string(url.substr(0, scheme_end)) + "://" + std::string(host);
}

std::string DescribeRedirect(int status, const std::optional<std::string>& location) {
  std::string out = "HTTP " + std::to_string(status) + " redirect";
  if (!location || location->empty()) {
    out += " without a Location";
  } else {
    const std::string origin = OriginOf(*location);
    out += origin.empty() ? " to a relative location on the same host"
                          : " to " + PrintableText(origin, 200);
  }
  return out + ": not followed (crtoken follows no redirects; check the API URL)";
}

}  // namespace crtoken
