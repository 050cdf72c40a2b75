#include "reconciler/token_state.h"

namespace crtoken {
namespace {

bool SameSource(const SourceLocation& a, const SourceLocation& b) {
  return a.file == b.file && a.line == b.line && a.column == b.column;
}

// A spec with overlap: every live slot token's expiry (as listed, or as issued in this pass; a
// token this pass deleted without failure is gone), the newest one as the spec's expiry.
void SlotExpiries(const PassFacts& facts, const TokenSpec& spec, const ObservedRegistry* observed,
                  DeclaredTokenState& s) {
  std::vector<std::string> names = SlotNames(spec.name);
  names.push_back(spec.name);
  for (const std::string& name : names) {
    const TokenKey key{spec.registry_id, name};
    std::optional<Instant> expiry;
    bool live = false;
    if (auto issued = facts.issued_expiry.find(key); issued != facts.issued_expiry.end()) {
      expiry = issued->second;
      live = true;
    } else if (observed != nullptr) {
      for (const ObservedToken& t : observed->tokens) {
        if (t.name == name) {
          expiry = t.expiry;
          live = true;
        }
      }
      if (live && facts.acted && facts.plan != nullptr && facts.failures.count(key) == 0) {
        for (const Action& a : facts.plan->actions) {
          if (a.type == ActionType::kDelete && a.key == key && !a.token_id.empty()) live = false;
        }
      }
    }
    if (!live || !expiry) continue;
    s.slot_expiry[name] = *expiry;
    if (!s.expiry || *expiry > *s.expiry) s.expiry = expiry;
  }
  if (s.expiry) s.renewal = *s.expiry - spec.renew_before;
}

}  // namespace

const char* TokenStateName(TokenState state) {
  switch (state) {
    case TokenState::kInSync:
      return "in_sync";
    case TokenState::kPending:
      return "pending";
    case TokenState::kError:
      return "error";
  }
  return "error";
}

std::vector<DeclaredTokenState> DeclaredTokenStates(const PassFacts& facts) {
  std::vector<DeclaredTokenState> out;
  out.reserve(facts.specs.size());
  for (const TokenSpec& spec : facts.specs) {
    const TokenKey key{spec.registry_id, spec.name};
    DeclaredTokenState s;
    s.registry_id = spec.registry_id;
    s.token = spec.name;
    s.secret = spec.secret;
    s.source = spec.source;
    auto name = facts.registry_names.find(spec.registry_id);
    if (!spec.registry_id.empty() && name != facts.registry_names.end() && !name->second.empty()) {
      s.registry = name->second;
    } else {
      s.registry = spec.registry.empty() ? spec.registry_id : spec.registry;
    }

    const ObservedRegistry* observed = nullptr;
    if (facts.observed != nullptr && !spec.registry_id.empty()) {
      auto it = facts.observed->find(spec.registry_id);
      if (it != facts.observed->end()) observed = &it->second;
    }
    s.registry_read = observed != nullptr;
    if (spec.overlap) {
      SlotExpiries(facts, spec, observed, s);
    } else if (!spec.lifetime) {
      s.expiry = spec.expiry;
    } else {
      if (auto issued = facts.issued_expiry.find(key); issued != facts.issued_expiry.end()) {
        s.expiry = issued->second;
      } else if (observed != nullptr) {
        for (const ObservedToken& t : observed->tokens) {
          if (t.name == spec.name) s.expiry = t.expiry;
        }
      }
      if (s.expiry) s.renewal = *s.expiry - spec.renew_before;
    }

    const Problem* problem = nullptr;
    const Action* action = nullptr;
    if (facts.plan != nullptr) {
      for (const Problem& p : facts.plan->problems) {
        if (p.key == key && SameSource(p.where, spec.source)) {
          problem = &p;
          break;
        }
      }
      for (const Action& a : facts.plan->actions) {
        const bool retirement = spec.overlap && a.type == ActionType::kDelete &&
                                a.key.registry_id == key.registry_id &&
                                (a.key == key || a.key.name == SlotNames(spec.name)[0] ||
                                 a.key.name == SlotNames(spec.name)[1]);
        if ((a.key == key && a.type != ActionType::kDelete) || retirement) {
          action = &a;
          break;
        }
      }
    }
    if (problem != nullptr) {
      s.state = TokenState::kError;
      s.detail = problem->message;
    } else if (auto failed = facts.failures.find(key); failed != facts.failures.end()) {
      s.state = TokenState::kError;
      s.detail = failed->second;
    } else if (facts.held.count(key)) {
      s.state = TokenState::kPending;
      s.detail =
          "the password is held in memory, waiting for the registry hostname or a working "
          "sink to write " +
          spec.secret.ToString();
    } else if (action != nullptr && !facts.acted) {
      s.state = TokenState::kPending;
      s.detail = action->Describe();
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace crtoken
