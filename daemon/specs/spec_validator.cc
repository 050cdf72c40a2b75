#include "daemon/specs/spec_validator.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <tuple>
#include <utility>

#include "daemon/specs/spec_yaml.h"
#include "reconciler/time_util.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;

bool Matches(const std::string& text, const char* pattern, std::size_t max_length) {
  // Length first: libstdc++'s regex recurses per character and must never see a huge input.
  if (text.size() > max_length) return false;
  static std::mutex mu;
  static std::map<const char*, std::regex> cache;
  const std::regex* re;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(pattern);
    if (it == cache.end()) it = cache.emplace(pattern, std::regex(pattern)).first;
    re = &it->second;
  }
  return std::regex_match(text, *re);
}

template <std::size_t N>
std::string JoinList(const std::array<const char*, N>& items) {
  std::string out;
  for (const char* item : items) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

template <std::size_t N>
bool OneOf(const std::string& value, const std::array<const char*, N>& items) {
  for (const char* item : items) {
    if (value == item) return true;
  }
  return false;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct Field {
  std::string name;
  YNode key;
  YNode value;
};

class SpecValidator {
 public:
  explicit SpecValidator(const YamlText& yaml) : yaml_(yaml), file_(yaml.file()) {}

  FileSpecs Run() {
    FileSpecs out;
    out.file = file_;
    errors_ = yaml_.errors();
    // The documents completed before a syntax error are checked too: all errors are reported.
    const std::vector<YNode>& docs = yaml_.documents();
    for (std::size_t i = 0; i < docs.size(); ++i) {
      try {
        CheckDocument(docs[i], i, &out);
      } catch (const std::exception& e) {
        // Not expected (the checks use no throwing accessors), but never let one escape.
        Report(At(docs[i]), std::string("cannot read this document: ") + e.what());
      }
    }
    out.errors = std::move(errors_);
    std::stable_sort(
        out.errors.begin(), out.errors.end(), [](const SpecError& a, const SpecError& b) {
          return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
        });
    return out;
  }

 private:
  // --- Locations ---

  SourceLocation At(const YNode& node) const { return yaml_.At(node); }
  SourceLocation AtNullEntry(const YNode& entry) const { return yaml_.AtNullEntry(entry); }
  bool StartsWithMarker(const YNode& doc) const { return yaml_.StartsWithMarker(doc); }
  bool QuoteClosed(const YNode& scalar) const { return yaml_.QuoteClosed(scalar); }

  void Report(const SourceLocation& where, const std::string& message) {
    errors_.push_back(SpecError{where, message});
  }

  // --- Typed access ---

  // The fields of a mapping in document order. Reports keys that are not strings, duplicate
  // keys (yaml-cpp keeps them silently) and, when `allowed` is given, unknown fields.
  template <std::size_t N>
  std::vector<Field> Fields(const YNode& map, const std::string& path,
                            const std::array<const char*, N>& allowed) {
    std::vector<Field> fields;
    std::map<std::string, SourceLocation> first;
    for (const auto& [key, value] : map.Pairs()) {
      if (!key.IsScalar()) {
        Report(At(key), path + ": field names must be strings, got " + Describe(key));
        continue;
      }
      std::string name = key.Scalar();
      if (auto seen = first.find(name); seen != first.end()) {
        Report(At(key), "duplicate field " + QuoteForMessage(name) + " in " + path + " (first at " +
                            std::to_string(seen->second.line) + ":" +
                            std::to_string(seen->second.column) + ")");
        continue;
      }
      first.emplace(name, At(key));
      bool known = false;
      for (const char* a : allowed) known = known || name == a;
      if (!known && name == "<<") {
        Report(At(key), "merge keys (<<) are not supported; write the fields out in " + path);
        continue;
      }
      if (!known) {
        std::string message = "unknown field " + QuoteForMessage(name) + " in " + path;
        // The closest allowed name: equal ignoring case first, else within two edits.
        std::string suggestion;
        std::size_t best = 3;
        for (const char* a : allowed) {
          std::size_t d = Lower(name) == Lower(a) ? 0 : EditDistance(name, a);
          if (d < best) {
            best = d;
            suggestion = a;
          }
        }
        if (!suggestion.empty()) {
          message += "; did you mean \"" + suggestion + "\"?";
        } else {
          std::string list;
          for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
          message += " (allowed: " + list + ")";
        }
        Report(At(key), message);
        continue;
      }
      fields.push_back(Field{name, key, value});
    }
    return fields;
  }

  static const Field* Find(const std::vector<Field>& fields, const char* name) {
    for (const Field& f : fields) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  // A string value; null and collections are errors (null at the key, which has a position).
  std::optional<std::string> String(const Field& f, const std::string& path) {
    if (f.value.IsNull()) {
      Report(At(f.key), path + ": expected a string, got null");
      return std::nullopt;
    }
    if (!f.value.IsScalar()) {
      Report(At(f.value), path + ": expected a string, got " + Describe(f.value));
      return std::nullopt;
    }
    if (!QuoteClosed(f.value)) {
      Report(At(f.value), path + ": unterminated quoted string");
      return std::nullopt;
    }
    return f.value.Scalar();
  }

  // A mapping value; null and other kinds are errors.
  bool IsMapping(const Field& f, const std::string& path, const char* want) {
    if (f.value.IsMap()) return true;
    if (f.value.IsNull()) {
      Report(At(f.key), path + ": expected " + want + ", got null");
    } else {
      Report(At(f.value), path + ": expected " + want + ", got " + Describe(f.value));
    }
    return false;
  }

  template <std::size_t N>
  std::optional<std::string> Enum(const Field& f, const std::string& path,
                                  const std::array<const char*, N>& values) {
    auto v = String(f, path);
    if (!v) return std::nullopt;
    if (!OneOf(*v, values)) {
      Report(At(f.value),
             path + ": " + QuoteForMessage(*v) + " is not one of: " + JoinList(values));
      return std::nullopt;
    }
    return v;
  }

  // --- Documents ---

  void CheckDocument(const YNode& doc, std::size_t index, FileSpecs* out) {
    if (doc.IsNull() || !doc.IsDefined()) {
      ++out->skipped_documents;
      return;
    }
    if (index > 0 && !StartsWithMarker(doc)) {
      Report(At(doc),
             "YAML syntax error: unexpected content after the end of the previous node "
             "(a new document must start with ---)");
      return;
    }
    if (!doc.IsMap()) {
      Report(At(doc), "expected a mapping with apiVersion and kind, got " + Describe(doc));
      return;
    }
    // Find apiVersion and kind without judging the rest: other API groups are not ours to check.
    // A document is ours when its group is crtoken.io (or a subgroup), and also when its kind is
    // RegistryToken or its apiVersion mentions crtoken: likely typos, which must not be skipped.
    std::optional<Field> api_version;
    bool kind_is_ours = false;
    for (const auto& [key, value] : doc.Pairs()) {
      if (!key.IsScalar()) continue;
      if (key.Scalar() == "apiVersion" && !api_version)
        api_version = Field{"apiVersion", key, value};
      if (key.Scalar() == "kind" && value.IsScalar() && value.Scalar() == kSpecKind) {
        kind_is_ours = true;
      }
    }
    if (!api_version) {
      std::string base = fs::path(file_).filename().string();
      if (!kind_is_ours && (base == "kustomization.yaml" || base == "kustomization.yml" ||
                            base == "Kustomization")) {
        ++out->skipped_documents;
        return;
      }
      Report(At(doc), "missing apiVersion (want apiVersion: " + std::string(kSpecApiVersion) +
                          " and kind: " + kSpecKind + ")");
      return;
    }
    if (!api_version->value.IsScalar() || api_version->value.Scalar().empty()) {
      const YNode& where = api_version->value.IsNull() ? api_version->key : api_version->value;
      Report(At(where), "apiVersion: expected a string such as " + std::string(kSpecApiVersion) +
                            ", got " + Describe(api_version->value));
      return;
    }
    const std::string version = api_version->value.Scalar();
    const std::size_t slash = version.find('/');
    const std::string group = slash == std::string::npos ? "" : version.substr(0, slash);
    const bool ours = group == kSpecApiGroup || EndsWith(group, std::string(".") + kSpecApiGroup) ||
                      kind_is_ours || Lower(version).find("crtoken") != std::string::npos;
    if (!ours) {
      ++out->skipped_documents;  // another API group's document (a ConfigMap, a Kustomization)
      return;
    }
    auto top = Fields(doc, "the document", kSpecDocumentFields);
    bool ok = true;
    if (version != kSpecApiVersion) {
      Report(At(api_version->value), "unknown apiVersion " + QuoteForMessage(version) +
                                         " (supported: " + kSpecApiVersion + ")");
      ok = false;
    }
    const Field* kind = Find(top, "kind");
    if (kind == nullptr) {
      Report(At(doc),
             "missing required field \"kind\" (want kind: " + std::string(kSpecKind) + ")");
      ok = false;
    } else if (auto k = String(*kind, "kind"); !k) {
      ok = false;
    } else if (*k != kSpecKind) {
      Report(At(kind->value), "unknown kind " + QuoteForMessage(*k) + " in " + kSpecApiGroup +
                                  " (supported: " + kSpecKind + ")");
      ok = false;
    }
    if (!ok) return;  // another version or kind: its fields are not known here
    const std::size_t errors_before = errors_.size();
    TokenSpec spec;
    const Field* metadata = Find(top, "metadata");
    const Field* spec_field = Find(top, "spec");
    if (metadata == nullptr) Report(At(doc), "missing required field \"metadata\"");
    if (spec_field == nullptr) Report(At(doc), "missing required field \"spec\"");
    if (metadata != nullptr) CheckMetadata(*metadata, &spec);
    if (spec_field != nullptr) CheckSpec(*spec_field, &spec);
    if (errors_.size() == errors_before) out->specs.push_back(std::move(spec));
  }

  void CheckMetadata(const Field& metadata, TokenSpec* spec) {
    if (!IsMapping(metadata, "metadata", "a mapping with name")) return;
    auto fields = Fields(metadata.value, "metadata", kSpecMetadataFields);
    const Field* name = Find(fields, "name");
    if (name == nullptr) {
      Report(At(metadata.value), "metadata: missing required field \"name\"");
      return;
    }
    auto v = String(*name, "metadata.name");
    if (!v) return;
    if (!Matches(*v, kTokenNamePattern, 63)) {
      Report(At(name->value), "metadata.name: " + QuoteForMessage(*v) +
                                  " is not a valid token name (2 to 63 letters, digits and '-', "
                                  "starting with a letter, ending with a letter or digit)");
      return;
    }
    spec->name = *v;
    spec->source = At(name->value);
  }

  void CheckSpec(const Field& spec_field, TokenSpec* spec) {
    if (!IsMapping(spec_field, "spec", "a mapping")) return;
    auto fields = Fields(spec_field.value, "spec", kSpecSpecFields);
    const Field* registry = Find(fields, "registry");
    const Field* registry_id = Find(fields, "registryId");
    if (registry != nullptr && registry_id != nullptr) {
      const Field* later =
          registry->key.Mark().pos > registry_id->key.Mark().pos ? registry : registry_id;
      Report(At(later->key), "spec: registry and registryId are mutually exclusive; set one");
    } else if (registry == nullptr && registry_id == nullptr) {
      Report(At(spec_field.value), "spec: missing required field \"registry\" (or \"registryId\")");
    }
    if (registry != nullptr) {
      if (auto v = String(*registry, "spec.registry")) {
        if (!Matches(*v, kRegistryNamePattern, 63)) {
          Report(At(registry->value),
                 "spec.registry: " + QuoteForMessage(*v) +
                     " is not a valid registry name (3 to 63 lower-case letters, digits and '-', "
                     "starting with a letter, ending with a letter or digit)");
        } else {
          spec->registry = *v;
        }
      }
    }
    if (registry_id != nullptr) {
      if (auto v = String(*registry_id, "spec.registryId")) {
        if (!Matches(*v, kUuidPattern, 36)) {
          Report(At(registry_id->value),
                 "spec.registryId: " + QuoteForMessage(*v) +
                     " is not a UUID (such as 3fa85f64-5717-4562-b3fc-2c963f66afa6)");
        } else {
          spec->registry_id = Lower(*v);
        }
      }
    }
    if (const Field* status = Find(fields, "status")) {
      if (auto v = Enum(*status, "spec.status", kSpecStatusValues)) {
        spec->status = *v == "disabled" ? TokenStatus::kDisabled : TokenStatus::kEnabled;
      }
    }
    if (const Field* expiry = Find(fields, "expiryDate");
        expiry != nullptr && !expiry->value.IsNull()) {
      if (auto v = String(*expiry, "spec.expiryDate")) {
        if (auto instant = ParseRfc3339(*v)) {
          spec->expiry = *instant;
        } else {
          Report(At(expiry->value), "spec.expiryDate: " + QuoteForMessage(*v) +
                                        " is not an RFC 3339 date-time (such as "
                                        "2027-06-30T00:00:00Z)");
        }
      }
    }
    CheckLifetime(fields, spec);
    const Field* scopes = Find(fields, "scopes");
    if (scopes == nullptr) {
      Report(At(spec_field.value), "spec: missing required field \"scopes\"");
    } else {
      CheckScopes(*scopes, spec);
    }
    const Field* secret = Find(fields, "secret");
    if (secret == nullptr) {
      Report(At(spec_field.value), "spec: missing required field \"secret\"");
    } else {
      CheckSecret(*secret, spec);
    }
    if (const Field* adopt = Find(fields, "adopt")) {
      const std::string v = adopt->value.IsScalar() ? adopt->value.Scalar() : "";
      const bool plain = adopt->value.IsScalar() && adopt->value.Tag() != "!";
      if (plain && (v == "true" || v == "True" || v == "TRUE")) {
        spec->adopt = true;
      } else if (plain && (v == "false" || v == "False" || v == "FALSE")) {
        spec->adopt = false;
      } else {
        Report(At(adopt->value.IsNull() ? adopt->key : adopt->value),
               "spec.adopt: expected true or false, got " + Describe(adopt->value));
      }
    }
  }

  // spec.lifetime and spec.renewBefore: durations such as 90d or 720h, whole seconds.
  std::optional<std::chrono::seconds> DurationField(const Field& field, const std::string& path) {
    auto v = String(field, path);
    if (!v) return std::nullopt;
    auto d = ParseDuration(*v);
    if (!d || *d < std::chrono::seconds(1) || *d % std::chrono::seconds(1) != d->zero()) {
      Report(At(field.value), path + ": " + QuoteForMessage(*v) +
                                  " is not a duration in whole seconds (such as 90d, 720h or "
                                  "1h30m)");
      return std::nullopt;
    }
    return std::chrono::duration_cast<std::chrono::seconds>(*d);
  }

  void CheckLifetime(const std::vector<Field>& fields, TokenSpec* spec) {
    const Field* lifetime = Find(fields, "lifetime");
    const Field* renew = Find(fields, "renewBefore");
    const Field* expiry = Find(fields, "expiryDate");
    if (lifetime == nullptr) {
      if (const Field* overlap = Find(fields, "overlap")) {
        Report(At(overlap->key),
               "spec.overlap: needs spec.lifetime (only a token that is renewed rotates between "
               "two slots)");
      }
      if (renew != nullptr) {
        Report(At(renew->key),
               "spec.renewBefore: needs spec.lifetime (a token with a fixed expiryDate or none "
               "is never renewed)");
      }
      return;
    }
    if (expiry != nullptr && !expiry->value.IsNull()) {
      const Field* later = lifetime->key.Mark().pos > expiry->key.Mark().pos ? lifetime : expiry;
      Report(At(later->key), "spec: expiryDate and lifetime are mutually exclusive; set one");
      return;
    }
    auto life = DurationField(*lifetime, "spec.lifetime");
    if (!life) return;
    if (*life < std::chrono::hours(1)) {
      Report(At(lifetime->value), "spec.lifetime: " + QuoteForMessage(lifetime->value.Scalar()) +
                                      " is shorter than the minimum of 1h");
      return;
    }
    std::chrono::seconds renew_before = *life / 3;  // the default: renew with a third left
    if (renew != nullptr) {
      auto r = DurationField(*renew, "spec.renewBefore");
      if (!r) return;
      if (*r >= *life) {
        Report(At(renew->value), "spec.renewBefore: " + QuoteForMessage(renew->value.Scalar()) +
                                     " must be shorter than spec.lifetime " +
                                     QuoteForMessage(lifetime->value.Scalar()));
        return;
      }
      renew_before = *r;
    }
    spec->lifetime = *life;
    spec->renew_before = renew_before;
    CheckOverlap(fields, spec);
  }

  // spec.overlap: two slot tokens "<name>-a" and "<name>-b" serve the spec; a renewal keeps the
  // previous slot for `overlap`. The previous slot must be retired before it expires (its expiry
  // is the old renewal instant + renewBefore) and before the next renewal needs its slot again.
  void CheckOverlap(const std::vector<Field>& fields, TokenSpec* spec) {
    const Field* overlap = Find(fields, "overlap");
    if (overlap == nullptr) return;
    auto d = DurationField(*overlap, "spec.overlap");
    if (!d) return;
    const std::string text = QuoteForMessage(overlap->value.Scalar());
    if (*d < std::chrono::minutes(1)) {
      Report(At(overlap->value), "spec.overlap: " + text + " is shorter than the minimum of 1m");
      return;
    }
    if (*d >= spec->renew_before) {
      Report(At(overlap->value), "spec.overlap: " + text +
                                     " must be shorter than spec.renewBefore (" +
                                     std::to_string(spec->renew_before.count()) +
                                     " s): the previous slot must be retired before it expires");
      return;
    }
    if (*d > *spec->lifetime - spec->renew_before) {
      Report(At(overlap->value),
             "spec.overlap: " + text + " must end before the next renewal: at most " +
                 "spec.lifetime - spec.renewBefore (" +
                 std::to_string((*spec->lifetime - spec->renew_before).count()) + " s)");
      return;
    }
    if (!spec->name.empty() && spec->name.size() + 2 > 63) {
      Report(At(overlap->key), "spec.overlap: the slot token names " +
                                   QuoteForMessage(spec->name + "-a") + " and " +
                                   QuoteForMessage(spec->name + "-b") +
                                   " are longer than the API's 63 characters; shorten "
                                   "metadata.name to at most 61");
      return;
    }
    spec->overlap = *d;
  }

  void CheckScopes(const Field& scopes, TokenSpec* spec) {
    if (!scopes.value.IsSequence()) {
      const YNode& where = scopes.value.IsNull() ? scopes.key : scopes.value;
      Report(At(where), "spec.scopes: expected a list of scopes, got " + Describe(scopes.value));
      return;
    }
    if (scopes.value.size() == 0) {
      Report(At(scopes.value), "spec.scopes: at least one scope is required");
      return;
    }
    std::map<std::pair<std::string, std::string>, SourceLocation> seen;
    const std::vector<YNode>& entries = scopes.value.Items();
    for (std::size_t index = 0; index < entries.size(); ++index) {
      const YNode& entry = entries[index];
      const std::string path = "spec.scopes[" + std::to_string(index) + "]";
      if (entry.IsNull()) {
        Report(AtNullEntry(entry), path + ": empty scope (want name, type and actions)");
        continue;
      }
      if (!entry.IsMap()) {
        Report(At(entry),
               path + ": expected a mapping with name, type and actions, got " + Describe(entry));
        continue;
      }
      if (entry.size() == 0) {
        Report(At(entry), path + ": empty scope (want name, type and actions)");
        continue;
      }
      const std::size_t errors_before = errors_.size();
      auto fields = Fields(entry, path, kSpecScopeFields);
      Scope scope;
      const Field* name = Find(fields, "name");
      const Field* type = Find(fields, "type");
      const Field* actions = Find(fields, "actions");
      for (const char* required : kSpecScopeFields) {
        if (Find(fields, required) == nullptr) {
          Report(At(entry), path + ": missing required field \"" + required + "\"");
        }
      }
      if (name != nullptr) {
        if (auto v = String(*name, path + ".name")) {
          bool bad = std::any_of(v->begin(), v->end(), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return u <= 0x20 || u == 0x7f;
          });
          if (v->empty()) {
            Report(At(name->value), path + ".name: must not be empty (\"*\" means all)");
          } else if (bad) {
            Report(At(name->value), path + ".name: " + QuoteForMessage(*v) +
                                        " contains whitespace or a control character");
          } else {
            scope.name = *v;
          }
        }
      }
      if (type != nullptr) {
        if (auto v = Enum(*type, path + ".type", kSpecScopeTypes)) scope.type = *v;
      }
      if (actions != nullptr) CheckActions(*actions, path + ".actions", &scope);
      if (errors_.size() != errors_before) continue;
      auto key = std::make_pair(scope.name, scope.type);
      if (auto first = seen.find(key); first != seen.end()) {
        Report(At(entry), path + ": duplicate scope " + QuoteForMessage(scope.name) + " of type " +
                              scope.type + " (first at " + std::to_string(first->second.line) +
                              ":" + std::to_string(first->second.column) +
                              "); merge their actions into one entry");
        continue;
      }
      seen.emplace(key, At(entry));
      spec->scopes.push_back(std::move(scope));
    }
  }

  void CheckActions(const Field& actions, const std::string& path, Scope* scope) {
    if (!actions.value.IsSequence()) {
      const YNode& where = actions.value.IsNull() ? actions.key : actions.value;
      Report(At(where),
             path + ": expected a list such as [pull, push], got " + Describe(actions.value));
      return;
    }
    if (actions.value.size() == 0) {
      Report(At(actions.value),
             path + ": at least one action is required (" + JoinList(kSpecScopeActions) + ")");
      return;
    }
    const std::vector<YNode>& entries = actions.value.Items();
    for (std::size_t index = 0; index < entries.size(); ++index) {
      const YNode& entry = entries[index];
      const std::string item_path = path + "[" + std::to_string(index) + "]";
      if (!entry.IsScalar()) {
        SourceLocation where = entry.IsNull() ? AtNullEntry(entry) : At(entry);
        Report(where, item_path + ": expected one of " + JoinList(kSpecScopeActions) + ", got " +
                          Describe(entry));
        continue;
      }
      const std::string v = entry.Scalar();
      if (!OneOf(v, kSpecScopeActions)) {
        Report(At(entry), item_path + ": " + QuoteForMessage(v) +
                              " is not one of: " + JoinList(kSpecScopeActions));
        continue;
      }
      if (std::find(scope->actions.begin(), scope->actions.end(), v) != scope->actions.end()) {
        Report(At(entry), item_path + ": duplicate action " + QuoteForMessage(v));
        continue;
      }
      scope->actions.push_back(v);
    }
  }

  void CheckSecret(const Field& secret, TokenSpec* spec) {
    if (!IsMapping(secret, "spec.secret", "a mapping with file or kubernetes")) return;
    auto fields = Fields(secret.value, "spec.secret", kSpecSecretFields);
    const Field* file = Find(fields, "file");
    const Field* kubernetes = Find(fields, "kubernetes");
    if (file != nullptr && kubernetes != nullptr) {
      const Field* later = file->key.Mark().pos > kubernetes->key.Mark().pos ? file : kubernetes;
      Report(At(later->key), "spec.secret: file and kubernetes are mutually exclusive; set one");
      return;
    }
    if (file == nullptr && kubernetes == nullptr) {
      Report(At(secret.value), "spec.secret: set one of file or kubernetes");
      return;
    }
    if (file != nullptr) {
      auto v = String(*file, "spec.secret.file");
      if (!v) return;
      std::string why = SecretPathProblem(*v);
      if (!why.empty()) {
        Report(At(file->value), "spec.secret.file: " + why);
        return;
      }
      spec->secret.kind = SecretRef::Kind::kFile;
      spec->secret.file = *v;
      return;
    }
    if (!IsMapping(*kubernetes, "spec.secret.kubernetes", "a mapping with namespace and name")) {
      return;
    }
    auto k8s = Fields(kubernetes->value, "spec.secret.kubernetes", kSpecKubernetesFields);
    const Field* ns = Find(k8s, "namespace");
    const Field* name = Find(k8s, "name");
    const Field* list = Find(k8s, "namespaces");
    const Field* selector = Find(k8s, "namespaceSelector");
    const Field* accounts = Find(k8s, "serviceAccounts");
    spec->secret.kind = SecretRef::Kind::kKubernetes;
    if (name == nullptr) {
      Report(At(kubernetes->value), "spec.secret.kubernetes: missing required field \"name\"");
    }
    std::vector<const Field*> targets;
    for (const Field* f : {ns, list, selector}) {
      if (f != nullptr) targets.push_back(f);
    }
    if (targets.empty()) {
      Report(At(kubernetes->value),
             "spec.secret.kubernetes: set one of namespace, namespaces or namespaceSelector");
    } else if (targets.size() > 1) {
      const Field* later = *std::max_element(targets.begin(), targets.end(), [](auto* a, auto* b) {
        return a->key.Mark().pos < b->key.Mark().pos;
      });
      std::string names;
      for (const Field* f : targets) names += (names.empty() ? "" : " and ") + f->name;
      Report(At(later->key), "spec.secret.kubernetes: " + names +
                                 " are mutually exclusive; set one (a namespace, a list of "
                                 "namespaces, or a namespaceSelector)");
      targets.clear();
    }
    if (ns != nullptr && targets.size() == 1) {
      if (auto v = DnsLabel(*ns, "spec.secret.kubernetes.namespace", "namespace")) {
        spec->secret.k8s_namespace = *v;
      }
    }
    if (list != nullptr && targets.size() == 1) {
      spec->secret.k8s_namespaces =
          NameList(*list, "spec.secret.kubernetes.namespaces", "namespace", /*label=*/true);
    }
    if (selector != nullptr && targets.size() == 1) CheckSelector(*selector, spec);
    if (accounts != nullptr) {
      if (ns != nullptr && list == nullptr && selector == nullptr) {
        Report(At(accounts->key),
               "spec.secret.kubernetes.serviceAccounts: only with namespaces or "
               "namespaceSelector (write the one namespace as namespaces: [" +
                   spec->secret.k8s_namespace + "])");
      } else {
        spec->secret.service_accounts = NameList(
            *accounts, "spec.secret.kubernetes.serviceAccounts", "ServiceAccount", /*label=*/false);
      }
    }
    if (name != nullptr) {
      if (auto v = String(*name, "spec.secret.kubernetes.name")) {
        if (!Matches(*v, kDns1123SubdomainPattern, 253)) {
          Report(At(name->value), "spec.secret.kubernetes.name: " + QuoteForMessage(*v) +
                                      " is not a valid Secret name (a DNS-1123 subdomain: at most "
                                      "253 lower-case letters, digits, '-' and '.', starting and "
                                      "ending with a letter or digit)");
        } else {
          spec->secret.k8s_name = *v;
        }
      }
    }
  }

  // A namespace name (a DNS-1123 label), or nullopt with the error reported.
  std::optional<std::string> DnsLabel(const Field& f, const std::string& path, const char* what) {
    auto v = String(f, path);
    if (!v) return std::nullopt;
    if (!Matches(*v, kDns1123LabelPattern, 63)) {
      Report(At(f.value), path + ": " + QuoteForMessage(*v) + " is not a valid " + what +
                              " (a DNS-1123 label: at most 63 lower-case letters, digits and "
                              "'-', starting and ending with a letter or digit)");
      return std::nullopt;
    }
    return v;
  }

  // A non-empty list of distinct Kubernetes names (DNS-1123 labels when `label`, else
  // subdomains), sorted; every bad entry reported. Empty when the list is unusable.
  std::vector<std::string> NameList(const Field& f, const std::string& path, const char* what,
                                    bool label) {
    if (!f.value.IsSequence()) {
      const YNode& where = f.value.IsNull() ? f.key : f.value;
      Report(At(where), path + ": expected a list of " + what + " names such as [a, b], got " +
                            Describe(f.value));
      return {};
    }
    if (f.value.size() == 0) {
      Report(At(f.value), path + ": the list is empty; name at least one " + what);
      return {};
    }
    std::vector<std::string> out;
    std::map<std::string, SourceLocation> seen;
    bool bad = false;
    const std::vector<YNode>& entries = f.value.Items();
    for (std::size_t index = 0; index < entries.size(); ++index) {
      const YNode& entry = entries[index];
      const std::string item_path = path + "[" + std::to_string(index) + "]";
      if (!entry.IsScalar()) {
        Report(entry.IsNull() ? AtNullEntry(entry) : At(entry),
               item_path + ": expected a " + what + " name, got " + Describe(entry));
        bad = true;
        continue;
      }
      const std::string v = entry.Scalar();
      const bool valid =
          label ? Matches(v, kDns1123LabelPattern, 63) : Matches(v, kDns1123SubdomainPattern, 253);
      if (!valid) {
        Report(At(entry), item_path + ": " + QuoteForMessage(v) + " is not a valid " + what +
                              " name (" +
                              (label ? "a DNS-1123 label: at most 63" : "a DNS-1123 subdomain") +
                              " lower-case letters, digits and '-', starting and ending with a "
                              "letter or digit)");
        bad = true;
        continue;
      }
      if (auto it = seen.find(v); it != seen.end()) {
        Report(At(entry), item_path + ": duplicate " + what + " " + QuoteForMessage(v) +
                              " (first at " + std::to_string(it->second.line) + ":" +
                              std::to_string(it->second.column) + ")");
        bad = true;
        continue;
      }
      seen.emplace(v, At(entry));
      out.push_back(v);
    }
    if (bad) return {};
    std::sort(out.begin(), out.end());
    return out;
  }

  // A label key as Kubernetes validates it: an optional DNS subdomain prefix and '/', then a name
  // of at most 63 characters of [A-Za-z0-9-_.] starting and ending with a letter or digit.
  static bool IsLabelKey(const std::string& key) {
    const std::size_t slash = key.find('/');
    std::string name = key;
    if (slash != std::string::npos) {
      const std::string prefix = key.substr(0, slash);
      if (prefix.empty() || !Matches(prefix, kDns1123SubdomainPattern, 253)) return false;
      name = key.substr(slash + 1);
    }
    return Matches(name, "^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", 63);
  }
  static bool IsLabelValue(const std::string& value) {
    return Matches(value, "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$", 63);
  }
  static constexpr char kLabelKeyRule[] =
      "an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' and "
      "'.', starting and ending with a letter or digit";
  static constexpr char kLabelValueRule[] =
      "at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit";

  std::optional<std::string> LabelKey(const Field& f, const std::string& path) {
    auto v = String(f, path);
    if (!v) return std::nullopt;
    if (!IsLabelKey(*v)) {
      Report(At(f.value), path + ": " + QuoteForMessage(*v) + " is not a valid label key (" +
                              kLabelKeyRule + ")");
      return std::nullopt;
    }
    return v;
  }

  void CheckSelector(const Field& field, TokenSpec* spec) {
    const std::string path = "spec.secret.kubernetes.namespaceSelector";
    if (!IsMapping(field, path, "a mapping with matchLabels and/or matchExpressions")) return;
    auto fields = Fields(field.value, path, kSpecSelectorFields);
    LabelSelector selector;
    bool bad = false;
    if (const Field* labels = Find(fields, "matchLabels")) {
      if (IsMapping(*labels, path + ".matchLabels", "a mapping of label keys to values")) {
        for (const auto& [key, value] : labels->value.Pairs()) {
          const Field pair{key.IsScalar() ? key.Scalar() : "", key, value};
          auto k = LabelKey(Field{pair.name, key, key}, path + ".matchLabels");
          auto v = String(pair, path + ".matchLabels." + PrintableKey(pair.name));
          if (!k || !v) {
            bad = true;
            continue;
          }
          if (!IsLabelValue(*v)) {
            Report(At(value), path + ".matchLabels." + PrintableKey(*k) + ": " +
                                  QuoteForMessage(*v) + " is not a valid label value (" +
                                  kLabelValueRule + ")");
            bad = true;
            continue;
          }
          selector.match_labels[*k] = *v;
        }
      } else {
        bad = true;
      }
    }
    if (const Field* expressions = Find(fields, "matchExpressions")) {
      const std::string epath = path + ".matchExpressions";
      if (!expressions->value.IsSequence()) {
        const YNode& where = expressions->value.IsNull() ? expressions->key : expressions->value;
        Report(At(where), epath + ": expected a list of {key, operator, values}, got " +
                              Describe(expressions->value));
        bad = true;
      } else {
        const std::vector<YNode>& entries = expressions->value.Items();
        for (std::size_t index = 0; index < entries.size(); ++index) {
          const std::string item_path = epath + "[" + std::to_string(index) + "]";
          auto requirement = CheckRequirement(entries[index], item_path);
          if (!requirement) {
            bad = true;
            continue;
          }
          selector.match_expressions.push_back(std::move(*requirement));
        }
      }
    }
    if (bad) return;
    if (selector.match_labels.empty() && selector.match_expressions.empty()) {
      Report(At(field.value),
             path +
                 ": an empty selector would match every namespace; give matchLabels or "
                 "matchExpressions (every namespace: {key: kubernetes.io/metadata.name, "
                 "operator: Exists})");
      return;
    }
    selector.Normalize();
    spec->secret.k8s_selector = std::move(selector);
  }

  std::optional<LabelRequirement> CheckRequirement(const YNode& entry, const std::string& path) {
    if (!entry.IsMap()) {
      Report(entry.IsNull() ? AtNullEntry(entry) : At(entry),
             path + ": expected a mapping with key, operator and values, got " + Describe(entry));
      return std::nullopt;
    }
    auto fields = Fields(entry, path, kSpecExpressionFields);
    const Field* key = Find(fields, "key");
    const Field* op = Find(fields, "operator");
    const Field* values = Find(fields, "values");
    bool bad = false;
    for (const char* required : {"key", "operator"}) {
      if (Find(fields, required) == nullptr) {
        Report(At(entry), path + ": missing required field \"" + std::string(required) + "\"");
        bad = true;
      }
    }
    LabelRequirement r;
    if (key != nullptr) {
      if (auto k = LabelKey(*key, path + ".key")) {
        r.key = *k;
      } else {
        bad = true;
      }
    }
    if (op != nullptr) {
      if (auto o = Enum(*op, path + ".operator", kSpecSelectorOperators)) {
        ParseLabelOp(*o, &r.op);
      } else {
        return std::nullopt;
      }
    }
    if (bad || op == nullptr) return std::nullopt;
    const bool wants_values =
        r.op == LabelRequirement::Op::kIn || r.op == LabelRequirement::Op::kNotIn;
    if (!wants_values) {
      if (values != nullptr) {
        Report(At(values->key), path + ".values: must be absent with operator " +
                                    LabelOpName(r.op) + " (it tests only whether " + r.key +
                                    " is set)");
        return std::nullopt;
      }
      return r;
    }
    if (values == nullptr) {
      Report(At(entry), path + ": operator " + std::string(LabelOpName(r.op)) +
                            " needs values (a non-empty list)");
      return std::nullopt;
    }
    if (!values->value.IsSequence() || values->value.size() == 0) {
      const YNode& where = values->value.IsNull() ? values->key : values->value;
      Report(At(where), path + ".values: operator " + std::string(LabelOpName(r.op)) +
                            " needs a non-empty list of label values, got " +
                            Describe(values->value));
      return std::nullopt;
    }
    const std::vector<YNode>& items = values->value.Items();
    for (std::size_t index = 0; index < items.size(); ++index) {
      const YNode& item = items[index];
      const std::string item_path = path + ".values[" + std::to_string(index) + "]";
      if (!item.IsScalar()) {
        Report(item.IsNull() ? AtNullEntry(item) : At(item),
               item_path + ": expected a label value, got " + Describe(item));
        bad = true;
        continue;
      }
      if (!IsLabelValue(item.Scalar())) {
        Report(At(item), item_path + ": " + QuoteForMessage(item.Scalar()) +
                             " is not a valid label value (" + kLabelValueRule + ")");
        bad = true;
        continue;
      }
      r.values.push_back(item.Scalar());
    }
    if (bad) return std::nullopt;
    return r;
  }

  static std::string PrintableKey(const std::string& key) { return QuoteForMessage(key); }

  // Why `path` cannot name a file inside --secret-dir, or "" when it can.
  static std::string SecretPathProblem(const std::string& path) {
    if (path.empty()) return "must not be empty";
    if (path.size() > 4096) return "is longer than 4096 bytes";
    if (path[0] == '/') {
      return QuoteForMessage(path) + " is absolute; give a path relative to --secret-dir";
    }
    for (char c : path) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) return QuoteForMessage(path) + " contains a control character";
    }
    std::vector<std::string> segments;
    std::string segment;
    std::istringstream in(path);
    bool normalized = path.back() != '/';
    while (std::getline(in, segment, '/')) {
      if (segment == "..") {
        return QuoteForMessage(path) + " escapes --secret-dir (\"..\" is not allowed)";
      }
      if (segment.size() > 255)
        return QuoteForMessage(path) + " has a path segment longer than 255 bytes";
      if (segment.empty() || segment == ".") {
        normalized = false;
        continue;
      }
      segments.push_back(segment);
    }
    if (segments.empty()) return QuoteForMessage(path) + " does not name a file";
    if (!normalized) {
      std::string suggestion;
      for (const auto& s : segments) suggestion += (suggestion.empty() ? "" : "/") + s;
      return QuoteForMessage(path) + " is not a normalized relative path (write " +
             QuoteForMessage(suggestion) + ")";
    }
    return "";
  }

  const YamlText& yaml_;
  const std::string& file_;
  std::vector<SpecError> errors_;
};

}  // namespace

FileSpecs ParseSpecText(const std::string& text, const std::string& file) {
  const YamlText yaml(text, file);
  return SpecValidator(yaml).Run();
}

}  // namespace crtoken
