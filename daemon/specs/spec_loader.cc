#include "daemon/specs/spec_loader.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include "daemon/common/json_text.h"
#include "reconciler/parallel_for.h"

namespace crtoken {

FileSpecs LoadSpecFile(const std::string& path) {
  SpecFileText read = ReadSpecFile(path);
  if (read.problem) return std::move(*read.problem);
  return ParseSpecText(read.text, path);
}

SpecSet LoadSpecs(const std::vector<std::string>& paths) {
  std::vector<FileSpecs> problems;
  std::vector<std::string> empty_roots;
  std::vector<std::string> names = FindSpecFiles(paths, &problems, &empty_roots);
  std::vector<FileSpecs> files;
  files.reserve(names.size() + problems.size());
  // Files parse independently: spread them over the cores (yaml-cpp keeps no shared state).
  files.resize(names.size());
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ParallelFor(names.size(), std::min(cores, 4),
              [&](size_t i) { files[i] = LoadSpecFile(names[i]); });
  for (FileSpecs& p : problems) files.push_back(std::move(p));
  SpecSet set = MergeFiles(std::move(files));
  set.unread = UnreadPaths(set.files, empty_roots);
  return set;
}

SpecSet MergeFiles(std::vector<FileSpecs> files) {
  SpecSet set;
  set.files = std::move(files);
  struct Declaration {
    std::size_t file;
    const TokenSpec* spec;
  };
  std::map<std::pair<std::string, std::string>, std::vector<Declaration>> by_name;
  std::map<std::string, std::vector<Declaration>> by_secret;
  for (std::size_t i = 0; i < set.files.size(); ++i) {
    for (const TokenSpec& spec : set.files[i].specs) {
      const std::string registry = spec.registry.empty()
                                       ? "registryId " + QuoteForMessage(spec.registry_id)
                                       : "registry " + QuoteForMessage(spec.registry);
      by_name[{registry, spec.name}].push_back(Declaration{i, &spec});
      by_secret[spec.secret.ToString()].push_back(Declaration{i, &spec});
    }
  }
  std::vector<std::pair<std::size_t, SpecError>> errors;  // (file index, error)
  std::set<std::size_t> failed;
  // Where `other` is, seen from `self`: "LINE:COL" in the same file, else "FILE:LINE:COL".
  auto where = [](const Declaration& other, const Declaration& self) {
    const SourceLocation& at = other.spec->source;
    return at.file == self.spec->source.file
               ? std::to_string(at.line) + ":" + std::to_string(at.column)
               : PrintableText(at.ToString(), std::string::npos);
  };
  // Where the other declarations are.
  auto others = [&where](const std::vector<Declaration>& all, std::size_t self) {
    std::string out;
    for (std::size_t k = 0; k < all.size(); ++k) {
      if (k != self) out += (out.empty() ? "" : ", ") + where(all[k], all[self]);
    }
    return out;
  };
  for (const auto& [key, declarations] : by_name) {
    if (declarations.size() < 2) continue;
    for (std::size_t k = 0; k < declarations.size(); ++k) {
      const Declaration& d = declarations[k];
      errors.emplace_back(
          d.file,
          SpecError{d.spec->source, "token " + QuoteForMessage(key.second) + " of " + key.first +
                                        " is declared more than once (also at " +
                                        others(declarations, k) + ")"});
      failed.insert(d.file);
    }
  }
  // A spec with overlap is served by its slot tokens "<name>-a" and "<name>-b": no other spec of
  // the registry may declare one of those names, nor have a slot of the same name.
  std::map<std::pair<std::string, std::string>, std::vector<Declaration>> by_slot;
  for (const auto& [key, declarations] : by_name) {
    for (const Declaration& d : declarations) {
      if (!d.spec->overlap) continue;
      for (const std::string& slot : SlotNames(d.spec->name)) {
        by_slot[{key.first, slot}].push_back(d);
      }
    }
  }
  for (const auto& [key, slot_owners] : by_slot) {
    std::vector<Declaration> clashing = slot_owners;
    if (auto named = by_name.find(key); named != by_name.end()) {
      clashing.insert(clashing.end(), named->second.begin(), named->second.end());
    }
    if (clashing.size() < 2) continue;
    for (std::size_t k = 0; k < clashing.size(); ++k) {
      const Declaration& d = clashing[k];
      const bool is_slot = k < slot_owners.size();
      const std::string what =
          is_slot ? "token " + QuoteForMessage(d.spec->name) + " of " + key.first +
                        " has the slot token " + QuoteForMessage(key.second) + " (spec.overlap)"
                  : "token " + QuoteForMessage(key.second) + " of " + key.first;
      errors.emplace_back(
          d.file, SpecError{d.spec->source, what + ", a name also used at " + others(clashing, k) +
                                                " as a token or as a slot of spec.overlap"});
      failed.insert(d.file);
    }
  }
  for (const auto& [secret, declarations] : by_secret) {
    if (declarations.size() < 2) continue;
    for (std::size_t k = 0; k < declarations.size(); ++k) {
      const Declaration& d = declarations[k];
      const SecretRef& ref = d.spec->secret;
      const std::string what =
          ref.kind == SecretRef::Kind::kFile
              ? "secret file " + QuoteForMessage(ref.file)
              : "Kubernetes Secret " + QuoteForMessage(ref.k8s_namespace + "/" + ref.k8s_name);
      errors.emplace_back(
          d.file, SpecError{d.spec->source, "token " + QuoteForMessage(d.spec->name) +
                                                " writes the " + what + ", as does the token at " +
                                                others(declarations, k)});
      failed.insert(d.file);
    }
  }
  // Two Kubernetes refs with one Secret name, at least one of them fanning out, whose target sets
  // may share a namespace: both would write that Secret. Decided without the cluster: namespaces
  // and lists overlap when they share a name; two selectors when they are not provably disjoint
  // (ProvablyDisjoint); a selector and a namespace or a list always may (labels can change).
  std::map<std::string, std::vector<Declaration>> by_k8s_name;
  for (const auto& [secret, declarations] : by_secret) {
    if (declarations.size() > 1) continue;  // reported above
    const SecretRef& ref = declarations[0].spec->secret;
    if (ref.kind == SecretRef::Kind::kKubernetes)
      by_k8s_name[ref.k8s_name].push_back(declarations[0]);
  }
  auto namespaces_of = [](const SecretRef& ref) {
    std::set<std::string> out(ref.k8s_namespaces.begin(), ref.k8s_namespaces.end());
    if (!ref.k8s_namespace.empty()) out.insert(ref.k8s_namespace);
    return out;
  };
  // Why the two may write one Secret, or "" when they cannot.
  auto overlap = [&namespaces_of](const SecretRef& a, const SecretRef& b) -> std::string {
    if (!a.FanOut() && !b.FanOut()) return "";
    if (a.k8s_selector && b.k8s_selector) {
      if (ProvablyDisjoint(*a.k8s_selector, *b.k8s_selector)) return "";
      return "their namespace selectors can match the same namespace";
    }
    if (a.k8s_selector || b.k8s_selector) {
      return "a namespace selector may match a namespace the other names";
    }
    std::set<std::string> na = namespaces_of(a), nb = namespaces_of(b);
    std::vector<std::string> both;
    std::set_intersection(na.begin(), na.end(), nb.begin(), nb.end(), std::back_inserter(both));
    if (both.empty()) return "";
    std::string names;
    for (const std::string& n : both) names += (names.empty() ? "" : ", ") + n;
    return "both name namespace " + names;
  };
  for (const auto& [name, declarations] : by_k8s_name) {
    for (std::size_t x = 0; x < declarations.size(); ++x) {
      for (std::size_t y = x + 1; y < declarations.size(); ++y) {
        const Declaration& a = declarations[x];
        const Declaration& b = declarations[y];
        const std::string why = overlap(a.spec->secret, b.spec->secret);
        if (why.empty()) continue;
        for (auto [self, other] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
          errors.emplace_back(
              self->file,
              SpecError{self->spec->source,
                        "token " + QuoteForMessage(self->spec->name) + " writes " +
                            self->spec->secret.ToString() + ", and the token at " +
                            where(*other, *self) + " writes " + other->spec->secret.ToString() +
                            ": " + why + "; give the Secrets different names, or make the " +
                            "target sets disjoint"});
          failed.insert(self->file);
        }
      }
    }
  }
  // A secret file whose path is a directory of another's ("a" and "a/b.json"): the two can never
  // both be written. Paths are normalized by the parser, so each proper prefix ending before a
  // '/' is a directory of the path.
  std::map<std::string, std::vector<Declaration>> by_file;
  for (const auto& [secret, declarations] : by_secret) {
    for (const Declaration& d : declarations) {
      if (d.spec->secret.kind == SecretRef::Kind::kFile) by_file[d.spec->secret.file].push_back(d);
    }
  }
  for (const auto& [path, inner] : by_file) {
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      auto outer = by_file.find(path.substr(0, slash));
      if (outer == by_file.end()) continue;
      for (const Declaration& file : outer->second) {
        for (const Declaration& dir : inner) {
          errors.emplace_back(
              file.file,
              SpecError{file.spec->source,
                        "token " + QuoteForMessage(file.spec->name) + " writes the secret file " +
                            QuoteForMessage(outer->first) +
                            ", which is a directory of the secret file " + QuoteForMessage(path) +
                            " of the token at " + where(dir, file)});
          errors.emplace_back(
              dir.file,
              SpecError{dir.spec->source,
                        "token " + QuoteForMessage(dir.spec->name) + " writes the secret file " +
                            QuoteForMessage(path) + " inside " + QuoteForMessage(outer->first) +
                            ", which the token at " + where(file, dir) + " writes as a file"});
          failed.insert(file.file);
          failed.insert(dir.file);
        }
      }
    }
  }
  for (std::size_t i = 0; i < set.files.size(); ++i) {
    for (const SpecError& e : set.files[i].errors) errors.emplace_back(i, e);
    if (!set.files[i].errors.empty()) failed.insert(i);
  }
  std::stable_sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.second.where.line, a.second.where.column) <
           std::tie(b.first, b.second.where.line, b.second.where.column);
  });
  for (auto& [file, error] : errors) set.errors.push_back(std::move(error));
  for (std::size_t i = 0; i < set.files.size(); ++i) {
    if (failed.count(i) != 0) {
      set.failed_files.insert(set.files[i].file);
      continue;
    }
    set.specs.insert(set.specs.end(), set.files[i].specs.begin(), set.files[i].specs.end());
  }
  return set;
}

}  // namespace crtoken
