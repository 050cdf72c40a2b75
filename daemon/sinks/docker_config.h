// The dockerconfigjson format both secret sinks write (README.md), in one place:
//   {"auths":{"<hostname>":{"username":"<token>","password":"<password>","auth":"<base64>"}}}
// with "auth" = base64("<token>:<password>"), keys in that order, no whitespace.
#pragma once

#include <string>
#include <string_view>

#include "reconciler/secret_sink.h"

namespace crtoken {

// The exact content for one credential.
std::string DockerConfigJson(const DockerCredential& credential);

// What a dockerconfigjson holds, without the password: exists = true always; hostname, username
// and has_password only when it is a single-entry "auths" object. A missing username or password
// is taken from "auth" (as docker does), so secrets written by other tools are read right too.
SecretState ParseDockerConfigJson(std::string_view content);

}  // namespace crtoken
