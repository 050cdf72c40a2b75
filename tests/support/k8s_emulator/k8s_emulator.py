#!/usr/bin/env python3
"""A small Kubernetes API server emulator: core/v1 Secrets and Namespaces, and
coordination.k8s.io/v1 Leases, over HTTPS.

Test fixture for crtoken's KubernetesSecretSink, and checked against the real kubectl
(kubectl_fidelity_test.py). Python 3 standard library only, plus the openssl CLI to make a
test CA on first start.

  k8s_emulator.py --port 6443 --tls-dir DIR --token T [--readonly-token R]
                  [--namespaced-token N] [--namespace NS] [--kubeconfig-out FILE]

What it serves (all but /_emulator/ need a bearer token or a client certificate signed by
the test CA, else 401; a --readonly-token gets 403 on writes, a --namespaced-token 403 on a list
of Secrets at the cluster scope, as a service account bound only by RoleBindings does):
  GET  /version /api /api/v1 /apis /apis/coordination.k8s.io[/v1] /openapi/v2 /openapi/v3
       (404: use --validate=false)
  core/v1 namespaces: list, get, create, delete
  core/v1 secrets: list, in a namespace or across all (labelSelector, fieldSelector=metadata.name,
      limit + continue: pages in (namespace, name) order, metadata.continue and
      remainingItemCount while more remain; a continue token reads the store as it is then,
      not a snapshot), get, create (POST),
      replace (PUT, resourceVersion precondition -> 409), patch (strategic-merge, merge,
      json-patch, apply-patch), delete (DeleteOptions preconditions), Table output for kubectl
  coordination.k8s.io/v1 leases: list (in a namespace or across all), get, create (POST; 409
      AlreadyExists), replace (PUT; a resourceVersion that is not the stored one -> 409 Conflict,
      the one leader election relies on), patch (as Secrets), delete; spec fields validated as the
      API server does (holderIdentity, leaseDurationSeconds > 0, leaseTransitions >= 0, acquireTime
      and renewTime as RFC 3339 MicroTime); Table output (Name, Holder, Age) for kubectl
  Writes of every kind are serialised under one lock, so concurrent writers of one object meet
  409s exactly as on a real server.
  Errors are Kubernetes Status bodies. resourceVersion is one global counter bumped on every
  write that changes an object (a no-op update keeps it, as the real API server does).
  stringData is folded into base64 data.

Admin endpoints (no auth), for tests:
  GET    /_emulator/requests        the request log [{method, path, query, status, user}]
  DELETE /_emulator/requests        clears it
  POST   /_emulator/faults          {"status": 409|500|503|429|403|410, "count": N,
                                     "methods": ["POST","PUT","PATCH","DELETE"], "path": "substr",
                                     "query": "substr",
                                     "reset": false, "touch": false, "delay": seconds}
                                    next N matching requests fail; with "touch" they are served
                                    after another writer changed the object (a genuine 409 for
                                    a stale resourceVersion); "delay" answers late
  DELETE /_emulator/faults          clears the rules
  POST   /_emulator/tokens          {"tokens": [...], "readonly_tokens": [...],
                                     "namespaced_tokens": [...]} replaces them
  GET    /_emulator/state           every stored object (namespaces, secrets, leases)
"""

import argparse
import base64
import binascii
import copy
import datetime
import http.server
import json
import os
import re
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

K8S_VERSION = {"major": "1", "minor": "30", "gitVersion": "v1.30.0",
               "gitCommit": "0000000000000000000000000000000000000000",
               "gitTreeState": "clean", "buildDate": "2024-04-17T00:00:00Z",
               "goVersion": "go1.22.2", "compiler": "gc", "platform": "linux/amd64"}

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
LEASE_API_VERSION = "coordination.k8s.io/v1"
# metav1.MicroTime as the API server parses it: RFC 3339, with any fraction of a second.
MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.body = status_body(code, reason, message, details)


def not_found(kind, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (kind, name),
                    {"name": name, "kind": kind})


def conflict(kind, name, why="the object has been modified; please apply your changes to the "
                             "latest version and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (kind, name, why), {"name": name, "kind": kind})


def invalid(kind, name, causes, group=""):
    """causes: [(field, reason, message)]"""
    text = ", ".join("%s: %s" % (f, m) for f, _, m in causes)
    qualified = "%s.%s" % (kind, group) if group else kind
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (qualified, name, text),
                    {"name": name, "group": group, "kind": kind,
                     "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes]})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


# --- patches ------------------------------------------------------------------------------

def merge_patch(target, patch, strategic=False):
    """RFC 7386; with strategic=True also the directives kubectl sends for maps."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if strategic and patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if strategic and patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if strategic and (key.startswith(("$setElementOrder/", "$deleteFromPrimitiveList/"))
                          or key in ("$retainKeys", "$patch")):
            continue
        if value is None:
            result.pop(key, None)
        else:
            merged = merge_patch(result.get(key), value, strategic)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902: add, remove, replace, test, copy, move."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(doc)

    def parent(parts):
        node = doc
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        return node

    def get(parts):
        node = doc
        for p in parts:
            node = node[int(p)] if isinstance(node, list) else node[p]
        return node

    def remove(parts):
        par = parent(parts)
        key = parts[-1]
        if isinstance(par, list):
            return par.pop(int(key))
        return par.pop(key)

    def add(parts, value):
        par = parent(parts)
        key = parts[-1]
        if isinstance(par, list):
            par.insert(len(par) if key == "-" else int(key), value)
        else:
            par[key] = value

    try:
        for op in ops:
            kind = op.get("op")
            parts = _pointer(op.get("path", ""))
            if kind == "add":
                add(parts, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(parts)
            elif kind == "replace":
                get(parts)
                remove(parts)
                add(parts, copy.deepcopy(op["value"]))
            elif kind == "test":
                if get(parts) != op.get("value"):
                    raise ApiError(422, "Invalid", "the server rejected our request due to an "
                                   "error in our request: test operation failed")
            elif kind in ("copy", "move"):
                src = _pointer(op["from"])
                value = copy.deepcopy(get(src))
                if kind == "move":
                    remove(src)
                add(parts, value)
            else:
                raise bad_request("unknown json patch op %r" % kind)
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our "
                       "request: json patch failed: %s" % e)
    return doc


# --- the store ----------------------------------------------------------------------------

class Store:
    def __init__(self, namespaces):
        self.lock = threading.Lock()
        self.rv = 1
        self.namespaces = {}
        self.secrets = {}  # (ns, name) -> object
        self.leases = {}  # (ns, name) -> object
        for ns in namespaces:
            self._add_namespace(ns)

    def _bump(self):
        self.rv += 1
        return str(self.rv)

    def _add_namespace(self, name):
        self.namespaces[name] = {
            "metadata": {"name": name, "uid": str(uuid.uuid4()), "resourceVersion": self._bump(),
                         "creationTimestamp": now_rfc3339(),
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    # Namespaces.
    def get_namespace(self, name):
        ns = self.namespaces.get(name)
        if ns is None:
            raise not_found("namespaces", name)
        return dict(kind="Namespace", apiVersion="v1", **copy.deepcopy(ns))

    def list_namespaces(self):
        return {"kind": "NamespaceList", "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self.rv)},
                "items": [copy.deepcopy(self.namespaces[n]) for n in sorted(self.namespaces)]}

    def create_namespace(self, body):
        name = (body.get("metadata") or {}).get("name", "")
        if not DNS1123_LABEL.match(name or "") or len(name) > 63:
            raise invalid("Namespace", name, [("metadata.name", "FieldValueInvalid",
                                               "Invalid value: %r: must be a DNS label" % name)])
        if name in self.namespaces:
            raise ApiError(409, "AlreadyExists", 'namespaces "%s" already exists' % name,
                           {"name": name, "kind": "namespaces"})
        self._add_namespace(name)
        return self.get_namespace(name)

    def delete_namespace(self, name):
        if name not in self.namespaces:
            raise not_found("namespaces", name)
        del self.namespaces[name]
        for key in [k for k in self.secrets if k[0] == name]:
            del self.secrets[key]
        for key in [k for k in self.leases if k[0] == name]:
            del self.leases[key]
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "kind": "namespaces"}}

    # Secrets.
    def _normalize_secret(self, ns, name, obj):
        """Checks and canonicalizes a Secret as the API server's validation would."""
        if not isinstance(obj, dict):
            raise bad_request("the body of the request was not a JSON object")
        if obj.get("kind") not in (None, "Secret"):
            raise bad_request('the API version in the data (%s) does not match the expected API '
                              'version (v1)' % obj.get("kind"))
        if obj.get("apiVersion") not in (None, "v1"):
            raise bad_request("the API version in the data (%s) does not match the expected API "
                              "version (v1)" % obj.get("apiVersion"))
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        causes = []
        if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            causes.append(("metadata.name", "FieldValueInvalid",
                           "Invalid value: %r: a lowercase RFC 1123 subdomain must consist of "
                           "lower case alphanumeric characters, '-' or '.'" % name))
        data = obj.get("data") or {}
        if not isinstance(data, dict):
            raise bad_request("data must be an object")
        decoded = {}
        for key, value in data.items():
            if not isinstance(value, str):
                raise bad_request("data[%s]: must be a base64 string" % key)
            try:
                decoded[key] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise bad_request("Secret in version \"v1\" cannot be handled as a Secret: "
                                  "illegal base64 data in data[%s]" % key)
        string_data = obj.pop("stringData", None) or {}
        if not isinstance(string_data, dict):
            raise bad_request("stringData must be an object")
        for key, value in string_data.items():
            if not isinstance(value, str):
                raise bad_request("stringData[%s]: must be a string" % key)
            decoded[key] = value.encode("utf-8")
        for key in decoded:
            if not DATA_KEY.match(key):
                causes.append(("data[%s]" % key, "FieldValueInvalid",
                               "Invalid value: %r: a valid config key must consist of "
                               "alphanumeric characters, '-', '_' or '.'" % key))
        secret_type = obj.get("type") or "Opaque"
        if secret_type == "kubernetes.io/dockerconfigjson":
            if ".dockerconfigjson" not in decoded:
                causes.append(("data[.dockerconfigjson]", "FieldValueRequired", "Required value"))
            else:
                try:
                    json.loads(decoded[".dockerconfigjson"].decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as e:
                    causes.append(("data[.dockerconfigjson]", "FieldValueInvalid",
                                   "Invalid value: \"<secret contents redacted>\": %s" % e))
        for field in ("labels", "annotations"):
            value = meta.get(field)
            if value is not None and (not isinstance(value, dict) or
                                      not all(isinstance(v, str) for v in value.values())):
                causes.append(("metadata.%s" % field, "FieldValueInvalid",
                               "Invalid value: must be a map of strings"))
        if causes:
            raise invalid("Secret", name, causes)
        obj["kind"] = "Secret"
        obj["apiVersion"] = "v1"
        obj["type"] = secret_type
        if decoded:
            obj["data"] = {k: base64.b64encode(v).decode("ascii")
                           for k, v in sorted(decoded.items())}
        else:
            obj.pop("data", None)
        meta["name"] = name
        meta["namespace"] = ns
        for field in ("labels", "annotations"):
            if meta.get(field) == {}:
                del meta[field]
        return obj

    def _check_namespace(self, ns):
        if ns not in self.namespaces:
            raise not_found("namespaces", ns)

    def list_secrets(self, ns, label_selector, field_selector, limit=None, continue_token=None):
        items = []
        start = decode_continue(continue_token) if continue_token else None
        keys = [k for k in sorted(self.secrets) if start is None or k > start]
        for (sns, name) in keys:
            if ns is not None and sns != ns:
                continue
            obj = self.secrets[(sns, name)]
            if not matches_labels(obj["metadata"].get("labels") or {}, label_selector):
                continue
            if not matches_fields(obj, field_selector):
                continue
            item = copy.deepcopy(obj)
            item.pop("kind", None)
            item.pop("apiVersion", None)
            items.append(item)
        meta = {"resourceVersion": str(self.rv)}
        page_size = parse_limit(limit)
        if page_size and len(items) > page_size:
            last = items[page_size - 1]["metadata"]
            meta["continue"] = encode_continue(self.rv, (last["namespace"], last["name"]))
            meta["remainingItemCount"] = len(items) - page_size
            items = items[:page_size]
        return {"kind": "SecretList", "apiVersion": "v1", "metadata": meta, "items": items}

    def get_secret(self, ns, name):
        obj = self.secrets.get((ns, name))
        if obj is None:
            raise not_found("secrets", name)
        return copy.deepcopy(obj)

    def create_secret(self, ns, body, dry_run):
        meta = body.get("metadata") if isinstance(body, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
        if not name:
            raise invalid("Secret", "", [("metadata.name", "FieldValueRequired",
                                          "Required value: name or generateName is required")])
        self._check_namespace(ns)
        obj = self._normalize_secret(ns, name, copy.deepcopy(body))
        if (ns, name) in self.secrets:
            raise ApiError(409, "AlreadyExists", 'secrets "%s" already exists' % name,
                           {"name": name, "kind": "secrets"})
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        for field in ("deletionTimestamp", "selfLink", "generation"):
            meta.pop(field, None)
        if dry_run:
            meta["resourceVersion"] = ""
            return obj
        meta["resourceVersion"] = self._bump()
        self.secrets[(ns, name)] = obj
        return copy.deepcopy(obj)

    def _store_update(self, ns, name, old, obj, dry_run):
        """Keeps server-owned fields, enforces immutability, bumps resourceVersion on change."""
        meta = obj["metadata"]
        old_meta = old["metadata"]
        for field in ("uid", "creationTimestamp"):
            meta[field] = old_meta[field]
        if obj["type"] != old["type"]:
            raise invalid("Secret", name, [("type", "FieldValueInvalid",
                                            "Invalid value: %r: field is immutable" % obj["type"])])
        if old.get("immutable"):
            if obj.get("data") != old.get("data") or not obj.get("immutable"):
                raise invalid("Secret", name, [("data", "Forbidden",
                                                "field is immutable when `immutable` is set")])
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if obj == old:  # a no-op write does not bump the resourceVersion
            return copy.deepcopy(old)
        if dry_run:
            return obj
        meta["resourceVersion"] = self._bump()
        self.secrets[(ns, name)] = obj
        return copy.deepcopy(obj)

    def replace_secret(self, ns, name, body, dry_run):
        meta = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            raise bad_request("metadata is required")
        if meta.get("name") != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (meta.get("name"), name))
        if meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        old = self.secrets.get((ns, name))
        if old is None:
            raise not_found("secrets", name)
        want_rv = meta.get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict("secrets", name)
        obj = self._normalize_secret(ns, name, copy.deepcopy(body))
        return self._store_update(ns, name, old, obj, dry_run)

    def patch_secret(self, ns, name, content_type, patch, dry_run):
        old = self.secrets.get((ns, name))
        if content_type == "application/apply-patch+yaml":
            if old is None:
                self._check_namespace(ns)
                body = copy.deepcopy(patch)
                body.setdefault("metadata", {})["name"] = name
                return self.create_secret(ns, body, dry_run), 201
            merged = merge_patch(old, patch)
        else:
            if old is None:
                raise not_found("secrets", name)
            if content_type == "application/json-patch+json":
                merged = json_patch(old, patch)
            elif content_type == "application/merge-patch+json":
                merged = merge_patch(old, patch)
            elif content_type == "application/strategic-merge-patch+json":
                merged = merge_patch(old, patch, strategic=True)
            else:
                raise ApiError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted "
                               "media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml, "
                               "application/strategic-merge-patch+json")
        if not isinstance(merged, dict):
            raise bad_request("the patch did not produce an object")
        meta = merged.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise bad_request("metadata.name: Invalid value: the name may not be changed by a "
                              "patch")
        want_rv = meta.get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict("secrets", name)
        obj = self._normalize_secret(ns, name, merged)
        return self._store_update(ns, name, old, obj, dry_run), 200

    def delete_secret(self, ns, name, options, dry_run):
        old = self.secrets.get((ns, name))
        if old is None:
            raise not_found("secrets", name)
        pre = (options or {}).get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
            raise conflict("secrets", name, "Precondition failed: UID in precondition: %s, UID in "
                           "object meta: %s" % (pre["uid"], old["metadata"]["uid"]))
        current_rv = old["metadata"]["resourceVersion"]
        if pre.get("resourceVersion") and pre["resourceVersion"] != current_rv:
            raise conflict("secrets", name, "Precondition failed: ResourceVersion in precondition: "
                           "%s, ResourceVersion in object meta: %s"
                           % (pre["resourceVersion"], old["metadata"]["resourceVersion"]))
        if not dry_run:
            del self.secrets[(ns, name)]
            self._bump()
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "kind": "secrets", "uid": old["metadata"]["uid"]}}

    # Leases (coordination.k8s.io/v1).
    def _normalize_lease(self, ns, name, obj):
        """Checks a Lease as the API server's validation would; canonical kind and apiVersion."""
        if not isinstance(obj, dict):
            raise bad_request("the body of the request was not a JSON object")
        if obj.get("kind") not in (None, "Lease"):
            raise bad_request("the kind in the data (%s) does not match the expected kind (Lease)"
                              % obj.get("kind"))
        if obj.get("apiVersion") not in (None, LEASE_API_VERSION):
            raise bad_request("the API version in the data (%s) does not match the expected API "
                              "version (%s)" % (obj.get("apiVersion"), LEASE_API_VERSION))
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            raise bad_request("spec must be an object")
        causes = []
        if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            causes.append(("metadata.name", "FieldValueInvalid",
                           "Invalid value: %r: a lowercase RFC 1123 subdomain must consist of "
                           "lower case alphanumeric characters, '-' or '.'" % name))
        holder = spec.get("holderIdentity")
        if holder is not None and not isinstance(holder, str):
            raise bad_request("spec.holderIdentity: must be a string")
        for field, minimum in (("leaseDurationSeconds", 1), ("leaseTransitions", 0)):
            value = spec.get(field)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad_request("spec.%s: must be an integer" % field)
            if value < minimum:
                causes.append(("spec.%s" % field, "FieldValueInvalid",
                               "Invalid value: %d: must be greater than %s"
                               % (value, "0" if minimum == 1 else "or equal to 0")))
        for field in ("acquireTime", "renewTime"):
            value = spec.get(field)
            if value is None:
                continue
            if not isinstance(value, str) or not MICRO_TIME.match(value):
                raise bad_request("Lease in version \"v1\" cannot be handled as a Lease: "
                                  "spec.%s: parsing time %r: not RFC 3339" % (field, value))
        for field in ("labels", "annotations"):
            value = meta.get(field)
            if value is not None and (not isinstance(value, dict) or
                                      not all(isinstance(v, str) for v in value.values())):
                causes.append(("metadata.%s" % field, "FieldValueInvalid",
                               "Invalid value: must be a map of strings"))
        if causes:
            raise invalid("Lease", name, causes, "coordination.k8s.io")
        obj["kind"] = "Lease"
        obj["apiVersion"] = LEASE_API_VERSION
        meta["name"] = name
        meta["namespace"] = ns
        for field in ("labels", "annotations"):
            if meta.get(field) == {}:
                del meta[field]
        return obj

    def list_leases(self, ns):
        items = []
        for key in sorted(self.leases):
            if ns is None or key[0] == ns:
                item = copy.deepcopy(self.leases[key])
                item.pop("kind", None)
                item.pop("apiVersion", None)
                items.append(item)
        return {"kind": "LeaseList", "apiVersion": LEASE_API_VERSION,
                "metadata": {"resourceVersion": str(self.rv)}, "items": items}

    def get_lease(self, ns, name):
        obj = self.leases.get((ns, name))
        if obj is None:
            raise not_found("leases.coordination.k8s.io", name)
        return copy.deepcopy(obj)

    def create_lease(self, ns, body, dry_run):
        meta = body.get("metadata") if isinstance(body, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
        if not name:
            raise invalid("Lease", "", [("metadata.name", "FieldValueRequired",
                                         "Required value: name or generateName is required")],
                          "coordination.k8s.io")
        self._check_namespace(ns)
        obj = self._normalize_lease(ns, name, copy.deepcopy(body))
        if (ns, name) in self.leases:
            raise ApiError(409, "AlreadyExists",
                           'leases.coordination.k8s.io "%s" already exists' % name,
                           {"name": name, "group": "coordination.k8s.io", "kind": "leases"})
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        for field in ("deletionTimestamp", "selfLink", "generation"):
            meta.pop(field, None)
        if dry_run:
            meta["resourceVersion"] = ""
            return obj
        meta["resourceVersion"] = self._bump()
        self.leases[(ns, name)] = obj
        return copy.deepcopy(obj)

    def _store_lease(self, ns, name, old, obj, dry_run):
        meta = obj["metadata"]
        for field in ("uid", "creationTimestamp"):
            meta[field] = old["metadata"][field]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if obj == old:  # a no-op write does not bump the resourceVersion
            return copy.deepcopy(old)
        if dry_run:
            return obj
        meta["resourceVersion"] = self._bump()
        self.leases[(ns, name)] = obj
        return copy.deepcopy(obj)

    def replace_lease(self, ns, name, body, dry_run):
        meta = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            raise bad_request("metadata is required")
        if meta.get("name") != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (meta.get("name"), name))
        if meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        old = self.leases.get((ns, name))
        if old is None:
            raise not_found("leases.coordination.k8s.io", name)
        want_rv = meta.get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict("leases.coordination.k8s.io", name)
        obj = self._normalize_lease(ns, name, copy.deepcopy(body))
        return self._store_lease(ns, name, old, obj, dry_run)

    def patch_lease(self, ns, name, content_type, patch, dry_run):
        old = self.leases.get((ns, name))
        if old is None:
            raise not_found("leases.coordination.k8s.io", name)
        if content_type == "application/json-patch+json":
            merged = json_patch(old, patch)
        elif content_type in ("application/merge-patch+json",
                              "application/strategic-merge-patch+json"):
            merged = merge_patch(old, patch,
                                 strategic=content_type.startswith("application/strategic"))
        else:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media "
                           "types include: application/json-patch+json, "
                           "application/merge-patch+json, application/strategic-merge-patch+json")
        if not isinstance(merged, dict):
            raise bad_request("the patch did not produce an object")
        meta = merged.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise bad_request("metadata.name: Invalid value: the name may not be changed by a "
                              "patch")
        want_rv = meta.get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict("leases.coordination.k8s.io", name)
        obj = self._normalize_lease(ns, name, merged)
        return self._store_lease(ns, name, old, obj, dry_run)

    def delete_lease(self, ns, name, options, dry_run):
        old = self.leases.get((ns, name))
        if old is None:
            raise not_found("leases.coordination.k8s.io", name)
        pre = (options or {}).get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
            raise conflict("leases.coordination.k8s.io", name, "Precondition failed: UID in "
                           "precondition: %s, UID in object meta: %s"
                           % (pre["uid"], old["metadata"]["uid"]))
        if pre.get("resourceVersion") and \
                pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise conflict("leases.coordination.k8s.io", name, "Precondition failed: "
                           "ResourceVersion in precondition: %s, ResourceVersion in object "
                           "meta: %s" % (pre["resourceVersion"],
                                         old["metadata"]["resourceVersion"]))
        if not dry_run:
            del self.leases[(ns, name)]
            self._bump()
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": "coordination.k8s.io", "kind": "leases",
                            "uid": old["metadata"]["uid"]}}


def parse_limit(limit):
    if limit in (None, ""):
        return 0
    try:
        value = int(limit)
    except ValueError:
        raise bad_request("limit: Invalid value: %r: must be an integer" % limit)
    return max(value, 0)


def encode_continue(rv, key):
    """An opaque token as the API server makes one: base64 of the list's resourceVersion and the
    key after which the next page starts."""
    body = {"v": "meta.k8s.io/v1", "rv": rv, "start": "/secrets/%s/%s\u0000" % key}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def decode_continue(token):
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        start = body["start"]
        if body.get("v") != "meta.k8s.io/v1" or not start.startswith("/secrets/"):
            raise ValueError(start)
        ns, name = start[len("/secrets/"):].rstrip("\u0000").split("/", 1)
        return (ns, name)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise bad_request("continue key is not valid: %r" % token)


def matches_labels(labels, selector):
    if not selector:
        return True
    for term in selector.split(","):
        term = term.strip()
        if not term:
            continue
        m = re.match(r"^([^!=\s]+)\s*(==|=|!=)\s*(.*)$", term)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3).strip()
            if op == "!=":
                if labels.get(key) == value:
                    return False
            elif labels.get(key) != value:
                return False
            continue
        m = re.match(r"^([^\s]+)\s+(in|notin)\s+\((.*)\)$", term)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            has = m.group(1) in labels and labels[m.group(1)] in values
            if (m.group(2) == "in") != has:
                return False
            continue
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def matches_fields(obj, selector):
    if not selector:
        return True
    for term in selector.split(","):
        m = re.match(r"^([^!=]+)(==|=|!=)(.*)$", term.strip())
        if not m:
            raise bad_request("invalid field selector %r" % term)
        field, op, value = m.groups()
        if field == "metadata.name":
            actual = obj["metadata"]["name"]
        elif field == "metadata.namespace":
            actual = obj["metadata"]["namespace"]
        elif field == "type":
            actual = obj["type"]
        else:
            raise bad_request('"%s" is not a known field selector: only "metadata.name", '
                              '"metadata.namespace", "type"' % field)
        if (actual == value) == (op == "!="):
            return False
    return True


def age(timestamp):
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    s = max(0, int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds()))
    if s < 120:
        return "%ds" % s
    if s < 600:
        return "%dm%ds" % (s // 60, s % 60) if s % 60 else "%dm" % (s // 60)
    if s < 3 * 3600:
        return "%dm" % (s // 60)
    if s < 48 * 3600:
        return "%dh" % (s // 3600)
    return "%dd" % (s // 86400)


def to_table(kind, objects, list_rv, continue_token=None):
    if kind == "secrets":
        columns = [("Name", "string", "name"), ("Type", "string", ""), ("Data", "string", ""),
                   ("Age", "string", "")]
        cells = lambda o: [o["metadata"]["name"], o.get("type", "Opaque"), len(o.get("data") or {}),
                           age(o["metadata"].get("creationTimestamp"))]
    elif kind == "leases":
        columns = [("Name", "string", "name"), ("Holder", "string", ""), ("Age", "string", "")]
        cells = lambda o: [o["metadata"]["name"], (o.get("spec") or {}).get("holderIdentity", ""),
                           age(o["metadata"].get("creationTimestamp"))]
    else:
        columns = [("Name", "string", "name"), ("Status", "string", ""), ("Age", "string", "")]
        cells = lambda o: [o["metadata"]["name"], o.get("status", {}).get("phase", "Active"),
                           age(o["metadata"].get("creationTimestamp"))]
    meta = {"resourceVersion": list_rv}
    if continue_token:
        meta["continue"] = continue_token
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [{"name": n, "type": t, "format": f, "description": "", "priority": 0}
                              for n, t, f in columns],
        "rows": [{"cells": cells(o),
                  "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": copy.deepcopy(o["metadata"])}} for o in objects],
    }


def resource_list(port):
    def res(name, singular, kind, namespaced, short=None):
        r = {"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind,
             "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                       "watch"],
             "storageVersionHash": base64.b64encode(name.encode()).decode()[:12]}
        if short:
            r["shortNames"] = short
        return r
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        res("namespaces", "namespace", "Namespace", False, ["ns"]),
        res("secrets", "secret", "Secret", True)]}


COORDINATION_GROUP = {
    "name": "coordination.k8s.io",
    "versions": [{"groupVersion": LEASE_API_VERSION, "version": "v1"}],
    "preferredVersion": {"groupVersion": LEASE_API_VERSION, "version": "v1"}}


def coordination_resource_list():
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": LEASE_API_VERSION,
            "resources": [{"name": "leases", "singularName": "lease", "namespaced": True,
                           "kind": "Lease",
                           "verbs": ["create", "delete", "deletecollection", "get", "list",
                                     "patch", "update", "watch"],
                           "storageVersionHash": "gqkMMb/YqFM="}]}


# --- HTTP ---------------------------------------------------------------------------------

class Emulator:
    def __init__(self, args):
        self.args = args
        self.store = Store(["default", "kube-system", "kube-public"] + (args.namespace or []))
        self.tokens = set(args.token or [])
        self.readonly_tokens = set(args.readonly_token or [])
        self.namespaced_tokens = set(args.namespaced_token or [])
        self.faults = []
        self.log = []
        self.admin_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "k8s-emulator"
    wbufsize = -1  # one buffered write per response (flushed by handle_one_request)

    def setup(self):
        super().setup()
        # Headers and body leave together; without this, Nagle's algorithm and the client's
        # delayed ACK add tens of milliseconds to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet: the request log is in /_emulator/requests
        pass

    @property
    def emu(self):
        return self.server.emulator

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def send_json(self, code, body, extra_headers=None):
        data = json.dumps(body).encode("utf-8")
        self.record(code)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        return code

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def parse_json(self, raw):
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request("the body of the request could not be decoded as JSON: %s" % e)

    def user(self):
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):].strip()
            if token in self.emu.tokens:
                return ("token-user", True, True)
            if token in self.emu.readonly_tokens:
                return ("readonly-user", False, True)
            if token in self.emu.namespaced_tokens:
                return ("system:serviceaccount:crtoken:crtoken", True, False)
            return None
        cert = getattr(self.connection, "getpeercert", lambda: None)()
        if cert:
            for rdn in cert.get("subject", ()):
                for key, value in rdn:
                    if key == "commonName":
                        return (value, True, True)
        return None

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        raw = self.read_body()
        entry = {"method": method, "path": path, "query": url.query, "status": 0, "user": ""}
        self.entry = None if path.startswith("/_emulator/") else entry
        try:
            if path.startswith("/_emulator/"):
                entry["status"] = self.admin(method, path, raw)
                return
            who = self.user()
            if who is None:
                entry["status"] = self.send_json(401, status_body(401, "Unauthorized",
                                                                  "Unauthorized"))
                return
            entry["user"] = who[0]
            fault = self.take_fault(method, path, url.query)
            if fault is not None and fault.get("delay"):
                time.sleep(float(fault["delay"]))  # a slow server; then the rule's other effects
                if "status" not in fault and not fault.get("reset") and not fault.get("touch"):
                    fault = None
            if fault is not None and fault.get("touch"):
                self.touch(path)  # a concurrent writer got in first; the request then proceeds
                fault = None
            if fault is not None:
                if fault.get("reset"):
                    self.record(-1)
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                code = int(fault.get("status", 500))
                reasons = {409: "Conflict", 500: "InternalError", 503: "ServiceUnavailable",
                           429: "TooManyRequests", 504: "Timeout", 403: "Forbidden",
                           410: "Expired"}
                headers = {"Retry-After": "1"} if code == 429 else None
                entry["status"] = self.send_json(code, status_body(
                    code, reasons.get(code, "InternalError"),
                    "injected fault: %d for %s %s" % (code, method, path)), headers)
                return
            if method == "GET" and not who[2] and path == "/api/v1/secrets":
                raise ApiError(403, "Forbidden",
                               'secrets is forbidden: User "%s" cannot list resource "secrets" in '
                               'API group "" at the cluster scope' % who[0],
                               {"kind": "secrets"})
            if method == "GET" and not who[2] and path == "/apis/%s/leases" % LEASE_API_VERSION:
                raise ApiError(403, "Forbidden",
                               'leases.coordination.k8s.io is forbidden: User "%s" cannot list '
                               'resource "leases" in API group "coordination.k8s.io" at the '
                               'cluster scope' % who[0], {"kind": "leases"})
            if method in WRITE_METHODS and not who[1] and path.startswith("/api/v1/"):
                parts = path.split("/")
                resource = parts[5] if len(parts) > 5 else parts[3]
                ns = parts[4] if len(parts) > 5 else ""
                name = parts[6] if len(parts) > 6 else ""
                verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                        "DELETE": "delete"}[method]
                raise ApiError(403, "Forbidden",
                               '%s%s is forbidden: User "%s" cannot %s resource "%s" in API '
                               'group "" in the namespace "%s"'
                               % (resource, ' "%s"' % name if name else "", who[0], verb,
                                  resource, ns), {"name": name, "kind": resource})
            if method in WRITE_METHODS and not who[1] and path.startswith("/apis/"):
                parts = path.split("/")  # "", apis, group, version, namespaces, ns, leases, name
                ns = parts[5] if len(parts) > 6 else ""
                name = parts[7] if len(parts) > 7 else ""
                verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                        "DELETE": "delete"}[method]
                raise ApiError(403, "Forbidden",
                               'leases.coordination.k8s.io%s is forbidden: User "%s" cannot %s '
                               'resource "leases" in API group "coordination.k8s.io" in the '
                               'namespace "%s"' % (' "%s"' % name if name else "", who[0], verb,
                                                   ns),
                               {"name": name, "group": "coordination.k8s.io", "kind": "leases"})
            code, body = self.api(method, path, query, raw)
            entry["status"] = self.send_json(code, body)
        except ApiError as e:
            entry["status"] = self.send_json(e.code, e.body)
        except Exception as e:  # a bug in the emulator: still answer like a server
            entry["status"] = self.send_json(500, status_body(500, "InternalError",
                                                              "emulator error: %r" % e))

    def touch(self, path):
        parts = path.split("/")
        store = self.emu.store
        if len(parts) == 8 and parts[1] == "apis" and parts[6] == "leases":
            objects, key = store.leases, (parts[5], parts[7])
        elif len(parts) == 7 and parts[5] == "secrets":
            objects, key = store.secrets, (parts[4], parts[6])
        else:
            return
        with store.lock:
            obj = objects.get(key)
            if obj is not None:
                ann = obj["metadata"].setdefault("annotations", {})
                ann["k8s-emulator/touched"] = str(int(ann.get("k8s-emulator/touched", "0")) + 1)
                obj["metadata"]["resourceVersion"] = store._bump()

    def record(self, code):
        """Logs the request before its answer leaves, so a client that reads the log right
        after its response always finds its request there."""
        entry, self.entry = self.entry, None
        if entry is not None:
            entry["status"] = code
            with self.emu.admin_lock:
                self.emu.log.append(entry)

    def take_fault(self, method, path, query=""):
        with self.emu.admin_lock:
            for rule in self.emu.faults:
                if rule.get("count", 0) <= 0:
                    continue
                if method not in rule.get("methods", WRITE_METHODS):
                    continue
                if rule.get("path") and rule["path"] not in path:
                    continue
                if rule.get("query") and rule["query"] not in query:
                    continue
                rule["count"] -= 1
                return dict(rule)
        return None

    def admin(self, method, path, raw):
        emu = self.emu
        if path == "/_emulator/requests":
            with emu.admin_lock:
                if method == "DELETE":
                    emu.log.clear()
                    return self.send_json(200, {"cleared": True})
                return self.send_json(200, list(emu.log))
        if path == "/_emulator/faults":
            with emu.admin_lock:
                if method == "DELETE":
                    emu.faults.clear()
                    return self.send_json(200, {"cleared": True})
                if method == "POST":
                    rule = self.parse_json(raw) or {}
                    rule.setdefault("count", 1)
                    rule.setdefault("methods", list(WRITE_METHODS))
                    emu.faults.append(rule)
                    return self.send_json(201, rule)
                return self.send_json(200, emu.faults)
        if path == "/_emulator/tokens" and method == "POST":
            body = self.parse_json(raw) or {}
            with emu.admin_lock:
                emu.tokens = set(body.get("tokens", []))
                emu.readonly_tokens = set(body.get("readonly_tokens", []))
                emu.namespaced_tokens = set(body.get("namespaced_tokens", []))
            return self.send_json(200, {"ok": True})
        if path == "/_emulator/state":
            with emu.store.lock:
                return self.send_json(200, {
                    "resourceVersion": str(emu.store.rv),
                    "namespaces": sorted(emu.store.namespaces),
                    "secrets": [emu.store.secrets[k] for k in sorted(emu.store.secrets)],
                    "leases": [emu.store.leases[k] for k in sorted(emu.store.leases)]})
        raise ApiError(404, "NotFound", "no admin endpoint %s %s" % (method, path))

    def wants_table(self):
        return "as=Table" in (self.headers.get("Accept") or "")

    def api(self, method, path, query, raw):
        store = self.emu.store
        dry_run = query.get("dryRun") == "All"
        if path == "/version" and method == "GET":
            return 200, K8S_VERSION
        if path == "/api" and method == "GET":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [
                             {"clientCIDR": "0.0.0.0/0",
                              "serverAddress": "127.0.0.1:%d" % self.server.server_address[1]}]}
        if path == "/api/v1" and method == "GET":
            return 200, resource_list(self.server.server_address[1])
        if path == "/apis" and method == "GET":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1",
                         "groups": [COORDINATION_GROUP]}
        if path == "/apis/coordination.k8s.io" and method == "GET":
            return 200, dict(kind="APIGroup", apiVersion="v1", **COORDINATION_GROUP)
        if path == "/apis/" + LEASE_API_VERSION and method == "GET":
            return 200, coordination_resource_list()
        if path.startswith("/apis/" + LEASE_API_VERSION + "/"):
            return self.leases_api(method, path, query, raw)
        if path in ("/healthz", "/livez", "/readyz") and method == "GET":
            return 200, "ok"
        parts = path.split("/")[1:]  # api v1 ...
        if parts[:2] != ["api", "v1"] or len(parts) < 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rest = parts[2:]
        with store.lock:
            # /api/v1/secrets (all namespaces)
            if rest == ["secrets"] and method == "GET":
                result = store.list_secrets(None, query.get("labelSelector"),
                                            query.get("fieldSelector"), query.get("limit"),
                                            query.get("continue"))
                return 200, self.maybe_table("secrets", result)
            if rest == ["namespaces"]:
                if method == "GET":
                    return 200, self.maybe_table("namespaces", store.list_namespaces())
                if method == "POST":
                    return 201, store.create_namespace(self.parse_json(raw) or {})
            if len(rest) == 2 and rest[0] == "namespaces":
                if method == "GET":
                    obj = store.get_namespace(rest[1])
                    if self.wants_table():
                        return 200, to_table("namespaces", [obj],
                                             obj["metadata"]["resourceVersion"])
                    return 200, obj
                if method == "DELETE":
                    return 200, store.delete_namespace(rest[1])
            if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == "secrets":
                ns = rest[1]
                if len(rest) == 3:
                    if method == "GET":
                        result = store.list_secrets(ns, query.get("labelSelector"),
                                                    query.get("fieldSelector"),
                                                    query.get("limit"), query.get("continue"))
                        return 200, self.maybe_table("secrets", result)
                    if method == "POST":
                        return 201, store.create_secret(ns, self.parse_json(raw) or {}, dry_run)
                elif len(rest) == 4:
                    name = rest[3]
                    if method == "GET":
                        obj = store.get_secret(ns, name)
                        if self.wants_table():
                            return 200, to_table("secrets", [obj],
                                                 obj["metadata"]["resourceVersion"])
                        return 200, obj
                    if method == "PUT":
                        return 200, store.replace_secret(ns, name, self.parse_json(raw) or {},
                                                         dry_run)
                    if method == "PATCH":
                        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                        obj, code = store.patch_secret(ns, name, ctype, self.parse_json(raw),
                                                       dry_run)
                        return code, obj
                    if method == "DELETE":
                        return 200, store.delete_secret(ns, name, self.parse_json(raw), dry_run)
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource")
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def leases_api(self, method, path, query, raw):
        store = self.emu.store
        dry_run = query.get("dryRun") == "All"
        rest = path.split("/")[4:]  # after /apis/coordination.k8s.io/v1
        with store.lock:
            if rest == ["leases"] and method == "GET":
                return 200, self.maybe_table("leases", store.list_leases(None))
            if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == "leases":
                ns = rest[1]
                if len(rest) == 3:
                    if method == "GET":
                        return 200, self.maybe_table("leases", store.list_leases(ns))
                    if method == "POST":
                        return 201, store.create_lease(ns, self.parse_json(raw) or {}, dry_run)
                elif len(rest) == 4:
                    name = rest[3]
                    if method == "GET":
                        obj = store.get_lease(ns, name)
                        if self.wants_table():
                            return 200, to_table("leases", [obj],
                                                 obj["metadata"]["resourceVersion"])
                        return 200, obj
                    if method == "PUT":
                        return 200, store.replace_lease(ns, name, self.parse_json(raw) or {},
                                                        dry_run)
                    if method == "PATCH":
                        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                        return 200, store.patch_lease(ns, name, ctype, self.parse_json(raw),
                                                      dry_run)
                    if method == "DELETE":
                        return 200, store.delete_lease(ns, name, self.parse_json(raw), dry_run)
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource")
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def maybe_table(self, kind, result):
        if not self.wants_table():
            return result
        return to_table(kind, result["items"], result["metadata"]["resourceVersion"],
                        result["metadata"].get("continue"))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, emulator, context):
        self.emulator = emulator
        self.context = context
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake happens here, in the connection's own thread, so one slow or
        # failing client never blocks the accept loop.
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        except (ssl.SSLError, ConnectionError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass


# --- TLS material -------------------------------------------------------------------------

def run_openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ensure_tls(tls_dir):
    """A test CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    os.makedirs(tls_dir, exist_ok=True)
    if all(os.path.exists(os.path.join(tls_dir, f)) for f in
           ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")):
        return
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run_openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
                "-subj", "/CN=k8s-emulator-test-ca",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=tls_dir)
    for name, subject, ext in (
            ("server", "/CN=k8s-emulator",
             "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
             "basicConstraints=CA:FALSE\n"),
            ("client", "/O=system:masters/CN=crtoken-client",
             "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")):
        with open(os.path.join(tls_dir, name + ".ext"), "w") as f:
            f.write(ext)
        run_openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                    "-subj", subject, cwd=tls_dir)
        run_openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", name + ".crt", "-days", "3650",
                    "-extfile", name + ".ext", cwd=tls_dir)
    for f in os.listdir(tls_dir):
        if f.endswith(".key"):
            os.chmod(os.path.join(tls_dir, f), 0o600)


def write_kubeconfig(path, port, tls_dir, token):
    server = "https://127.0.0.1:%d" % port
    text = (
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: emulator\n  cluster:\n"
        "    server: %s\n    certificate-authority: %s\n"
        "users:\n- name: emulator-user\n  user:\n    token: %s\n"
        "contexts:\n- name: emulator\n  context:\n    cluster: emulator\n"
        "    user: emulator-user\n    namespace: default\n"
        "current-context: emulator\npreferences: {}\n"
    ) % (server, os.path.join(os.path.abspath(tls_dir), "ca.crt"), json.dumps(token))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-dir", required=True, help="CA and certificates (made if missing)")
    parser.add_argument("--token", action="append", help="a bearer token with full access")
    parser.add_argument("--readonly-token", action="append",
                        help="a bearer token that may read but gets 403 on writes")
    parser.add_argument("--namespaced-token", action="append",
                        help="a bearer token with full access inside namespaces that gets 403 "
                             "listing Secrets at the cluster scope")
    parser.add_argument("--namespace", action="append",
                        help="an extra namespace (default, kube-system, kube-public always exist)")
    parser.add_argument("--kubeconfig-out", help="write a kubeconfig for the first --token here")
    args = parser.parse_args(argv)
    ensure_tls(args.tls_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(args.tls_dir, "server.crt"),
                            os.path.join(args.tls_dir, "server.key"))
    context.load_verify_locations(os.path.join(args.tls_dir, "ca.crt"))
    context.verify_mode = ssl.CERT_OPTIONAL  # client certificates authenticate when present
    server = Server(("127.0.0.1", args.port), Emulator(args), context)
    if args.kubeconfig_out:
        write_kubeconfig(args.kubeconfig_out, server.server_address[1], args.tls_dir,
                         (args.token or [""])[0])
    print("k8s-emulator listening on https://127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
