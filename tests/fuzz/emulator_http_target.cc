// The bytes as what a client sent on one connection of crtoken-emulator, read request after
// request as the server reads them (delivered in pieces of 97 bytes, so that requests straddle
// reads). Reading ends with a request or one of the documented refusals, and the bodies read never
// hold more bytes than the stream did. Each request is answered by a fresh emulator with the
// registry "acme" and the token "t" ("_RID_" in a request's target stands for that registry's id,
// which is random); answering never throws (a handler exception would cost the client a 500) and
// gives a real status.
#include <algorithm>
#include <string>

#include "emulator/api.h"
#include "emulator/http_server.h"
#include "tests/fuzz/fuzz_targets.h"

namespace crtoken::fuzz {
namespace {

void ReplaceAll(std::string* s, const std::string& from, const std::string& to) {
  for (size_t at = s->find(from); at != std::string::npos; at = s->find(from, at + to.size())) {
    s->replace(at, from.size(), to);
  }
}

}  // namespace

void FuzzOneEmulatorHttp(const uint8_t* data, size_t size) {
  using namespace crtoken::emulator;
  EmulatorOptions options;
  options.registries = {"acme"};
  options.token = "t";
  Emulator emulator(options);
  const std::string registry_id = emulator.store().SeedRegistry("acme");

  size_t offset = 0;
  const ReadMore read_more = [&](std::string* buf) {
    if (offset >= size) return false;
    const size_t n = std::min<size_t>(size - offset, 97);
    buf->append(reinterpret_cast<const char*>(data) + offset, n);
    offset += n;
    return true;
  };
  std::string buf;
  size_t body_bytes = 0;  // of every request read: never more than the stream held
  for (int i = 0; i < 64; ++i) {
    HttpRequest req;
    const int read = ReadRequest(&buf, read_more, {}, &req);
    if (read != 0) {
      CRTOKEN_FUZZ_CHECK(read == -1 || read == 400 || read == 413 || read == 431);
      return;
    }
    CRTOKEN_FUZZ_CHECK(req.body.size() <= kMaxRequestBodyBytes);
    body_bytes += req.body.size();
    CRTOKEN_FUZZ_CHECK(body_bytes <= size);
    ReplaceAll(&req.path, "_RID_", registry_id);
    ReplaceAll(&req.target, "_RID_", registry_id);
    HttpResponse resp;
    try {
      emulator.Handle(req, &resp);
    } catch (const std::exception& e) {
      FuzzFail(e.what());
    }
    CRTOKEN_FUZZ_CHECK(resp.reset || (resp.status >= 100 && resp.status <= 599));
    // A fault rule's delay is a real sleep: one with a delay is dropped once added, so that no
    // input stalls the fuzzer (the rule was parsed all the same).
    for (const auto& rule : emulator.faults().ToJson()) {
      if (rule["delayMs"].get<int64_t>() > 0) {
        emulator.faults().Clear();
        break;
      }
    }
  }
}

}  // namespace crtoken::fuzz
