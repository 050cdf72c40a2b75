#include "daemon/registry/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <map>
#include <sstream>

#include "daemon/common/base64.h"
#include "daemon/common/file_ops.h"

namespace crtoken {
namespace {

constexpr char kMissing[] =
    "no API credentials: set IONOS_TOKEN (Bearer token), or IONOS_USERNAME and IONOS_PASSWORD "
    "(Basic), or pass --credentials-file FILE with IONOS_TOKEN=... or IONOS_USERNAME=... and "
    "IONOS_PASSWORD=... lines";

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

// A credential goes into an HTTP header: control characters would corrupt (or inject into) it.
bool HasControl(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

Error Invalid(std::string message) { return Error{ErrorKind::kInvalid, std::move(message)}; }

// Whether an unknown key may be shown in an error: only when it looks like a variable name (upper
// case letters, digits and '_', at most 32 characters). Anything else may be a raw token (base64
// ends in '=') or a password behind a mistyped separator, and is never echoed.
bool ShowableKey(const std::string& key) {
  if (key.empty() || key.size() > 32 || !(key[0] >= 'A' && key[0] <= 'Z')) return false;
  for (char c : key) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// A credentials file holds a few short lines.
constexpr size_t kMaxCredentialsFileBytes = 64 * 1024;

}  // namespace

Credentials Credentials::Bearer(std::string token) {
  Credentials c;
  c.bearer_ = true;
  c.token_ = std::move(token);
  c.description_ = "Bearer token";
  return c;
}

Credentials Credentials::Basic(std::string username, std::string password) {
  Credentials c;
  c.bearer_ = false;
  c.username_ = std::move(username);
  c.password_ = std::move(password);
  c.description_ = "Basic auth as " + c.username_;
  return c;
}

std::string Credentials::AuthorizationHeader() const {
  if (bearer_) return "Bearer " + token_;
  return "Basic " + Base64Encode(username_ + ":" + password_);
}

using Values = std::map<std::string, std::string>;

Result<Credentials> Credentials::Resolve(const Values& values, const Values& where,
                                         const std::string& source) {
  if (auto token = values.find("IONOS_TOKEN"); token != values.end()) {
    Credentials c = Credentials::Bearer(token->second);
    c.description_ = "Bearer token from " + where.at("IONOS_TOKEN");
    return c;
  }
  const auto user = values.find("IONOS_USERNAME");
  const auto password = values.find("IONOS_PASSWORD");
  const bool has_user = user != values.end();
  const bool has_password = password != values.end();
  if (has_user && has_password) {
    Credentials c = Credentials::Basic(user->second, password->second);
    c.description_ = "Basic auth from " + source;
    return c;
  }
  if (has_user != has_password) {
    return Invalid(std::string(has_user ? "IONOS_USERNAME" : "IONOS_PASSWORD") + " (from " +
                   source + ") is set but " + (has_user ? "IONOS_PASSWORD" : "IONOS_USERNAME") +
                   " is not: Basic auth needs both");
  }
  return Invalid(kMissing);
}

Result<Credentials> ParseCredentialsFile(const std::string& content, const std::string& file) {
  Values values;
  Values where;  // key -> "FILE:LINE"
  std::istringstream in(content);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string at = file + ":" + std::to_string(line_no);
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.rfind("export ", 0) == 0) t = Trim(t.substr(7));
    const size_t eq = t.find('=');
    if (eq == std::string::npos) {
      return Invalid(at + ": want KEY=VALUE (IONOS_TOKEN, IONOS_USERNAME or IONOS_PASSWORD)");
    }
    const std::string key = Trim(t.substr(0, eq));
    std::string value = Trim(t.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    if (key != "IONOS_TOKEN" && key != "IONOS_USERNAME" && key != "IONOS_PASSWORD") {
      return Invalid(at + ": unknown key" + (ShowableKey(key) ? " '" + key + "'" : "") +
                     " (want IONOS_TOKEN, IONOS_USERNAME or IONOS_PASSWORD; the line is not "
                     "shown, it may hold a secret)");
    }
    if (values.count(key) != 0) return Invalid(at + ": " + key + " given twice");
    if (value.empty()) return Invalid(at + ": " + key + " is empty");
    if (HasControl(value)) return Invalid(at + ": " + key + " contains a control character");
    values[key] = value;
    where[key] = at;
  }
  if (values.empty()) {
    return Invalid(file +
                   ": no credentials in file (want IONOS_TOKEN=... or IONOS_USERNAME=... and "
                   "IONOS_PASSWORD=...)");
  }
  return Credentials::Resolve(values, where, file);
}

Result<Credentials> LoadCredentials(const std::string& credentials_file, const EnvLookup& env,
                                    std::vector<std::string>* warnings) {
  if (!credentials_file.empty()) {
    // Following symlinks (a Kubernetes Secret volume mounts its files through them), but never
    // blocking on a FIFO nor reading a huge file.
    struct stat st {};
    auto content = ReadFileAt(FileOps::Real(), AT_FDCWD, credentials_file, credentials_file,
                              kMaxCredentialsFileBytes, Follow::kSymlinks, &st);
    if (!content.ok()) {
      return Invalid("cannot read the credentials file: " + content.error().message);
    }
    if (warnings != nullptr && (st.st_mode & S_IROTH) != 0) {
      warnings->push_back(credentials_file +
                          ": credentials file is readable by every user; chmod 600 it");
    }
    return ParseCredentialsFile(content.value(), credentials_file);
  }
  Values values;
  Values where;  // key -> the variable name
  for (const char* key : {"IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD"}) {
    auto v = env ? env(key) : std::nullopt;
    if (v && !v->empty()) {
      if (HasControl(*v)) return Invalid(std::string(key) + " contains a control character");
      values[key] = *v;
      where[key] = key;
    }
  }
  return Credentials::Resolve(values, where, "the environment");
}

}  // namespace crtoken
