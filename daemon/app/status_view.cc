#include "daemon/app/status_view.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>

#include "daemon/app/one_shot.h"
#include "daemon/common/json_text.h"
#include "reconciler/time_util.h"

namespace crtoken {
namespace {

using nlohmann::json;

void AppendField(std::string& out, const char* name, const std::string& value, bool first = false) {
  if (!first) out += ',';
  AppendJsonString(out, name);
  out += ':';
  AppendJsonString(out, value);
}

// null when `value` is empty.
void AppendOptional(std::string& out, const char* name, const std::string& value) {
  out += ',';
  AppendJsonString(out, name);
  out += ':';
  if (value.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, value);
  }
}

std::string Dash(const std::string& s) { return s.empty() ? std::string("-") : Printable(s); }

}  // namespace

int StatusView::Count(const std::string& state) const {
  return static_cast<int>(std::count_if(rows.begin(), rows.end(),
                                        [&](const StatusRow& r) { return r.state == state; }));
}

bool StatusView::AllInSync() const {
  return Count(TokenStateName(TokenState::kInSync)) == static_cast<int>(rows.size()) &&
         deletes == 0 && errors.empty() && ready;
}

std::vector<StatusRow> StatusRows(const std::vector<DeclaredTokenState>& tokens) {
  std::vector<StatusRow> rows;
  for (const auto& t : tokens) {
    rows.push_back(StatusRow{t.registry, t.registry_id, t.token, TokenStateName(t.state),
                             t.expiry ? FormatRfc3339(*t.expiry) : "",
                             t.renewal ? FormatRfc3339(*t.renewal) : "", t.secret.ToString(),
                             t.source.ToString(), t.detail});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const StatusRow& a, const StatusRow& b) {
    return std::tie(a.registry, a.token) < std::tie(b.registry, b.token);
  });
  return rows;
}

std::string StatusJson(const StatusView& view) {
  const std::string error_state = TokenStateName(TokenState::kError);
  const std::string pending_state = TokenStateName(TokenState::kPending);
  std::string out = "{\"tokens\":[";
  for (size_t i = 0; i < view.rows.size(); ++i) {
    const StatusRow& r = view.rows[i];
    if (i > 0) out += ',';
    out += '{';
    AppendField(out, "registry", r.registry, /*first=*/true);
    AppendField(out, "registryId", r.registry_id);
    AppendField(out, "token", r.token);
    AppendField(out, "state", r.state);
    AppendOptional(out, "expiry", r.expiry);
    AppendOptional(out, "renewal", r.renewal);
    AppendField(out, "secret", r.secret);
    AppendField(out, "source", r.source);
    AppendOptional(out, "lastError", r.state == error_state ? r.detail : "");
    AppendOptional(out, "pending", r.state == pending_state ? r.detail : "");
    out += '}';
  }
  out += "],\"inSync\":" + std::to_string(view.Count(TokenStateName(TokenState::kInSync))) +
         ",\"pending\":" + std::to_string(view.Count(pending_state)) +
         ",\"error\":" + std::to_string(view.Count(error_state)) +
         ",\"deletes\":" + std::to_string(view.deletes);
  if (view.from_daemon) {
    out += std::string(",\"ready\":") + (view.ready ? "true" : "false") + ",\"errors\":[";
    for (size_t i = 0; i < view.errors.size(); ++i) {
      if (i > 0) out += ',';
      AppendJsonString(out, view.errors[i]);
    }
    out += ']';
  }
  out += '}';
  return out;
}

Result<StatusView> ParseStatusJson(const std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("tokens") || !doc["tokens"].is_array()) {
    return Error{ErrorKind::kInvalid, "not a status document (want a JSON object with \"tokens\")"};
  }
  auto str = [](const json& o, const char* key) -> std::string {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  StatusView view;
  for (const json& t : doc["tokens"]) {
    if (!t.is_object()) return Error{ErrorKind::kInvalid, "a token of the document is no object"};
    StatusRow r{str(t, "registry"), str(t, "registryId"), str(t, "token"),
                str(t, "state"),    str(t, "expiry"),     str(t, "renewal"),
                str(t, "secret"),   str(t, "source"),     str(t, "lastError")};
    if (r.detail.empty()) r.detail = str(t, "pending");
    if (r.token.empty() || r.state.empty()) {
      return Error{ErrorKind::kInvalid, "a token of the document has no name or state"};
    }
    view.rows.push_back(std::move(r));
  }
  if (doc.contains("deletes") && doc["deletes"].is_number_integer()) {
    view.deletes = doc["deletes"].get<int>();
  }
  if (doc.contains("ready")) {
    view.from_daemon = true;
    view.ready = doc["ready"].is_boolean() && doc["ready"].get<bool>();
  }
  if (doc.contains("errors") && doc["errors"].is_array()) {
    for (const json& e : doc["errors"]) {
      view.errors.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    }
  }
  return view;
}

std::string StatusTable(const StatusView& view) {
  const std::vector<std::string> header = {"REGISTRY", "TOKEN",  "STATE", "EXPIRES",
                                           "RENEWAL",  "SECRET", "DETAIL"};
  std::vector<std::vector<std::string>> rows = {header};
  for (const auto& r : view.rows) {
    rows.push_back({Printable(r.registry), Printable(r.token), Printable(r.state), Dash(r.expiry),
                    Dash(r.renewal), Printable(r.secret), Dash(r.detail)});
  }
  std::vector<size_t> width(header.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i + 1 < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += '\n';
  }
  out += "Status: " + std::to_string(view.rows.size()) +
         " tokens: " + std::to_string(view.Count(TokenStateName(TokenState::kInSync))) +
         " in sync, " + std::to_string(view.Count(TokenStateName(TokenState::kPending))) +
         " pending, " + std::to_string(view.Count(TokenStateName(TokenState::kError))) +
         " in error; " + std::to_string(view.deletes) + " undeclared to delete.\n";
  return out;
}

}  // namespace crtoken
