// The dockerconfigjson format both secret sinks write (README.md), in one place:
//   {"auths":{"<hostname>":{"username":"<token>","password":"<password>","auth":"<base64>"}},
//    "crtoken":{"owner":"<owner>","registryId":"<id>","token":"<token>","tokenId":"<id>"}}
// on one line, with "auth" = base64("<token>:<password>"), keys in that order, no whitespace. The
// "crtoken" member is the secret's record (SecretRecord: which token the password belongs to, and
// which crtoken wrote it); it is left out when the record is empty. docker, the kubelet,
// containerd, podman and skopeo read "auths" and ignore members they do not know.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "reconciler/secret_sink.h"

namespace crtoken {

// The exact content for one credential (and its record, when not empty). Every string goes
// through the one JSON string escaper (daemon/common/json_text.h).
std::string DockerConfigJson(const DockerCredential& credential);

// What a dockerconfigjson holds, without the password: exists = true always; hostname, username
// and has_password only when it is a single-entry "auths" object. A missing username or password
// is taken from "auth" (as docker does), so secrets written by other tools are read right too;
// not when "auth" decodes to bytes that are not UTF-8 (no JSON string could write them again).
// `record` is filled from a "crtoken" member that is an object whose four members are non-empty
// strings; a missing, malformed or partial member is no record (never an error), and so is content
// that is not JSON at all.
SecretState ParseDockerConfigJson(std::string_view content);

// The credential itself, password included, with its record as ParseDockerConfigJson reads it:
// nullopt unless ParseDockerConfigJson would report has_password. For rewriting a secret with the
// same credential (SecretSink::Stamp); the password never leaves the sink.
std::optional<DockerCredential> ReadDockerCredential(std::string_view content);

}  // namespace crtoken
