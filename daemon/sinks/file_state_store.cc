#include "daemon/sinks/file_state_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <optional>

#include "daemon/common/json_text.h"

namespace crtoken {
namespace {

using Phase = OwnershipRecord::Phase;
using nlohmann::json;

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kCreating:
      return "creating";
    case Phase::kCreated:
      return "created";
    case Phase::kReady:
      return "ready";
  }
  return "creating";
}

constexpr int kFormatVersion = 1;

// A spec file's name is bytes, not necessarily UTF-8 (`caf\xe9.yaml`), and the planner matches
// records to failed files by those bytes. The JSON escaper replaces invalid UTF-8 with U+FFFD, so
// such a name is written twice: "sourceFile" as the escaper gives it (for people), and
// "sourceFileHex" with its exact bytes, which the reader prefers.
bool EscapesLosslessly(const std::string& s) {
  bool ascii = true;
  for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return true;
  const json back = json::parse(JsonString(s), nullptr, /*allow_exceptions=*/false);
  return back.is_string() && back.get_ref<const std::string&>() == s;
}

std::string HexOf(const std::string& s) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += kDigits[u >> 4];
    out += kDigits[u & 0xf];
  }
  return out;
}

std::optional<std::string> BytesOfHex(const std::string& hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = digit(hex[i]);
    const int lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

// A record takes ~200 bytes: this is over a million records, and a bound on what a misplaced
// file (a FIFO, a device, a huge sparse file) can make the startup read.
constexpr size_t kMaxStateFileBytes = size_t{256} << 20;

}  // namespace

// One record per line, written by hand: building a json document of 1,000 records first took
// ~15 ms per write, this ~1 ms. Parse reads any JSON of the same shape.
std::string FileStateStore::Serialize(const std::map<TokenKey, OwnershipRecord>& records) {
  std::string out = "{\"version\": " + std::to_string(kFormatVersion) + ", \"records\": [";
  out.reserve(out.size() + records.size() * 320);
  bool first = true;
  for (const auto& [key, r] : records) {
    out += first ? "\n  {\"registryId\": " : ",\n  {\"registryId\": ";
    first = false;
    AppendJsonString(out, r.registry_id);
    out += ", \"registryName\": ";
    AppendJsonString(out, r.registry_name);
    out += ", \"tokenName\": ";
    AppendJsonString(out, r.token_name);
    out += ", \"tokenId\": ";
    AppendJsonString(out, r.token_id);
    out += ", \"generation\": " + std::to_string(r.generation) + ", \"phase\": ";
    AppendJsonString(out, PhaseName(r.phase));
    if (r.secret.kind == SecretRef::Kind::kKubernetes) {
      out += ", \"secret\": {\"kubernetes\": {\"namespace\": ";
      AppendJsonString(out, r.secret.k8s_namespace);
      out += ", \"name\": ";
      AppendJsonString(out, r.secret.k8s_name);
      out += "}}";
    } else {
      out += ", \"secret\": {\"file\": ";
      AppendJsonString(out, r.secret.file);
      out += "}";
    }
    out += ", \"sourceFile\": ";
    AppendJsonString(out, r.source_file);
    if (!EscapesLosslessly(r.source_file))
      out += ", \"sourceFileHex\": \"" + HexOf(r.source_file) + "\"";
    out += "}";
  }
  out += records.empty() ? "]}\n" : "\n]}\n";
  return out;
}

Result<std::map<TokenKey, OwnershipRecord>> FileStateStore::Parse(const std::string& content,
                                                                  const std::string& path) {
  auto corrupt = [&](const std::string& why) {
    return Error{ErrorKind::kInvalid,
                 "state file " + path + " is corrupt (" + why +
                     "); it records which tokens crtoken owns: restore it from a backup or, if "
                     "nothing is owned, remove it"};
  };
  json doc = json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return corrupt("not valid JSON");
  if (!doc.is_object()) return corrupt("not a JSON object");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer()) return corrupt("no version");
  if (version->get<int>() != kFormatVersion) {
    return corrupt("unknown version " + std::to_string(version->get<int>()));
  }
  auto list = doc.find("records");
  if (list == doc.end() || !list->is_array()) return corrupt("no records list");
  std::map<TokenKey, OwnershipRecord> out;
  int index = 0;
  for (const auto& item : *list) {
    const std::string where = "record " + std::to_string(index++);
    if (!item.is_object()) return corrupt(where + " is not an object");
    auto str = [&](const char* field, std::string* value, bool required) -> bool {
      auto it = item.find(field);
      if (it == item.end()) return !required;
      if (!it->is_string()) return false;
      *value = it->get<std::string>();
      return !required || !value->empty();
    };
    OwnershipRecord r;
    if (!str("registryId", &r.registry_id, true)) return corrupt(where + ": bad registryId");
    if (!str("registryName", &r.registry_name, false)) return corrupt(where + ": bad registryName");
    if (!str("tokenName", &r.token_name, true)) return corrupt(where + ": bad tokenName");
    if (!str("tokenId", &r.token_id, true)) return corrupt(where + ": bad tokenId");
    if (!str("sourceFile", &r.source_file, false)) return corrupt(where + ": bad sourceFile");
    std::string source_hex;
    if (!str("sourceFileHex", &source_hex, false)) return corrupt(where + ": bad sourceFileHex");
    if (item.contains("sourceFileHex")) {
      auto bytes = BytesOfHex(source_hex);
      if (!bytes) return corrupt(where + ": bad sourceFileHex");
      r.source_file = std::move(*bytes);
    }
    auto gen = item.find("generation");
    if (gen == item.end() || !gen->is_number_integer() || gen->get<long long>() < 0 ||
        gen->get<long long>() > 1000000000) {
      return corrupt(where + ": bad generation");
    }
    r.generation = gen->get<int>();
    std::string phase;
    if (!str("phase", &phase, true)) return corrupt(where + ": bad phase");
    if (phase == "creating") {
      r.phase = Phase::kCreating;
    } else if (phase == "created") {
      r.phase = Phase::kCreated;
    } else if (phase == "ready") {
      r.phase = Phase::kReady;
    } else {
      return corrupt(where + ": unknown phase \"" + phase + "\"");
    }
    auto secret = item.find("secret");
    if (secret == item.end() || !secret->is_object()) return corrupt(where + ": bad secret");
    if (auto f = secret->find("file"); f != secret->end() && f->is_string()) {
      r.secret.kind = SecretRef::Kind::kFile;
      r.secret.file = f->get<std::string>();
    } else if (auto k = secret->find("kubernetes");
               k != secret->end() && k->is_object() && k->contains("namespace") &&
               k->contains("name") && (*k)["namespace"].is_string() && (*k)["name"].is_string()) {
      r.secret.kind = SecretRef::Kind::kKubernetes;
      r.secret.k8s_namespace = (*k)["namespace"].get<std::string>();
      r.secret.k8s_name = (*k)["name"].get<std::string>();
    } else {
      return corrupt(where + ": bad secret");
    }
    if (!out.emplace(r.key(), r).second) {
      return corrupt(where + ": a second record for " + r.registry_id + "/" + r.token_name);
    }
  }
  return out;
}

Result<std::unique_ptr<FileStateStore>> FileStateStore::Open(const std::string& state_dir,
                                                             FileOps* ops) {
  if (ops == nullptr) ops = &FileOps::Real();
  std::unique_ptr<FileStateStore> store(new FileStateStore(state_dir, ops));
  const std::string path = state_dir + "/" + kFileName;
  ScopedFd dir(ops,
               ops->OpenAt(AT_FDCWD, state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  if (!dir.valid()) {
    if (errno == ENOENT) return store;  // nothing recorded yet
    return IoError("cannot open the state dir", state_dir, errno);
  }
  auto content = ReadFileAt(*ops, dir.get(), kFileName, path, kMaxStateFileBytes);
  if (!content.ok()) {
    if (content.error().kind == ErrorKind::kNotFound) return store;
    return content.error();
  }
  auto records = Parse(content.value(), path);
  if (!records.ok()) return records.error();
  store->records_ = std::move(records.value());
  return store;
}

FileStateStore::~FileStateStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::vector<OwnershipRecord>> FileStateStore::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<OwnershipRecord> out;
  out.reserve(records_.size());
  for (const auto& [_, r] : records_) out.push_back(r);
  return out;
}

Status FileStateStore::Commit(std::map<TokenKey, OwnershipRecord> next) {
  if (ops_->MkdirAt(AT_FDCWD, state_dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError("cannot create the state dir", state_dir_, errno);
  }
  ScopedFd dir(ops_,
               ops_->OpenAt(AT_FDCWD, state_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  if (!dir.valid()) return IoError("cannot open the state dir", state_dir_, errno);
  if (lock_fd_ < 0) {
    int fd = ops_->OpenAt(dir.get(), "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return IoError("cannot open the lock file in", state_dir_, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return Error{ErrorKind::kIo, "state dir " + state_dir_ +
                                         " is in use by another crtoken process (run and apply "
                                         "must not share a state dir)"};
      }
      return IoError("cannot lock", state_dir_ + "/lock", err);
    }
    lock_fd_ = fd;
  }
  Status status = WriteFileAtomic(*ops_, dir.get(), kFileName, Serialize(next), 0600,
                                  state_dir_ + "/" + kFileName);
  if (!status.ok()) return status;
  records_ = std::move(next);
  return Status::Ok();
}

Status FileStateStore::Put(const OwnershipRecord& record) { return PutAll({record}); }

Status FileStateStore::PutAll(const std::vector<OwnershipRecord>& records) {
  if (records.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  auto next = records_;
  for (const auto& r : records) next[r.key()] = r;
  return Commit(std::move(next));
}

Status FileStateStore::Remove(const TokenKey& key) { return RemoveAll({key}); }

Status FileStateStore::RemoveAll(const std::vector<TokenKey>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  auto next = records_;
  size_t removed = 0;
  for (const auto& key : keys) removed += next.erase(key);
  if (removed == 0) return Status::Ok();
  return Commit(std::move(next));
}

}  // namespace crtoken
