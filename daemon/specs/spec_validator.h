// The spec language: RegistryToken documents, read from the YAML layer (spec_yaml), checked
// strictly and turned into TokenSpecs. Every problem becomes a SpecError "FILE:LINE:COL: message"
// pointing at the offending node, and all of them are reported. The field vocabulary and its rules
// live here and nowhere else.
//
// Thread-safety: pure; may be called from several threads at once.
#pragma once

#include <array>
#include <string>

#include "daemon/specs/spec_result.h"

namespace crtoken {

// The vocabulary of the spec language. manifests/crtoken-spec.schema.json repeats these; a test
// keeps the two in step.
inline constexpr char kSpecApiGroup[] = "crtoken.io";
inline constexpr char kSpecApiVersion[] = "crtoken.io/v1alpha1";
inline constexpr char kSpecKind[] = "RegistryToken";
// The API's token name pattern (2 to 63 characters).
inline constexpr char kTokenNamePattern[] = "^[A-Za-z][-A-Za-z0-9]{0,61}[A-Za-z0-9]$";
// The API's registry name pattern (3 to 63 characters, lower case).
inline constexpr char kRegistryNamePattern[] = "^[a-z][-a-z0-9]{1,61}[a-z0-9]$";
inline constexpr char kUuidPattern[] = "^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$";
// Kubernetes names: a namespace is a DNS-1123 label (at most 63 characters), a Secret name a
// DNS-1123 subdomain (at most 253 characters).
inline constexpr char kDns1123LabelPattern[] = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
inline constexpr char kDns1123SubdomainPattern[] =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
inline constexpr std::array<const char*, 2> kSpecStatusValues = {"enabled", "disabled"};
inline constexpr std::array<const char*, 2> kSpecScopeTypes = {"repository", "registry"};
inline constexpr std::array<const char*, 3> kSpecScopeActions = {"pull", "push", "delete"};
// The fields allowed at each level (anything else is an error).
inline constexpr std::array<const char*, 4> kSpecDocumentFields = {"apiVersion", "kind", "metadata",
                                                                   "spec"};
inline constexpr std::array<const char*, 1> kSpecMetadataFields = {"name"};
inline constexpr std::array<const char*, 10> kSpecSpecFields = {
    "registry",    "registryId", "status", "expiryDate", "lifetime",
    "renewBefore", "overlap",    "scopes", "secret",     "adopt"};
inline constexpr std::array<const char*, 3> kSpecScopeFields = {"name", "type", "actions"};
inline constexpr std::array<const char*, 2> kSpecSecretFields = {"file", "kubernetes"};
inline constexpr std::array<const char*, 5> kSpecKubernetesFields = {
    "namespace", "namespaces", "namespaceSelector", "name", "serviceAccounts"};
inline constexpr std::array<const char*, 2> kSpecSelectorFields = {"matchLabels",
                                                                   "matchExpressions"};
inline constexpr std::array<const char*, 3> kSpecExpressionFields = {"key", "operator", "values"};
inline constexpr std::array<const char*, 4> kSpecSelectorOperators = {"In", "NotIn", "Exists",
                                                                      "DoesNotExist"};

// Parses the text of one spec file named `file` (used only in messages and for kustomize's own
// file names). Pure: for tests and fuzzing. Rules:
//  - the text must be UTF-8 without NUL bytes (a leading byte-order mark is allowed);
//  - documents of other API groups (apiVersion not crtoken.io or *.crtoken.io) and empty
//    documents are skipped; a document without apiVersion is an error, except in kustomize's
//    own files (kustomization.yaml, kustomization.yml, Kustomization), where it is skipped;
//  - an unknown version or kind under crtoken.io is an error; RegistryToken documents are
//    validated strictly (unknown and duplicate fields, types, enums, names, paths, dates).
FileSpecs ParseSpecText(const std::string& text, const std::string& file);

}  // namespace crtoken
