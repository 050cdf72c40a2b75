// The process environment as a value: adapters and option parsing take an EnvLookup instead of
// calling getenv, so tests hand them a map instead of changing the real environment.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace crtoken {

// The value of the variable `name`, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// This process's own environment (getenv). Thread-safe as long as nothing calls setenv.
EnvLookup ProcessEnv();

}  // namespace crtoken
