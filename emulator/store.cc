#include "emulator/store.h"

#include <algorithm>
#include <cstdio>

namespace crtoken::emulator {

std::string ToLower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

namespace {

std::string LocationSlug(const std::string& location) {
  std::string slug = location;
  std::replace(slug.begin(), slug.end(), '/', '-');
  return slug;
}

nlohmann::ordered_json ScopesJson(const std::vector<Scope>& scopes) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& s : scopes) {
    out.push_back({{"name", s.name}, {"type", s.type}, {"actions", s.actions}});
  }
  return out;
}

}  // namespace

std::string RegistryInfo::State(int64_t now) const {
  if (now >= running_at) return "Running";
  if (now < audit.created + provision_seconds / 2) return "New";
  return "WaitingForStorage";
}

std::string RegistryInfo::Hostname(int64_t now) const {
  if (now < running_at) return "";
  return name + ".cr." + LocationSlug(location) + ".ionos.com";
}

Store::Store(const EmulatorClock* clock, StorePolicy policy)
    : clock_(clock), policy_(policy), rng_(std::random_device{}()) {}

std::string Store::NewUuidLocked() {
  uint64_t a = rng_(), b = rng_();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string Store::NewPasswordLocked() {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(40, ' ');
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  for (char& c : out) c = kAlphabet[pick(rng_)];
  return out;
}

void Store::NoteExpiryLocked(const std::optional<int64_t>& expiry) {
  if (expiry && (!next_expiry_ || *expiry < *next_expiry_)) next_expiry_ = *expiry;
}

void Store::PurgeExpiredLocked(int64_t now) {
  if (!next_expiry_ || now < *next_expiry_) return;
  next_expiry_.reset();
  for (auto& [seq, reg] : registries_) {
    for (auto it = reg.tokens.begin(); it != reg.tokens.end();) {
      if (it->second.expiry && *it->second.expiry <= now) {
        reg.by_id.erase(it->second.id);
        it = reg.tokens.erase(it);
      } else {
        NoteExpiryLocked(it->second.expiry);
        ++it;
      }
    }
  }
}

Store::Registry* Store::FindLocked(const std::string& id) {
  std::string key = ToLower(id);
  for (auto& [seq, reg] : registries_) {
    if (reg.info.id == key) return &reg;
  }
  return nullptr;
}

Token* Store::FindTokenLocked(Registry* r, const std::string& token_id) {
  auto it = r->by_id.find(ToLower(token_id));
  if (it == r->by_id.end()) return nullptr;
  return &r->tokens.at(it->second);
}

bool Store::TokenNameTakenLocked(const Registry& r, const std::string& name,
                                 const std::string& except_id) const {
  for (const auto& [seq, t] : r.tokens) {
    if (t.name == name && t.id != except_id) return true;
  }
  return false;
}

std::string Store::SeedRegistry(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [seq, reg] : registries_) {
    if (reg.info.name == name) return reg.info.id;
  }
  int64_t now = clock_->Now();
  Registry reg;
  reg.info.id = NewUuidLocked();
  reg.info.name = name;
  reg.info.location = "de/fra";
  reg.info.audit.created = now;
  reg.info.audit.created_by = {"emulator", "00000000-0000-4000-8000-000000000000"};
  reg.info.running_at = now;
  reg.info.seq = next_seq_++;
  std::string id = reg.info.id;
  registries_.emplace(reg.info.seq, std::move(reg));
  return id;
}

RegistryPage Store::ListRegistries(const std::string& filter, uint64_t start_seq, int64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  RegistryPage page;
  std::string needle = ToLower(filter);
  for (auto it = registries_.lower_bound(start_seq); it != registries_.end(); ++it) {
    const RegistryInfo& info = it->second.info;
    if (!filter.empty()) {
      bool match = policy_.registry_filter_exact
                       ? info.name == filter
                       : ToLower(info.name).find(needle) != std::string::npos;
      if (!match) continue;
    }
    if (static_cast<int64_t>(page.items.size()) == limit) {
      page.next_seq = info.seq;
      break;
    }
    page.items.push_back(info);
  }
  return page;
}

std::optional<RegistryInfo> Store::GetRegistry(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Registry* r = FindLocked(id);
  if (!r) return std::nullopt;
  return r->info;
}

Result<RegistryInfo> Store::CreateRegistry(const RegistryInput& in, const Caller& caller) {
  std::lock_guard<std::mutex> lock(mu_);
  return CreateRegistryLocked(in, caller, NewUuidLocked());
}

Result<RegistryInfo> Store::CreateRegistryLocked(const RegistryInput& in, const Caller& caller,
                                                 const std::string& id) {
  for (auto& [seq, reg] : registries_) {
    if (reg.info.name == in.name) {
      return {Outcome::kInvalid,
              "properties.name: the registry name \"" + in.name + "\" is already in use"};
    }
  }
  int64_t now = clock_->Now();
  Registry reg;
  reg.info.id = id;
  reg.info.name = in.name;
  reg.info.location = in.location;
  reg.info.gc_schedule = in.gc_schedule;
  reg.info.audit.created = now;
  reg.info.audit.created_by = caller;
  reg.info.provision_seconds = policy_.provision_seconds;
  reg.info.running_at = now + policy_.provision_seconds;
  reg.info.seq = next_seq_++;
  Result<RegistryInfo> res;
  res.value = reg.info;
  registries_.emplace(reg.info.seq, std::move(reg));
  return res;
}

Result<RegistryInfo> Store::PutRegistry(const std::string& id, const RegistryInput& in,
                                        const Caller& caller, bool* created) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Registry* r = FindLocked(id)) {
    *created = false;
    if (r->info.name != in.name) {
      return {Outcome::kInvalid, "properties.name: a registry's name cannot be changed"};
    }
    if (r->info.location != in.location) {
      return {Outcome::kInvalid, "properties.location: a registry's location cannot be changed"};
    }
    r->info.gc_schedule = in.gc_schedule;
    r->info.audit.modified = clock_->Now();
    r->info.audit.modified_by = caller;
    return {Outcome::kOk, "", r->info};
  }
  *created = true;
  return CreateRegistryLocked(in, caller, ToLower(id));
}

Result<RegistryInfo> Store::PatchRegistry(const std::string& id,
                                          const std::optional<nlohmann::json>& gc_schedule,
                                          const Caller& caller) {
  std::lock_guard<std::mutex> lock(mu_);
  Registry* r = FindLocked(id);
  if (!r) return {Outcome::kNotFound, "registry not found"};
  if (gc_schedule) r->info.gc_schedule = gc_schedule;
  r->info.audit.modified = clock_->Now();
  r->info.audit.modified_by = caller;
  return {Outcome::kOk, "", r->info};
}

bool Store::DeleteRegistry(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Registry* r = FindLocked(id);
  if (!r) return false;
  registries_.erase(r->info.seq);
  return true;
}

bool Store::RegistryNameInUse(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [seq, reg] : registries_) {
    if (reg.info.name == name) return true;
  }
  return false;
}

Result<TokenPage> Store::ListTokens(const std::string& registry_id, int64_t offset, int64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  PurgeExpiredLocked(clock_->Now());
  Registry* r = FindLocked(registry_id);
  if (!r) return {Outcome::kNotFound, "registry not found"};
  Result<TokenPage> res;
  res.value.total = static_cast<int64_t>(r->tokens.size());
  int64_t i = 0;
  for (const auto& [seq, t] : r->tokens) {
    if (i++ < offset) continue;
    if (static_cast<int64_t>(res.value.items.size()) >= limit) break;
    res.value.items.push_back(t);
  }
  return res;
}

Result<Token> Store::GetToken(const std::string& registry_id, const std::string& token_id) {
  std::lock_guard<std::mutex> lock(mu_);
  PurgeExpiredLocked(clock_->Now());
  Registry* r = FindLocked(registry_id);
  if (!r) return {Outcome::kNotFound, "registry not found"};
  Token* t = FindTokenLocked(r, token_id);
  if (!t) return {Outcome::kNotFound, "token not found"};
  return {Outcome::kOk, "", *t};
}

Result<Token> Store::CreateToken(const std::string& registry_id, const TokenInput& in,
                                 const Caller& caller) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = clock_->Now();
  PurgeExpiredLocked(now);
  Registry* r = FindLocked(registry_id);
  if (!r) return {Outcome::kNotFound, "registry not found"};
  return InsertTokenLocked(r, NewUuidLocked(), in, caller, now);
}

Result<Token> Store::InsertTokenLocked(Registry* r, const std::string& id, const TokenInput& in,
                                       const Caller& caller, int64_t now) {
  if (TokenNameTakenLocked(*r, in.name, "")) {
    return {Outcome::kConflict,
            "a token named \"" + in.name + "\" already exists in this registry"};
  }
  Token t;
  t.id = id;
  t.name = in.name;
  t.status = in.status;
  t.expiry = in.expiry;
  t.scopes = in.scopes;
  t.password = NewPasswordLocked();
  t.audit.created = now;
  t.audit.created_by = caller;
  t.seq = next_seq_++;
  NoteExpiryLocked(t.expiry);
  r->by_id[t.id] = t.seq;
  r->tokens.emplace(t.seq, t);
  return {Outcome::kOk, "", t};
}

Result<PutTokenResult> Store::PutToken(const std::string& registry_id, const std::string& token_id,
                                       const TokenInput& in, const Caller& caller) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = clock_->Now();
  PurgeExpiredLocked(now);
  Registry* r = FindLocked(registry_id);
  if (!r) return {Outcome::kNotFound, "registry not found"};
  std::string id = ToLower(token_id);
  Result<PutTokenResult> res;
  if (Token* t = FindTokenLocked(r, id)) {
    if (t->name != in.name) {
      return {policy_.rename_is_conflict ? Outcome::kConflict : Outcome::kInvalid,
              "properties.name: a token's name cannot be changed (it is \"" + t->name + "\")"};
    }
    t->status = in.status;
    t->expiry = in.expiry;
    t->scopes = in.scopes;
    t->audit.modified = now;
    t->audit.modified_by = caller;
    if (policy_.put_replace_regenerates) {
      t->password = NewPasswordLocked();
      res.value.password_issued = true;
    }
    NoteExpiryLocked(t->expiry);
    res.value.token = *t;
    return res;
  }
  for (auto& [seq, other] : registries_) {
    if (other.by_id.count(id)) {
      return {Outcome::kConflict, "the token id " + id + " is used in another registry"};
    }
  }
  Result<Token> inserted = InsertTokenLocked(r, id, in, caller, now);
  if (inserted.outcome != Outcome::kOk) return {inserted.outcome, inserted.message};
  res.value.token = inserted.value;
  res.value.created = true;
  res.value.password_issued = true;
  return res;
}

Result<Token> Store::PatchToken(const std::string& registry_id, const std::string& token_id,
                                const TokenPatch& patch, const Caller& caller) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = clock_->Now();
  PurgeExpiredLocked(now);
  Registry* r = FindLocked(registry_id);
  if (!r) return {Outcome::kNotFound, "registry not found"};
  Token* t = FindTokenLocked(r, token_id);
  if (!t) return {Outcome::kNotFound, "token not found"};
  if (patch.status) t->status = *patch.status;
  if (patch.set_expiry) t->expiry = patch.expiry;
  if (patch.scopes) t->scopes = *patch.scopes;
  t->audit.modified = now;
  t->audit.modified_by = caller;
  NoteExpiryLocked(t->expiry);
  return {Outcome::kOk, "", *t};
}

Result<bool> Store::DeleteToken(const std::string& registry_id, const std::string& token_id) {
  std::lock_guard<std::mutex> lock(mu_);
  PurgeExpiredLocked(clock_->Now());
  Registry* r = FindLocked(registry_id);
  if (!r) return {Outcome::kNotFound, "registry not found"};
  Token* t = FindTokenLocked(r, token_id);
  if (!t) return {Outcome::kNotFound, "token not found"};
  uint64_t seq = t->seq;
  r->by_id.erase(t->id);
  r->tokens.erase(seq);
  return {Outcome::kOk, "", true};
}

Store::Login Store::CheckLogin(const std::string& hostname, const std::string& user,
                               const std::string& password) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->Now();
  PurgeExpiredLocked(now);
  for (const auto& [seq, reg] : registries_) {
    if (hostname.empty() || reg.info.Hostname(now) != hostname) continue;
    for (const auto& [tseq, t] : reg.tokens) {
      if (t.name != user) continue;
      const bool ok = !password.empty() && t.password == password && t.status == "enabled" &&
                      (!t.expiry || *t.expiry > now);
      return ok ? Login::kOk : Login::kDenied;
    }
    return Login::kDenied;
  }
  return Login::kNoRegistry;
}

nlohmann::ordered_json Store::StateJson() {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = clock_->Now();
  PurgeExpiredLocked(now);
  nlohmann::ordered_json regs = nlohmann::ordered_json::array();
  for (const auto& [seq, reg] : registries_) {
    nlohmann::ordered_json tokens = nlohmann::ordered_json::array();
    for (const auto& [tseq, t] : reg.tokens) {
      tokens.push_back({{"id", t.id},
                        {"name", t.name},
                        {"status", t.status},
                        {"expiryDate", t.expiry ? nlohmann::ordered_json(FormatTime(*t.expiry))
                                                : nlohmann::ordered_json()},
                        {"scopes", ScopesJson(t.scopes)},
                        {"password", t.password},
                        {"createdDate", FormatTime(t.audit.created)}});
    }
    regs.push_back({{"id", reg.info.id},
                    {"name", reg.info.name},
                    {"location", reg.info.location},
                    {"hostname", reg.info.Hostname(now)},
                    {"state", reg.info.State(now)},
                    {"tokens", std::move(tokens)}});
  }
  return {{"now", FormatTime(now)}, {"registries", std::move(regs)}};
}

}  // namespace crtoken::emulator
