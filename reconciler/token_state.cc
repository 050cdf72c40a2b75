#include "reconciler/token_state.h"

namespace crtoken {
namespace {

bool SameSource(const SourceLocation& a, const SourceLocation& b) {
  return a.file == b.file && a.line == b.line && a.column == b.column;
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
    if (!spec.lifetime) {
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
        if (a.key == key && a.type != ActionType::kDelete) {
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
