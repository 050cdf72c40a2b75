// The fuzz targets' bodies, one function per target: `FuzzOne<Name>(data, size)` feeds one input
// to the code under test and checks what must hold for every input. libFuzzer's entry point
// (fuzzer_main.cc, built once per target with clang) and the regression replay
// (fuzz_regressions_test.cc, an ordinary gtest of every build) call the same functions, so an
// input that once broke a target is replayed by every `make test`.
//
// A target returns normally for an input that is handled as the contract says; a broken
// invariant calls FuzzFail, which prints what broke and aborts (a crash to libFuzzer, a failed
// test to the replay).
#pragma once

#include <cstddef>
#include <cstdint>

namespace crtoken::fuzz {

// Prints "fuzz invariant broken: <what>" on stderr and aborts.
[[noreturn]] void FuzzFail(const char* what);
#define CRTOKEN_FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::crtoken::fuzz::FuzzFail(#cond " (" __FILE__ ")"))

// Spec files (daemon/specs): ParseSpecText on the bytes as one YAML file.
void FuzzOneSpec(const uint8_t* data, size_t size);
// Registry API responses (daemon/registry/registry_json): every decoder, and the error
// describer, on the same body.
void FuzzOneRegistryJson(const uint8_t* data, size_t size);
// dockerconfigjson content (daemon/sinks/docker_config): the reader, and a re-written credential
// reading back the same.
void FuzzOneDockerConfig(const uint8_t* data, size_t size);
// Kubernetes answers (daemon/kube, daemon/sinks): a Secret, a Secret list page, a Lease and a
// Status message.
void FuzzOneKubeJson(const uint8_t* data, size_t size);
// RFC 3339 dates and durations (reconciler/time_util): each line of the input parsed both ways.
void FuzzOneTime(const uint8_t* data, size_t size);
// The API credentials file (daemon/registry/credentials).
void FuzzOneCredentials(const uint8_t* data, size_t size);
// The emulator's HTTP/1.1 request reading and its handling of what it read (emulator/): the
// bytes as one connection's stream, every request answered by a fresh emulator.
void FuzzOneEmulatorHttp(const uint8_t* data, size_t size);

}  // namespace crtoken::fuzz
