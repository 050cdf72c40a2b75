// Request validation as the spec (container-registry-openapi.yaml) states it: path parameters,
// query parameters and bodies. Each function returns "" when valid, else a message that names
// the offending field; the caller answers 400 with that message.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "emulator/store.h"

namespace crtoken::emulator {

// ^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$
bool IsUuid(const std::string& s);
// ^[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]$
bool IsTokenName(const std::string& s);
// ^[a-z][-a-z0-9]{1,61}[a-z0-9]$
bool IsRegistryName(const std::string& s);
// The locations GET /locations lists (registry `location` must be one).
const std::vector<std::string>& Locations();

// Parses a JSON request body. Fills *error ("request body: ...") when empty or malformed.
std::optional<nlohmann::json> ParseBody(const std::string& body, std::string* error);

// PostTokenInput / PutTokenInput: {"properties": PostTokenProperties}. `now` and
// `min_expiry_seconds` bound expiryDate (it must lie after now + min_expiry_seconds).
std::string ParseTokenInput(const nlohmann::json& body, int64_t now, int64_t min_expiry_seconds,
                            TokenInput* out);
// PatchTokenInput (no wrapper).
std::string ParseTokenPatch(const nlohmann::json& body, int64_t now, int64_t min_expiry_seconds,
                            TokenPatch* out);
// PostRegistryInput / PutRegistryInput.
std::string ParseRegistryInput(const nlohmann::json& body, RegistryInput* out);
// PatchRegistryInput: sets *gc_schedule when garbageCollectionSchedule is present.
std::string ParseRegistryPatch(const nlohmann::json& body,
                               std::optional<nlohmann::json>* gc_schedule);

// A query parameter holding a decimal integer in [min, +inf). `name` is used in the message.
std::string ParseIntParam(const std::string& name, const std::string& value, int64_t min,
                          int64_t* out);

}  // namespace crtoken::emulator
