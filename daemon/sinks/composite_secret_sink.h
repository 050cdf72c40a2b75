// CompositeSecretSink: the one sink the reconciler holds; dispatches each ref by SecretRef::Kind to
// the file sink or the Kubernetes sink. A kind without a configured sink is a kInvalid error
// ("kubernetes sink not configured"). List asks both (a sink not configured contributes nothing)
// and fails when either fails. Thread-safe when the sinks it holds are.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "reconciler/secret_sink.h"

namespace crtoken {

class CompositeSecretSink : public SecretSink {
 public:
  // Either pointer may be null; both must outlive this object.
  CompositeSecretSink(SecretSink* file, SecretSink* kubernetes)
      : file_(file), kubernetes_(kubernetes) {}

  Status Write(const SecretRef& ref, const DockerCredential& credential) override {
    auto sink = For(ref);
    if (!sink.ok()) return sink.error();
    return sink.value()->Write(ref, credential);
  }
  Result<SecretState> Inspect(const SecretRef& ref) override {
    auto sink = For(ref);
    if (!sink.ok()) return sink.error();
    return sink.value()->Inspect(ref);
  }
  Status Delete(const SecretRef& ref) override {
    auto sink = For(ref);
    if (!sink.ok()) return sink.error();
    return sink.value()->Delete(ref);
  }
  Result<std::vector<ListedSecret>> List(const std::string& owner) override {
    std::vector<ListedSecret> out;
    for (SecretSink* sink : {file_, kubernetes_}) {
      if (sink == nullptr) continue;
      auto listed = sink->List(owner);
      if (!listed.ok()) return listed.error();
      for (ListedSecret& secret : listed.value()) out.push_back(std::move(secret));
    }
    std::sort(out.begin(), out.end(),
              [](const ListedSecret& a, const ListedSecret& b) { return a.ref < b.ref; });
    return out;
  }
  Status Stamp(const SecretRef& ref, const SecretRecord& record) override {
    auto sink = For(ref);
    if (!sink.ok()) return sink.error();
    return sink.value()->Stamp(ref, record);
  }
  Status Replicate(const SecretRef& ref, const SecretRecord& record) override {
    auto sink = For(ref);
    if (!sink.ok()) return sink.error();
    return sink.value()->Replicate(ref, record);
  }
  Status Flush() override {
    for (SecretSink* sink : {file_, kubernetes_}) {
      if (sink == nullptr) continue;
      Status status = sink->Flush();
      if (!status.ok()) return status;
    }
    return Status::Ok();
  }

 private:
  Result<SecretSink*> For(const SecretRef& ref) const {
    if (ref.kind == SecretRef::Kind::kKubernetes) {
      if (kubernetes_ == nullptr) {
        return Error{ErrorKind::kInvalid,
                     "kubernetes sink not configured (secret " + ref.ToString() + ")"};
      }
      return kubernetes_;
    }
    if (file_ == nullptr) {
      return Error{ErrorKind::kInvalid, "file sink not configured (secret " + ref.ToString() + ")"};
    }
    return file_;
  }

  SecretSink* file_;
  SecretSink* kubernetes_;
};

}  // namespace crtoken
