// Loading the Kubernetes client configuration: yaml-cpp for kubeconfig files, OpenSSL to check
// PEM material. No cpprest here.
#include "daemon/kube/kubernetes_config.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/common/base64.h"

namespace crtoken {
namespace {

Error Invalid(std::string message) { return Error{ErrorKind::kInvalid, std::move(message)}; }

Result<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Invalid(what + " " + path + ": cannot be read");
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return Invalid(what + " " + path + ": read error");
  return out.str();
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, s.find_first_not_of(ws));
  return s;
}

// PEM material is checked when the config is loaded, so a broken file is a startup error
// instead of an opaque TLS failure on the first write.
int CountCertificates(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return 0;
  int n = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_free(cert);
    ++n;
  }
  BIO_free(bio);
  return n;
}

bool IsPrivateKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return false;
  EVP_PKEY_free(key);
  return true;
}

std::string BracketHost(const std::string& host) {
  return host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
}

}  // namespace

Result<KubernetesConfig> LoadInClusterConfig(const std::string& dir, const EnvLookup& env) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return Invalid(
        "in-cluster Kubernetes config: KUBERNETES_SERVICE_HOST and "
        "KUBERNETES_SERVICE_PORT must both be set");
  }
  KubernetesConfig config;
  config.server = "https://" + BracketHost(*host) + ":" + *port;
  config.token_file = (std::filesystem::path(dir) / "token").string();
  auto token =
      ReadTokenFile(config.token_file, "in-cluster Kubernetes config: service-account token");
  if (!token.ok()) return token.error();
  if (token.value().empty()) {
    return Invalid("in-cluster Kubernetes config: service-account token " + config.token_file +
                   " is empty");
  }
  const std::string ca_file = (std::filesystem::path(dir) / "ca.crt").string();
  auto ca = ReadFile(ca_file, "in-cluster Kubernetes config: CA");
  if (!ca.ok()) return ca.error();
  if (CountCertificates(ca.value()) == 0) {
    return Invalid("in-cluster Kubernetes config: CA " + ca_file + " holds no PEM certificate");
  }
  config.ca_pem = ca.value();
  auto ns = ReadFile((std::filesystem::path(dir) / "namespace").string(), "namespace");
  if (ns.ok()) config.default_namespace = Trim(ns.value());
  config.source = "in-cluster service account (" + dir + ")";
  return config;
}

namespace {

// Finds the entry `name` in a kubeconfig list of {name, <field>: {...}}.
Result<YAML::Node> NamedEntry(const YAML::Node& root, const char* list, const char* field,
                              const std::string& name, const std::string& where) {
  const YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const auto& entry : entries) {
      if (entry.IsMap() && entry["name"] && entry["name"].as<std::string>("") == name) {
        YAML::Node inner = entry[field];
        if (!inner || !inner.IsMap()) {
          return Invalid(where + ": " + list + " entry \"" + name + "\" has no " + field);
        }
        return inner;
      }
    }
  }
  return Invalid(where + ": no " + std::string(field) + " named \"" + name + "\" in " + list);
}

std::string ScalarOr(const YAML::Node& node, const char* key) {
  const YAML::Node v = node[key];
  return v && v.IsScalar() ? v.as<std::string>() : "";
}

// Either the *-data field (base64) or the file field (relative to the kubeconfig's directory).
Result<std::string> PemField(const YAML::Node& node, const char* file_key, const char* data_key,
                             const std::filesystem::path& base, const std::string& where) {
  const std::string data = ScalarOr(node, data_key);
  if (!data.empty()) {
    auto decoded = Base64Decode(data);
    if (!decoded) return Invalid(where + ": " + data_key + " is not valid base64");
    return *decoded;
  }
  std::string file = ScalarOr(node, file_key);
  if (file.empty()) return std::string();
  if (std::filesystem::path(file).is_relative()) file = (base / file).string();
  return ReadFile(file, where + ": " + file_key);
}

}  // namespace

Result<KubernetesConfig> LoadKubeconfig(const std::string& path) {
  const std::string where = "kubeconfig " + path;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Invalid(where + ": cannot be read");
  } catch (const YAML::Exception& e) {
    return Invalid(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  try {
    if (!root.IsMap()) return Invalid(where + ": not a kubeconfig (expected a mapping)");
    const std::string context_name = ScalarOr(root, "current-context");
    if (context_name.empty()) return Invalid(where + ": current-context is not set");
    auto context = NamedEntry(root, "contexts", "context", context_name, where);
    if (!context.ok()) return context.error();
    const std::string cluster_name = ScalarOr(context.value(), "cluster");
    const std::string user_name = ScalarOr(context.value(), "user");
    auto cluster = NamedEntry(root, "clusters", "cluster", cluster_name, where);
    if (!cluster.ok()) return cluster.error();
    const auto base = std::filesystem::path(path).parent_path();

    KubernetesConfig config;
    config.source = where + " (context " + context_name + ")";
    config.default_namespace = ScalarOr(context.value(), "namespace");
    config.server = ScalarOr(cluster.value(), "server");
    if (config.server.empty())
      return Invalid(where + ": cluster \"" + cluster_name + "\" has no server");
    const YAML::Node insecure = cluster.value()["insecure-skip-tls-verify"];
    config.insecure_skip_tls_verify = insecure && insecure.as<bool>(false);
    auto ca = PemField(cluster.value(), "certificate-authority", "certificate-authority-data", base,
                       where);
    if (!ca.ok()) return ca.error();
    config.ca_pem = ca.value();
    if (!config.ca_pem.empty() && CountCertificates(config.ca_pem) == 0) {
      return Invalid(where + ": the certificate authority of cluster \"" + cluster_name +
                     "\" holds no PEM certificate");
    }

    if (!user_name.empty()) {
      auto user = NamedEntry(root, "users", "user", user_name, where);
      if (!user.ok()) return user.error();
      if (user.value()["exec"] || user.value()["auth-provider"]) {
        return Invalid(where + ": user \"" + user_name +
                       "\" uses an exec or auth-provider plugin, which crtoken does not run; "
                       "use a token, tokenFile or client certificate");
      }
      config.token = ScalarOr(user.value(), "token");
      std::string token_file = ScalarOr(user.value(), "tokenFile");
      if (!token_file.empty()) {
        if (std::filesystem::path(token_file).is_relative()) {
          token_file = (base / token_file).string();
        }
        config.token_file = token_file;
        auto t = ReadTokenFile(token_file, where + ": tokenFile");
        if (!t.ok()) return t.error();
      }
      auto cert =
          PemField(user.value(), "client-certificate", "client-certificate-data", base, where);
      if (!cert.ok()) return cert.error();
      auto key = PemField(user.value(), "client-key", "client-key-data", base, where);
      if (!key.ok()) return key.error();
      config.client_cert_pem = cert.value();
      config.client_key_pem = key.value();
      if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
        return Invalid(where + ": user \"" + user_name +
                       "\" needs both a client certificate and a client key");
      }
      if (!config.client_cert_pem.empty() && CountCertificates(config.client_cert_pem) == 0) {
        return Invalid(where + ": user \"" + user_name +
                       "\": the client certificate is not a PEM certificate");
      }
      if (!config.client_key_pem.empty() && !IsPrivateKey(config.client_key_pem)) {
        return Invalid(where + ": user \"" + user_name +
                       "\": the client key is not a PEM private key");
      }
    }
    return config;
  } catch (const YAML::Exception& e) {
    return Invalid(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

Result<KubernetesConfig> LoadKubernetesConfig(const std::string& kubeconfig,
                                              const std::string& service_account_dir,
                                              const EnvLookup& env, const std::string& purpose) {
  if (!kubeconfig.empty()) {
    std::string chosen;
    std::stringstream list(kubeconfig);
    for (std::string item; std::getline(list, item, ':');) {
      std::error_code ec;
      if (!item.empty() && std::filesystem::exists(item, ec)) {
        chosen = item;
        break;
      }
    }
    if (chosen.empty()) {
      return Invalid(purpose + ": kubeconfig \"" + kubeconfig + "\" does not exist");
    }
    return LoadKubeconfig(chosen);
  }
  if (env("KUBERNETES_SERVICE_HOST")) return LoadInClusterConfig(service_account_dir, env);
  return Invalid(purpose +
                 ": no Kubernetes cluster to connect to: not running in a cluster "
                 "(KUBERNETES_SERVICE_HOST is unset; service-account token expected at " +
                 service_account_dir +
                 "/token) and no kubeconfig given (--kubeconfig or "
                 "$KUBECONFIG)");
}

Result<std::string> ReadTokenFile(const std::string& path, const std::string& what) {
  auto content = ReadFile(path, what);
  if (!content.ok()) return content.error();
  return Trim(std::move(content.value()));
}

}  // namespace crtoken
