// API credentials: where they come from and the Authorization header they make. No cpprest here.
//
// Sources, first match wins:
//   1. --credentials-file FILE (when given): lines KEY=VALUE with IONOS_TOKEN, or IONOS_USERNAME
//      and IONOS_PASSWORD; blank lines and lines starting with '#' are ignored; an optional
//      `export ` prefix and one pair of matching quotes around a value are accepted.
//   2. IONOS_TOKEN (Bearer).
//   3. IONOS_USERNAME and IONOS_PASSWORD (Basic).
// A token wins over a username and password from the same source. Credentials are never accepted
// as a flag value (options.cc refuses them).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "daemon/common/env.h"
#include "reconciler/error.h"

namespace crtoken {

class Credentials {
 public:
  static Credentials Bearer(std::string token);
  static Credentials Basic(std::string username, std::string password);

  bool is_bearer() const { return bearer_; }
  // "Bearer <token>" or "Basic <base64(user:password)>". Never log this value.
  std::string AuthorizationHeader() const;
  // Safe to log: the kind and where it came from, e.g. "Bearer token from IONOS_TOKEN".
  const std::string& description() const { return description_; }

 private:
  bool bearer_ = true;
  std::string token_;
  std::string username_;
  std::string password_;
  std::string description_;
  // The credential given in `values` by key (`where` says where each came from: "FILE:LINE" or
  // the variable), or the error saying what is missing; `source` names the file or environment.
  static Result<Credentials> Resolve(const std::map<std::string, std::string>& values,
                                     const std::map<std::string, std::string>& where,
                                     const std::string& source);
  friend Result<Credentials> LoadCredentials(const std::string&, const EnvLookup&,
                                             std::vector<std::string>*);
  friend Result<Credentials> ParseCredentialsFile(const std::string&, const std::string&);
};

// Resolves the credentials. `warnings` (may be null) receives things to log at startup, such as a
// credentials file readable by other users. Errors (kInvalid) name the file and line, or the
// variable, and never contain a secret; a missing credential names the three ways to give one.
Result<Credentials> LoadCredentials(const std::string& credentials_file, const EnvLookup& env,
                                    std::vector<std::string>* warnings);

// The credentials a credentials file holds (source 1 above), from its `content`; `file` names it
// in the description and in errors. LoadCredentials reads the file and calls this.
Result<Credentials> ParseCredentialsFile(const std::string& content, const std::string& file);

}  // namespace crtoken
