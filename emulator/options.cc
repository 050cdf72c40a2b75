#include "emulator/options.h"

#include <arpa/inet.h>

#include <charconv>
#include <regex>

namespace crtoken::emulator {
namespace {

bool ParseInt(const std::string& s, int64_t* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool IsLoopback(const std::string& host) {
  in_addr addr{};
  if (inet_pton(AF_INET, host.c_str(), &addr) != 1) return false;
  return (ntohl(addr.s_addr) >> 24) == 127;
}

}  // namespace

std::string EmulatorUsage() {
  return R"USAGE(Usage: crtoken-emulator --listen 127.0.0.1:PORT [options]

A local emulator of the IONOS Cloud Container Registry API, served under
http://HOST:PORT/containerregistries/ (loopback only), with admin endpoints under /_emulator/.

Options:
  --listen HOST:PORT         address to serve on (required; HOST must be a 127.x.x.x address
                             or "localhost"; PORT 0 picks a free port and prints it)
  --registry NAME            seed a Running registry NAME (location de/fra, hostname
                             NAME.cr.de-fra.ionos.com); repeatable
  --token T                  accept "Authorization: Bearer T"
  --user U --password P      accept "Authorization: Basic base64(U:P)"
                             (without --token/--user any non-empty Basic or Bearer credential
                             is accepted; with both, either one is)
  --provision-seconds N      how long a POSTed registry takes to become Running (default 4):
                             New for the first half, then WaitingForStorage; hostname "" until
                             Running. 0 = Running at once
  --put-replace-status 200|201
                             status of a PUT onto an existing token (default 201)
  --put-replace-password keep|regenerate
                             whether a PUT onto an existing token issues a new password and
                             returns it (default keep: password "" in the response)
  --put-rename-status 400|409
                             status of a PUT that changes an existing token's name (default 400)
  --registry-filter contains|exact
                             filter.name matching on GET /registries (default contains,
                             case-insensitive)
  --registry-last-token empty|absent
                             the last page of GET /registries carries pagination.token "" (the
                             default) or none at all (the spec requires the field)
  --max-limit N              largest `limit` accepted on list calls (default 1000)
  --limit-over-max clamp|reject
                             a larger limit is clamped to the maximum (default) or answered 400
  --min-expiry-seconds N     an expiryDate must lie more than N seconds after the emulator's
                             now (default 0: in the future); else 400
  --observed-nulls           write lastModifiedBy/lastModifiedByUserId as null on unmodified
                             resources, as recorded from the real service (the spec types them as
                             plain strings, so by default they are omitted instead)
  --log-requests             print one line per API request on stderr
  --help                     this text
  --version                  print the version

Admin endpoints (no auth): GET|DELETE /_emulator/requests, GET /_emulator/state,
GET|POST|DELETE /_emulator/faults, GET|POST /_emulator/clock. See docs/emulator.md.
)USAGE";
}

std::optional<EmulatorOptions> ParseEmulatorArgs(const std::vector<std::string>& args,
                                                 std::string* error, bool* help, bool* version) {
  EmulatorOptions o;
  bool have_listen = false;
  *help = false;
  *version = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool inline_value = false;
    if (flag.rfind("--", 0) == 0 && flag.find('=') != std::string::npos) {
      value = flag.substr(flag.find('=') + 1);
      flag = flag.substr(0, flag.find('='));
      inline_value = true;
    }
    auto need = [&]() -> bool {
      if (inline_value) return true;
      if (i + 1 >= args.size()) {
        *error = flag + ": missing value";
        return false;
      }
      value = args[++i];
      return true;
    };
    if (flag == "--help" || flag == "-h") {
      *help = true;
      return o;
    } else if (flag == "--version") {
      *version = true;
      return o;
    } else if (flag == "--listen") {
      if (!need()) return std::nullopt;
      size_t colon = value.rfind(':');
      int64_t port = 0;
      if (colon == std::string::npos || !ParseInt(value.substr(colon + 1), &port) || port < 0 ||
          port > 65535) {
        *error = "--listen: expected HOST:PORT, got \"" + value + "\"";
        return std::nullopt;
      }
      o.host = value.substr(0, colon);
      if (o.host == "localhost") o.host = "127.0.0.1";
      if (!IsLoopback(o.host)) {
        *error = "--listen: the emulator binds loopback only (127.x.x.x), got \"" + o.host + "\"";
        return std::nullopt;
      }
      o.port = static_cast<uint16_t>(port);
      have_listen = true;
    } else if (flag == "--registry") {
      if (!need()) return std::nullopt;
      static const std::regex kName("^[a-z][-a-z0-9]{1,61}[a-z0-9]$");
      if (!std::regex_match(value, kName)) {
        *error = "--registry: \"" + value +
                 "\" is not a valid registry name (^[a-z][-a-z0-9]{1,61}[a-z0-9]$)";
        return std::nullopt;
      }
      o.registries.push_back(value);
    } else if (flag == "--token") {
      if (!need()) return std::nullopt;
      if (value.empty()) {
        *error = "--token: must not be empty";
        return std::nullopt;
      }
      o.token = value;
    } else if (flag == "--user") {
      if (!need()) return std::nullopt;
      o.user = value;
    } else if (flag == "--password") {
      if (!need()) return std::nullopt;
      o.password = value;
    } else if (flag == "--provision-seconds" || flag == "--max-limit" ||
               flag == "--min-expiry-seconds") {
      if (!need()) return std::nullopt;
      int64_t n = 0;
      if (!ParseInt(value, &n) || n < 0 || (flag == "--max-limit" && n < 1)) {
        *error = flag + ": expected a non-negative integer, got \"" + value + "\"";
        return std::nullopt;
      }
      if (flag == "--provision-seconds") o.policy.provision_seconds = n;
      if (flag == "--max-limit") o.max_limit = n;
      if (flag == "--min-expiry-seconds") o.min_expiry_seconds = n;
    } else if (flag == "--put-replace-status") {
      if (!need()) return std::nullopt;
      if (value != "200" && value != "201") {
        *error = "--put-replace-status: expected 200 or 201, got \"" + value + "\"";
        return std::nullopt;
      }
      o.put_replace_status = value == "200" ? 200 : 201;
    } else if (flag == "--put-replace-password") {
      if (!need()) return std::nullopt;
      if (value != "keep" && value != "regenerate") {
        *error = "--put-replace-password: expected keep or regenerate, got \"" + value + "\"";
        return std::nullopt;
      }
      o.policy.put_replace_regenerates = value == "regenerate";
    } else if (flag == "--put-rename-status") {
      if (!need()) return std::nullopt;
      if (value != "400" && value != "409") {
        *error = "--put-rename-status: expected 400 or 409, got \"" + value + "\"";
        return std::nullopt;
      }
      o.policy.rename_is_conflict = value == "409";
    } else if (flag == "--registry-filter") {
      if (!need()) return std::nullopt;
      if (value != "contains" && value != "exact") {
        *error = "--registry-filter: expected contains or exact, got \"" + value + "\"";
        return std::nullopt;
      }
      o.policy.registry_filter_exact = value == "exact";
    } else if (flag == "--registry-last-token") {
      if (!need()) return std::nullopt;
      if (value != "empty" && value != "absent") {
        *error = "--registry-last-token: expected empty or absent, got \"" + value + "\"";
        return std::nullopt;
      }
      o.omit_last_page_token = value == "absent";
    } else if (flag == "--limit-over-max") {
      if (!need()) return std::nullopt;
      if (value != "clamp" && value != "reject") {
        *error = "--limit-over-max: expected clamp or reject, got \"" + value + "\"";
        return std::nullopt;
      }
      o.reject_over_max = value == "reject";
    } else if (flag == "--observed-nulls") {
      o.observed_nulls = true;
    } else if (flag == "--log-requests") {
      o.log_requests = true;
    } else {
      *error = "unknown flag \"" + flag + "\" (see --help)";
      return std::nullopt;
    }
  }
  if (!have_listen) {
    *error = "--listen HOST:PORT is required (see --help)";
    return std::nullopt;
  }
  if (o.user.has_value() != o.password.has_value()) {
    *error = "--user and --password go together";
    return std::nullopt;
  }
  return o;
}

}  // namespace crtoken::emulator
