// The Container Registry API's JSON, to and from domain values. Pure: no
// HTTP, no cpprest (nlohmann-json inside the .cc only), so the mapping is unit-tested directly.
//
// Decoders return kUnavailable ("malformed response: ...") for a body that is not the documented
// shape: a garbled answer is treated as transient, like a proxy error page.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "reconciler/error.h"
#include "reconciler/password.h"
#include "reconciler/registry_api.h"
#include "reconciler/types.h"

namespace crtoken {

struct TokenPage {
  std::vector<ObservedToken> items;
  int64_t count = 0;
  int64_t offset = 0;
  int64_t limit = 0;
  int64_t total = 0;
};

struct RegistryPage {
  std::vector<RegistryInfo> items;
  std::string next_token;  // pagination.token; empty or absent ends the listing
};

// A TokenResponse. `password` (may be null) receives properties.credentials.password.
Result<ObservedToken> DecodeToken(const std::string& body, Password* password);
Result<TokenPage> DecodeTokenPage(const std::string& body);
Result<RegistryInfo> DecodeRegistry(const std::string& body);
Result<RegistryPage> DecodeRegistryPage(const std::string& body);

// The PUT/POST body: {"properties":{"name","status","expiryDate"?,"scopes"}}. status is always
// sent, scopes as [] when there are none, expiryDate only when set.
std::string EncodeTokenCreate(const TokenFields& fields);
// The PATCH body (no properties wrapper): only the fields set; a cleared expiry is
// "expiryDate":null.
std::string EncodeTokenPatch(const TokenPatch& patch);

// The most of a server's error text that an error message carries.
inline constexpr size_t kMaxApiMessageBytes = 1024;

// The messages[].message texts of an ApiErrorResponse joined with "; ", or a 200-byte excerpt of
// a body that is not one; empty for an empty body. This is where a server's text enters an Error,
// so it is made printable here (PrintableText: control characters escaped, cut after
// kMaxApiMessageBytes): a message can neither forge a log line nor flood stderr.
std::string DescribeErrorBody(const std::string& body);

}  // namespace crtoken
