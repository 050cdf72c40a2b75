#!/usr/bin/env python3
"""A small Kubernetes API server emulator: core/v1 Namespaces, Secrets and ServiceAccounts, and
coordination.k8s.io/v1 Leases, over HTTPS.

Test fixture for crtoken's Kubernetes adapters, and checked against the real kubectl
(kubectl_fidelity_test.py). Python 3 standard library only, plus the openssl CLI to make a
test CA on first start.

  k8s_emulator.py --port 6443 --tls-dir DIR --token T [--readonly-token R]
                  [--namespaced-token N] [--namespace NS[,label=value...]] [--kubeconfig-out FILE]
                  [--namespace-termination-seconds S] [--watch-history N]
                  [--forbid NS[:verb,verb...]]

Every kind lives in ONE generic object store (per kind only its validation, its server-owned
fields, its strategic-merge keys and its table columns differ), so every kind gets the same API:
  list   in a namespace or across all (cluster-scoped kinds: across all): labelSelector in the
         full Kubernetes syntax (k=v, k==v, k!=v, k in (a,b), k notin (a), k, !k, k>1, k<1;
         comma = AND; bad syntax -> 400 BadRequest), fieldSelector (metadata.name,
         metadata.namespace, and per kind: Secret type, Namespace status.phase), limit +
         continue (pages in (namespace, name) order, metadata.continue and remainingItemCount
         while more remain; a continue token reads the store as it is then, not a snapshot)
  watch  ?watch=1|true (or /api/v1/watch/...), from resourceVersion (absent or "0": ADDED for
         every current object first), with the same selectors: newline-delimited
         {"type": "ADDED|MODIFIED|DELETED", "object": ...} events, chunked, kept open until
         timeoutSeconds (default 1800) or the client goes; an object that starts or stops
         matching a label selector arrives as ADDED or DELETED, as from the real watch cache.
         A resourceVersion older than the kept history (--watch-history events, or everything
         before POST /_emulator/compact) -> one ERROR event with a 410 Expired Status, as the
         real server sends ("too old resource version"). No bookmarks.
  get, create (POST; 409 AlreadyExists; generateName), replace (PUT; a resourceVersion that is
         not the stored one -> 409 Conflict), patch (strategic-merge, merge, json-patch,
         apply-patch), delete (DeleteOptions preconditions on uid and resourceVersion), dryRun=All,
         Table output for kubectl (as=Table, for lists, gets and watch events)
  Writes of every kind are serialised under one lock, so concurrent writers of one object meet
  409s exactly as on a real server. Errors are Kubernetes Status bodies. resourceVersion is one
  global counter bumped on every write that changes an object (a no-op update keeps it, and sends
  no watch event, as the real API server does).

Per kind:
  core/v1 namespaces (cluster-scoped): labels (the server adds kubernetes.io/metadata.name),
      spec.finalizers, status.phase (server-owned). DELETE moves the namespace to
      status.phase Terminating (deletionTimestamp set) for --namespace-termination-seconds
      (default 0; or POST /_emulator/settings); meanwhile creates in it are refused with
      403 Forbidden, 'secrets "x" is forbidden: unable to create new content in namespace ns
      because it is being terminated'; then its objects and it are deleted (watch events for each).
  core/v1 secrets: type (immutable), data (base64 checked), stringData folded into data,
      immutable, dockerconfigjson checked.
  core/v1 serviceaccounts: secrets, imagePullSecrets, automountServiceAccountToken. A strategic
      merge patch merges `secrets` by name but REPLACES `imagePullSecrets` whole, as the real
      server does (the field has no patch strategy): to add one entry and keep the others, read
      the object and PUT it with its resourceVersion, or json-patch with a test operation.
  coordination.k8s.io/v1 leases: spec fields validated as the API server does (holderIdentity,
      leaseDurationSeconds > 0, leaseTransitions >= 0, acquireTime and renewTime as RFC 3339
      MicroTime).

Authentication and authorisation: all but /_emulator/ need a bearer token or a client
certificate signed by the test CA, else 401. A --readonly-token gets 403 on writes; a
--namespaced-token gets 403 on a list or watch of a namespaced kind at the cluster scope, as a
service account bound only by RoleBindings does. Forbid rules (--forbid or POST
/_emulator/forbid) answer 403 with the real server's message, e.g. 'secrets is forbidden: User
"token-user" cannot create resource "secrets" in API group "" in the namespace "x"'.

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
  POST   /_emulator/forbid          {"namespaces": [...], "verbs": [...], "resources": [...],
                                     "tokens": [...]} adds a rule: a request in one of the
                                    namespaces (none given: any, and the cluster scope), with one
                                    of the verbs (get list watch create update patch delete, "*";
                                    default: the writes), on one of the resources (default: every
                                    resource but the Namespace objects themselves), by one of the
                                    bearer tokens (default: any) gets 403 Forbidden
  GET    /_emulator/forbid          the rules; DELETE clears them
  POST   /_emulator/settings        {"namespaceTerminationSeconds": S}
  POST   /_emulator/finalize        {"namespace": NAME}: a Terminating namespace goes now (with
                                    its objects), whatever is left of its termination time
  POST   /_emulator/compact         forgets the watch history: a watch from an older
                                    resourceVersion gets 410 Expired
  GET    /_emulator/state           every stored object: {"resourceVersion", "namespaces"
                                    (names), "namespaceObjects", "secrets", "serviceaccounts",
                                    "leases"}
"""

import argparse
import base64
import binascii
import collections
import copy
import datetime
import http.server
import json
import os
import re
import select
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
# A label key's name part and a label value (which may also be empty).
QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
LEASE_API_VERSION = "coordination.k8s.io/v1"
# metav1.MicroTime as the API server parses it: RFC 3339, with any fraction of a second.
MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
DEFAULT_WATCH_TIMEOUT = 1800


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

def merge_patch(target, patch, strategic=False, merge_keys=None, path=""):
    """RFC 7386; with strategic=True also the directives kubectl sends for maps, and lists whose
    field has a patch merge key (merge_keys: {"dotted.path": "key"}) merged element by element
    (an element {"key": k, "$patch": "delete"} removes one). Every other list is replaced whole,
    as the real server does for fields without a patch strategy."""
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
        field = "%s.%s" % (path, key) if path else key
        if value is None:
            result.pop(key, None)
        elif strategic and isinstance(value, list) and (merge_keys or {}).get(field):
            merged = merge_list(result.get(key), value, merge_keys[field],
                                patch.get("$setElementOrder/" + key), merge_keys, field)
            if merged:
                result[key] = merged
            else:
                result.pop(key, None)
        else:
            merged = merge_patch(result.get(key), value, strategic, merge_keys, field)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def merge_list(current, patch, key, order, merge_keys, path):
    """A strategic merge of a list of objects identified by `key`."""
    result = copy.deepcopy(current) if isinstance(current, list) else []
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise bad_request("%s: every element of a merged list needs its merge key %r"
                              % (path, key))
        found = [i for i, e in enumerate(result) if isinstance(e, dict) and e.get(key) == item[key]]
        if item.get("$patch") == "delete":
            result = [e for i, e in enumerate(result) if i not in found]
        elif found:
            result[found[0]] = merge_patch(result[found[0]], item, True, merge_keys, path)
        else:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
    if isinstance(order, list):
        rank = {(o.get(key) if isinstance(o, dict) else None): i for i, o in enumerate(order)}
        result.sort(key=lambda e: rank.get(e.get(key), len(rank)))
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


# --- the kinds ----------------------------------------------------------------------------

class Kind:
    """What differs between kinds; the store does the rest the same way for all."""
    resource = ""  # plural, as in the URL
    singular = ""
    kind = ""
    group = ""
    version = "v1"
    namespaced = True
    short_names = None
    merge_keys = {}  # strategic merge: {"dotted.path": "merge key"}
    fields = ("metadata.name", "metadata.namespace")  # supported field selectors
    columns = [("Name", "string", "name"), ("Age", "string", "")]

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self):
        """The resource as the API server names it in messages: "secrets",
        "leases.coordination.k8s.io"."""
        return "%s.%s" % (self.resource, self.group) if self.group else self.resource

    def valid_name(self, name):
        return bool(name) and len(name) <= 253 and DNS1123_SUBDOMAIN.match(name)

    def name_message(self, name):
        return ("Invalid value: %r: a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.'" % name)

    def validate(self, obj, causes):
        """Checks and canonicalises the kind's own fields in place; bad shapes raise 400,
        bad values are appended to causes (one 422)."""

    def on_create(self, obj):
        """Server-set fields of a new object."""

    def on_update(self, old, obj):
        """Carries server-owned fields over and checks immutable ones."""

    def field(self, obj, name):
        if name == "metadata.name":
            return obj["metadata"]["name"]
        if name == "metadata.namespace":
            return obj["metadata"].get("namespace", "")
        raise KeyError(name)

    def cells(self, obj):
        return [obj["metadata"]["name"], age(obj["metadata"].get("creationTimestamp"))]


class SecretKind(Kind):
    resource, singular, kind = "secrets", "secret", "Secret"
    fields = ("metadata.name", "metadata.namespace", "type")
    columns = [("Name", "string", "name"), ("Type", "string", ""), ("Data", "string", ""),
               ("Age", "string", "")]

    def validate(self, obj, causes):
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
        obj["type"] = secret_type
        if decoded:
            obj["data"] = {k: base64.b64encode(v).decode("ascii")
                           for k, v in sorted(decoded.items())}
        else:
            obj.pop("data", None)

    def on_update(self, old, obj):
        name = obj["metadata"]["name"]
        if obj["type"] != old["type"]:
            raise invalid("Secret", name, [("type", "FieldValueInvalid",
                                            "Invalid value: %r: field is immutable" % obj["type"])])
        if old.get("immutable"):
            if obj.get("data") != old.get("data") or not obj.get("immutable"):
                raise invalid("Secret", name, [("data", "Forbidden",
                                                "field is immutable when `immutable` is set")])

    def field(self, obj, name):
        if name == "type":
            return obj["type"]
        return super().field(obj, name)

    def cells(self, obj):
        return [obj["metadata"]["name"], obj.get("type", "Opaque"), len(obj.get("data") or {}),
                age(obj["metadata"].get("creationTimestamp"))]


class ServiceAccountKind(Kind):
    resource, singular, kind = "serviceaccounts", "serviceaccount", "ServiceAccount"
    short_names = ["sa"]
    merge_keys = {"secrets": "name"}  # imagePullSecrets has no patch strategy: replaced whole
    columns = [("Name", "string", "name"), ("Secrets", "string", ""), ("Age", "string", "")]

    def validate(self, obj, causes):
        for field in ("secrets", "imagePullSecrets"):
            refs = obj.get(field)
            if refs is None:
                continue
            if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
                raise bad_request("ServiceAccount in version \"v1\" cannot be handled as a "
                                  "ServiceAccount: %s: must be a list of objects" % field)
            for i, ref in enumerate(refs):
                if not isinstance(ref.get("name", ""), str):
                    raise bad_request("ServiceAccount in version \"v1\" cannot be handled as a "
                                      "ServiceAccount: %s[%d].name: must be a string" % (field, i))
            if not refs:
                del obj[field]
        automount = obj.get("automountServiceAccountToken")
        if automount is not None and not isinstance(automount, bool):
            raise bad_request("ServiceAccount in version \"v1\" cannot be handled as a "
                              "ServiceAccount: automountServiceAccountToken: must be a boolean")

    def cells(self, obj):
        return [obj["metadata"]["name"], len(obj.get("secrets") or []),
                age(obj["metadata"].get("creationTimestamp"))]


class LeaseKind(Kind):
    resource, singular, kind = "leases", "lease", "Lease"
    group = "coordination.k8s.io"
    columns = [("Name", "string", "name"), ("Holder", "string", ""), ("Age", "string", "")]

    def validate(self, obj, causes):
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            raise bad_request("spec must be an object")
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

    def cells(self, obj):
        return [obj["metadata"]["name"], (obj.get("spec") or {}).get("holderIdentity", ""),
                age(obj["metadata"].get("creationTimestamp"))]


class NamespaceKind(Kind):
    resource, singular, kind = "namespaces", "namespace", "Namespace"
    namespaced = False
    short_names = ["ns"]
    fields = ("metadata.name", "status.phase")
    columns = [("Name", "string", "name"), ("Status", "string", ""), ("Age", "string", "")]
    NAME_LABEL = "kubernetes.io/metadata.name"

    def valid_name(self, name):
        return bool(name) and len(name) <= 63 and DNS1123_LABEL.match(name)

    def name_message(self, name):
        return "Invalid value: %r: must be a DNS label" % name

    def validate(self, obj, causes):
        spec = obj.get("spec")
        if spec is not None and not isinstance(spec, dict):
            raise bad_request("spec must be an object")
        meta = obj["metadata"]
        meta.setdefault("labels", {})[self.NAME_LABEL] = meta["name"]

    def on_create(self, obj):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}

    def on_update(self, old, obj):
        obj["status"] = copy.deepcopy(old.get("status") or {"phase": "Active"})
        if "spec" not in obj and "spec" in old:
            obj["spec"] = copy.deepcopy(old["spec"])
        if "deletionTimestamp" in old["metadata"]:
            obj["metadata"]["deletionTimestamp"] = old["metadata"]["deletionTimestamp"]

    def field(self, obj, name):
        if name == "status.phase":
            return (obj.get("status") or {}).get("phase", "Active")
        return super().field(obj, name)

    def cells(self, obj):
        return [obj["metadata"]["name"], (obj.get("status") or {}).get("phase", "Active"),
                age(obj["metadata"].get("creationTimestamp"))]


KINDS = {k.resource: k for k in (NamespaceKind(), SecretKind(), ServiceAccountKind(),
                                 LeaseKind())}
# A Namespace's deletion removes its objects of these kinds.
NAMESPACED_KINDS = [k for k in KINDS.values() if k.namespaced]


def find_kind(group, version, resource):
    kind = KINDS.get(resource)
    if kind is None or kind.group != group or kind.version != version:
        return None
    return kind


# --- the store ----------------------------------------------------------------------------

Event = collections.namedtuple("Event", "rv resource namespace type old new")


class Store:
    """Every object of every kind, the global resourceVersion and the watch history. All
    methods but those named *_locked take no lock: the caller holds `lock`."""

    def __init__(self, namespaces, history=1000, termination_seconds=0.0):
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # notified on every event
        self.rv = 1
        self.objects = {resource: {} for resource in KINDS}  # resource -> {(ns, name): obj}
        self.events = collections.deque(maxlen=max(1, history))
        self.compacted = 1  # the history holds every event after this resourceVersion
        self.termination_seconds = termination_seconds
        with self.lock:
            for name, labels in namespaces:
                self.create(KINDS["namespaces"], "",
                            {"metadata": {"name": name, "labels": labels}}, False)
            self.compact()

    def _bump(self):
        self.rv += 1
        return str(self.rv)

    def _key(self, kind, ns, name):
        return (ns if kind.namespaced else "", name)

    def _record(self, kind, ns, event_type, old, new):
        if len(self.events) == self.events.maxlen:
            self.compacted = self.events[0].rv
        self.events.append(Event(self.rv, kind.resource, ns, event_type, copy.deepcopy(old),
                                 copy.deepcopy(new)))
        self.changed.notify_all()

    def compact(self):
        self.events.clear()
        self.compacted = self.rv

    def _normalize(self, kind, ns, name, obj):
        """Checks and canonicalises an object as the API server's validation would."""
        if not isinstance(obj, dict):
            raise bad_request("the body of the request was not a JSON object")
        if obj.get("kind") not in (None, kind.kind):
            raise bad_request("the kind in the data (%s) does not match the expected kind (%s)"
                              % (obj.get("kind"), kind.kind))
        if obj.get("apiVersion") not in (None, kind.api_version):
            raise bad_request("the API version in the data (%s) does not match the expected API "
                              "version (%s)" % (obj.get("apiVersion"), kind.api_version))
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        causes = []
        if not kind.valid_name(name):
            causes.append(("metadata.name", "FieldValueInvalid", kind.name_message(name)))
        for field in ("labels", "annotations"):
            value = meta.get(field)
            if value is not None and (not isinstance(value, dict) or
                                      not all(isinstance(v, str) for v in value.values())):
                causes.append(("metadata.%s" % field, "FieldValueInvalid",
                               "Invalid value: must be a map of strings"))
        meta["name"] = name
        if kind.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not causes:
            kind.validate(obj, causes)
        if causes:
            raise invalid(kind.kind, name, causes, kind.group)
        obj["kind"] = kind.kind
        obj["apiVersion"] = kind.api_version
        for field in ("labels", "annotations"):
            if meta.get(field) == {}:
                del meta[field]
        return obj

    def _check_namespace(self, kind, ns, name, creating):
        if not kind.namespaced:
            return
        namespace = self.objects["namespaces"].get(("", ns))
        if namespace is None:
            raise not_found("namespaces", ns)
        if creating and (namespace.get("status") or {}).get("phase") == "Terminating":
            raise ApiError(403, "Forbidden",
                           '%s "%s" is forbidden: unable to create new content in namespace %s '
                           'because it is being terminated' % (kind.qualified, name, ns),
                           {"name": name, "group": kind.group, "kind": kind.resource,
                            "causes": [{"reason": "NamespaceTerminating",
                                        "message": "namespace %s is being terminated" % ns,
                                        "field": "metadata.namespace"}]})

    # Reads.
    def get(self, kind, ns, name):
        obj = self.objects[kind.resource].get(self._key(kind, ns, name))
        if obj is None:
            raise not_found(kind.qualified, name)
        return copy.deepcopy(obj)

    def list(self, kind, ns, label_selector, field_selector, limit=None, continue_token=None):
        selector = parse_label_selector(label_selector)
        fields = parse_field_selector(kind, field_selector)
        start = decode_continue(kind, continue_token) if continue_token else None
        objects = self.objects[kind.resource]
        items = []
        for key in sorted(objects):
            if start is not None and key <= start:
                continue
            if ns and key[0] != ns:
                continue
            obj = objects[key]
            if not matches(kind, obj, selector, fields):
                continue
            item = copy.deepcopy(obj)
            item.pop("kind", None)
            item.pop("apiVersion", None)
            items.append(item)
        meta = {"resourceVersion": str(self.rv)}
        page_size = parse_limit(limit)
        if page_size and len(items) > page_size:
            last = items[page_size - 1]["metadata"]
            meta["continue"] = encode_continue(kind, self.rv,
                                               (last.get("namespace", ""), last["name"]))
            meta["remainingItemCount"] = len(items) - page_size
            items = items[:page_size]
        return {"kind": kind.kind + "List", "apiVersion": kind.api_version, "metadata": meta,
                "items": items}

    # Writes.
    def create(self, kind, ns, body, dry_run):
        meta = body.get("metadata") if isinstance(body, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        if kind.namespaced and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
        if not name:
            raise invalid(kind.kind, "", [("metadata.name", "FieldValueRequired",
                                           "Required value: name or generateName is required")],
                          kind.group)
        self._check_namespace(kind, ns, name, creating=True)
        obj = self._normalize(kind, ns, name, copy.deepcopy(body))
        key = self._key(kind, ns, name)
        if key in self.objects[kind.resource]:
            raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (kind.qualified, name),
                           {"name": name, "group": kind.group, "kind": kind.resource}
                           if kind.group else {"name": name, "kind": kind.resource})
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        for field in ("deletionTimestamp", "selfLink", "generation"):
            meta.pop(field, None)
        kind.on_create(obj)
        if dry_run:
            meta["resourceVersion"] = ""
            return obj
        meta["resourceVersion"] = self._bump()
        self.objects[kind.resource][key] = obj
        self._record(kind, ns, "ADDED", None, obj)
        return copy.deepcopy(obj)

    def _update(self, kind, ns, name, old, obj, dry_run):
        """Keeps server-owned fields, checks immutable ones, bumps resourceVersion on change."""
        meta = obj["metadata"]
        old_meta = old["metadata"]
        for field in ("uid", "creationTimestamp"):
            meta[field] = old_meta[field]
        kind.on_update(old, obj)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if obj == old:  # a no-op write does not bump the resourceVersion
            return copy.deepcopy(old)
        if dry_run:
            return obj
        meta["resourceVersion"] = self._bump()
        self.objects[kind.resource][self._key(kind, ns, name)] = obj
        self._record(kind, ns, "MODIFIED", old, obj)
        return copy.deepcopy(obj)

    def replace(self, kind, ns, name, body, dry_run):
        meta = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            raise bad_request("metadata is required")
        if meta.get("name") != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (meta.get("name"), name))
        if kind.namespaced and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        old = self.objects[kind.resource].get(self._key(kind, ns, name))
        if old is None:
            raise not_found(kind.qualified, name)
        want_rv = meta.get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(kind.qualified, name)
        obj = self._normalize(kind, ns, name, copy.deepcopy(body))
        return self._update(kind, ns, name, old, obj, dry_run)

    def patch(self, kind, ns, name, content_type, patch, dry_run):
        old = self.objects[kind.resource].get(self._key(kind, ns, name))
        if content_type == "application/apply-patch+yaml":
            if old is None:
                body = copy.deepcopy(patch) if isinstance(patch, dict) else {}
                body.setdefault("metadata", {})["name"] = name
                return self.create(kind, ns, body, dry_run), 201
            merged = merge_patch(old, patch)
        else:
            if old is None:
                raise not_found(kind.qualified, name)
            if content_type == "application/json-patch+json":
                merged = json_patch(old, patch)
            elif content_type == "application/merge-patch+json":
                merged = merge_patch(old, patch)
            elif content_type == "application/strategic-merge-patch+json":
                merged = merge_patch(old, patch, strategic=True, merge_keys=kind.merge_keys)
            else:
                raise ApiError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted "
                               "media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml, "
                               "application/strategic-merge-patch+json")
        if not isinstance(merged, dict):
            raise bad_request("the patch did not produce an object")
        meta = merged.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if meta.get("name", name) != name:
            raise bad_request("metadata.name: Invalid value: the name may not be changed by a "
                              "patch")
        want_rv = meta.get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(kind.qualified, name)
        obj = self._normalize(kind, ns, name, merged)
        return self._update(kind, ns, name, old, obj, dry_run), 200

    def delete(self, kind, ns, name, options, dry_run):
        key = self._key(kind, ns, name)
        old = self.objects[kind.resource].get(key)
        if old is None:
            raise not_found(kind.qualified, name)
        pre = (options or {}).get("preconditions") or {} if isinstance(options, dict) else {}
        if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
            raise conflict(kind.qualified, name, "Precondition failed: UID in precondition: %s, "
                           "UID in object meta: %s" % (pre["uid"], old["metadata"]["uid"]))
        if pre.get("resourceVersion") and \
                pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise conflict(kind.qualified, name, "Precondition failed: ResourceVersion in "
                           "precondition: %s, ResourceVersion in object meta: %s"
                           % (pre["resourceVersion"], old["metadata"]["resourceVersion"]))
        if kind.resource == "namespaces":
            return self._terminate_namespace(name, old, dry_run)
        if not dry_run:
            self._remove(kind, key)
        details = {"name": name, "kind": kind.resource, "uid": old["metadata"]["uid"]}
        if kind.group:
            details["group"] = kind.group
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": details}

    def _remove(self, kind, key):
        gone = self.objects[kind.resource].pop(key)
        gone["metadata"]["resourceVersion"] = self._bump()  # as the DELETED event carries it
        self._record(kind, key[0], "DELETED", gone, None)

    # Namespaces go through Terminating, as with the real namespace controller.
    def _terminate_namespace(self, name, old, dry_run):
        if dry_run or (old.get("status") or {}).get("phase") == "Terminating":
            return copy.deepcopy(old)
        obj = copy.deepcopy(old)
        obj["metadata"]["deletionTimestamp"] = now_rfc3339()
        obj["status"] = {"phase": "Terminating"}
        obj["metadata"]["resourceVersion"] = self._bump()
        self.objects["namespaces"][("", name)] = obj
        self._record(KINDS["namespaces"], "", "MODIFIED", old, obj)
        uid = obj["metadata"]["uid"]
        if self.termination_seconds <= 0:
            self._finalize_namespace(name, uid)
        else:
            timer = threading.Timer(self.termination_seconds, self.finalize_namespace_locked,
                                    (name, uid))
            timer.daemon = True
            timer.start()
        return copy.deepcopy(obj)

    def finalize_namespace_locked(self, name, uid):
        with self.lock:
            self._finalize_namespace(name, uid)

    def _finalize_namespace(self, name, uid):
        ns = self.objects["namespaces"].get(("", name))
        if ns is None or ns["metadata"]["uid"] != uid:
            return
        for kind in NAMESPACED_KINDS:
            for key in [k for k in self.objects[kind.resource] if k[0] == name]:
                self._remove(kind, key)
        self._remove(KINDS["namespaces"], ("", name))


def parse_limit(limit):
    if limit in (None, ""):
        return 0
    try:
        value = int(limit)
    except ValueError:
        raise bad_request("limit: Invalid value: %r: must be an integer" % limit)
    return max(value, 0)


def encode_continue(kind, rv, key):
    """An opaque token as the API server makes one: base64 of the list's resourceVersion and the
    key after which the next page starts."""
    start = ("/%s/%s/%s\u0000" % ((kind.resource,) + key) if kind.namespaced
             else "/%s/%s\u0000" % (kind.resource, key[1]))
    body = {"v": "meta.k8s.io/v1", "rv": rv, "start": start}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def decode_continue(kind, token):
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        start = body["start"]
        prefix = "/%s/" % kind.resource
        if body.get("v") != "meta.k8s.io/v1" or not start.startswith(prefix):
            raise ValueError(start)
        rest = start[len(prefix):].rstrip("\u0000")
        if not kind.namespaced:
            return ("", rest)
        ns, name = rest.split("/", 1)
        return (ns, name)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise bad_request("continue key is not valid: %r" % token)


# --- selectors ----------------------------------------------------------------------------

LABEL_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


def _check_label_key(key):
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        raise bad_request("unable to parse requirement: key: Invalid value: %r: prefix part must "
                          "be a lowercase RFC 1123 subdomain" % key)
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        raise bad_request("unable to parse requirement: key: Invalid value: %r: name part must "
                          "consist of alphanumeric characters, '-', '_' or '.', and must start "
                          "and end with an alphanumeric character" % key)


def _check_label_value(value):
    if value and (len(value) > 63 or not QUALIFIED_NAME.match(value)):
        raise bad_request("unable to parse requirement: values[0]: Invalid value: %r: a valid "
                          "label must be an empty string or consist of alphanumeric characters, "
                          "'-', '_' or '.', and must start and end with an alphanumeric "
                          "character" % value)


def parse_label_selector(text):
    """[(key, op, values)] for a label selector in the Kubernetes syntax; 400 when malformed."""
    if not text or not text.strip():
        return []
    tokens = []
    pos = 0
    while pos < len(text):
        m = LABEL_TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip() == "":
                break
            raise bad_request("unable to parse requirement: found %r" % text[pos:])
        tokens.append(m.group(1))
        pos = m.end()
        if text[pos:].strip() == "":
            break
    tokens.append(None)
    i = 0

    def expected(what):
        found = tokens[i] if tokens[i] is not None else ""
        return bad_request("unable to parse requirement: found '%s', expected: %s" % (found, what))

    requirements = []
    while True:
        negate = tokens[i] == "!"
        if negate:
            i += 1
        key = tokens[i]
        if key is None or key in ("!=", "==", "=", "!", "(", ")", ",", ">", "<", "in", "notin"):
            raise expected("identifier")
        _check_label_key(key)
        i += 1
        op = tokens[i]
        if negate:
            if op not in (None, ","):
                raise expected("',' or 'end of string'")
            requirements.append((key, "!", None))
        elif op in (None, ","):
            requirements.append((key, "exists", None))
        elif op in ("=", "==", "!="):
            i += 1
            value = tokens[i]
            if value in (None, ","):
                value = ""
                i -= 1
            elif value in ("!=", "==", "=", "!", "(", ")", ">", "<"):
                raise expected("identifier")
            _check_label_value(value)
            requirements.append((key, "!=" if op == "!=" else "=", {value}))
            i += 1
        elif op in ("in", "notin"):
            i += 1
            if tokens[i] != "(":
                raise expected("'('")
            i += 1
            values = set()
            while True:
                value = tokens[i]
                if value in (",", ")"):
                    values.add("")
                elif value is None or value in ("!=", "==", "=", "!", "(", ">", "<"):
                    raise expected("',', ')' or identifier")
                else:
                    _check_label_value(value)
                    values.add(value)
                    i += 1
                if tokens[i] == ",":
                    i += 1
                    continue
                if tokens[i] == ")":
                    i += 1
                    break
                raise expected("',' or ')'")
            if values == {""}:
                raise bad_request("unable to parse requirement: values: Invalid value: []: for "
                                  "'in', 'notin' operators, values set can't be empty")
            requirements.append((key, op, values))
        elif op in (">", "<"):
            i += 1
            value = tokens[i]
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise bad_request("unable to parse requirement: values[0]: Invalid value: %r: for "
                                  "'Gt', 'Lt' operators, the value must be an integer"
                                  % (value or ""))
            requirements.append((key, op, number))
            i += 1
        else:
            raise expected("'=', '!=', '==', 'in', 'notin'")
        if tokens[i] is None:
            break
        if tokens[i] != ",":
            raise expected("',' or 'end of string'")
        i += 1
    return requirements


def label_matches(labels, requirements):
    for key, op, values in requirements:
        has = key in labels
        value = labels.get(key)
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
        if op in ("=", "in") and not (has and value in values):
            return False
        if op in ("!=", "notin") and has and value in values:
            return False
        if op in (">", "<"):
            try:
                number = int(value)
            except (TypeError, ValueError):
                return False
            if (op == ">" and not number > values) or (op == "<" and not number < values):
                return False
    return True


def parse_field_selector(kind, text):
    if not text:
        return []
    terms = []
    for term in text.split(","):
        m = re.match(r"^([^!=]+)(==|=|!=)(.*)$", term.strip())
        if not m:
            raise bad_request("invalid field selector %r" % term)
        field, op, value = m.groups()
        if field not in kind.fields:
            raise bad_request('"%s" is not a known field selector: only %s'
                              % (field, ", ".join('"%s"' % f for f in kind.fields)))
        terms.append((field, op, value))
    return terms


def matches(kind, obj, labels, fields):
    if not label_matches(obj["metadata"].get("labels") or {}, labels):
        return False
    for field, op, value in fields:
        if (kind.field(obj, field) == value) == (op == "!="):
            return False
    return True


# --- output -------------------------------------------------------------------------------

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
    meta = {"resourceVersion": list_rv}
    if continue_token:
        meta["continue"] = continue_token
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [{"name": n, "type": t, "format": f, "description": "", "priority": 0}
                              for n, t, f in kind.columns],
        "rows": [{"cells": kind.cells(o),
                  "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": copy.deepcopy(o["metadata"])}} for o in objects],
    }


def resource_list(group_version, port=None):
    resources = []
    for kind in KINDS.values():
        if kind.api_version != group_version:
            continue
        r = {"name": kind.resource, "singularName": kind.singular, "namespaced": kind.namespaced,
             "kind": kind.kind,
             "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                       "watch"],
             "storageVersionHash": base64.b64encode(kind.resource.encode()).decode()[:12]}
        if kind.short_names:
            r["shortNames"] = kind.short_names
        resources.append(r)
    body = {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}
    if group_version != "v1":
        body["apiVersion"] = "v1"
    return body


COORDINATION_GROUP = {
    "name": "coordination.k8s.io",
    "versions": [{"groupVersion": LEASE_API_VERSION, "version": "v1"}],
    "preferredVersion": {"groupVersion": LEASE_API_VERSION, "version": "v1"}}


# --- requests -----------------------------------------------------------------------------

class RequestInfo:
    """What a resource request asks for, as the API server's authorizer sees it."""

    def __init__(self, kind, namespace, name, subresource, verb, watch):
        self.kind = kind
        self.namespace = namespace  # the namespace object's own name for namespaces/NAME
        self.name = name
        self.subresource = subresource
        self.verb = verb
        self.watch = watch


def request_info(method, path, query):
    """A RequestInfo for a resource URL, or None when the path names no known resource."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch = query.get("watch") in ("1", "true")
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    elif len(rest) == 2 and rest[0] == "namespaces":
        namespace = rest[1]
    if not rest or len(rest) > 3:
        return None
    kind = find_kind(group, version, rest[0])
    if kind is None:
        return None
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method, method.lower())
    if not name and verb == "get":
        verb = "watch" if watch else "list"
    elif not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(kind, namespace, name, subresource, verb, watch)


def forbidden(info, user):
    kind = info.kind
    subject = '%s "%s"' % (kind.qualified, info.name) if info.name else kind.qualified
    where = ('in the namespace "%s"' % info.namespace if info.namespace
             else "at the cluster scope")
    details = {"name": info.name, "kind": kind.resource} if info.name else {"kind": kind.resource}
    if kind.group:
        details["group"] = kind.group
    return ApiError(403, "Forbidden", '%s is forbidden: User "%s" cannot %s resource "%s" in API '
                    'group "%s" %s' % (subject, user, info.verb, kind.resource, kind.group, where),
                    details)


def rule_forbids(rule, info, token):
    if rule.get("namespaces") and info.namespace not in rule["namespaces"]:
        return False
    verbs = rule.get("verbs") or WRITE_VERBS
    if "*" not in verbs and info.verb not in verbs:
        return False
    resources = rule.get("resources")
    if resources:
        if "*" not in resources and info.kind.resource not in resources:
            return False
    elif info.kind.resource == "namespaces":
        return False
    if rule.get("tokens") and token not in rule["tokens"]:
        return False
    return True


def parse_forbid_flag(text):
    """NS[:verb,verb...] -> a forbid rule."""
    namespace, _, verbs = text.partition(":")
    rule = {"namespaces": [namespace]}
    if verbs:
        rule["verbs"] = verbs.split(",")
    return rule


# --- HTTP ---------------------------------------------------------------------------------

class Emulator:
    def __init__(self, args):
        self.args = args
        namespaces = [("default", {}), ("kube-system", {}), ("kube-public", {})]
        for spec in args.namespace or []:
            name, *labels = spec.split(",")
            namespaces.append((name, dict(label.split("=", 1) for label in labels)))
        self.store = Store(namespaces, args.watch_history, args.namespace_termination_seconds)
        self.tokens = set(args.token or [])
        self.readonly_tokens = set(args.readonly_token or [])
        self.namespaced_tokens = set(args.namespaced_token or [])
        self.forbid_rules = [parse_forbid_flag(f) for f in args.forbid or []]
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

    def bearer(self):
        auth = self.headers.get("Authorization") or ""
        return auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None

    def user(self):
        """(name, may write, may list namespaced kinds at the cluster scope), or None."""
        token = self.bearer()
        if token is not None:
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

    def authorize(self, who, info):
        if info is None:
            return
        if not who[1] and info.verb in WRITE_VERBS:
            raise forbidden(info, who[0])
        if not who[2] and info.kind.namespaced and not info.namespace and \
                info.verb in ("list", "watch"):
            raise forbidden(info, who[0])
        with self.emu.admin_lock:
            rules = list(self.emu.forbid_rules)
        token = self.bearer()
        if any(rule_forbids(rule, info, token) for rule in rules):
            raise forbidden(info, who[0])

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
            info = request_info(method, path, query)
            self.authorize(who, info)
            if info is not None and info.watch and method == "GET":
                entry["status"] = self.watch(info, query)
                return
            code, body = self.api(method, path, query, raw, info)
            entry["status"] = self.send_json(code, body)
        except ApiError as e:
            entry["status"] = self.send_json(e.code, e.body)
        except (ConnectionError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # a bug in the emulator: still answer like a server
            entry["status"] = self.send_json(500, status_body(500, "InternalError",
                                                              "emulator error: %r" % e))

    def touch(self, path):
        info = request_info("PUT", path, {})
        if info is None or not info.name:
            return
        store = self.emu.store
        with store.lock:
            key = (info.namespace if info.kind.namespaced else "", info.name)
            old = store.objects[info.kind.resource].get(key)
            if old is not None:
                obj = copy.deepcopy(old)
                ann = obj["metadata"].setdefault("annotations", {})
                ann["k8s-emulator/touched"] = str(int(ann.get("k8s-emulator/touched", "0")) + 1)
                obj["metadata"]["resourceVersion"] = store._bump()
                store.objects[info.kind.resource][key] = obj
                store._record(info.kind, key[0], "MODIFIED", old, obj)

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
        if path == "/_emulator/forbid":
            with emu.admin_lock:
                if method == "DELETE":
                    emu.forbid_rules.clear()
                    return self.send_json(200, {"cleared": True})
                if method == "POST":
                    rule = self.parse_json(raw)
                    if not isinstance(rule, dict) or not all(
                            isinstance(rule.get(k, []), list)
                            for k in ("namespaces", "verbs", "resources", "tokens")):
                        raise bad_request("a forbid rule is an object of lists: namespaces, "
                                          "verbs, resources, tokens")
                    emu.forbid_rules.append(rule)
                    return self.send_json(201, rule)
                return self.send_json(200, emu.forbid_rules)
        if path == "/_emulator/settings" and method == "POST":
            body = self.parse_json(raw) or {}
            with emu.store.lock:
                if "namespaceTerminationSeconds" in body:
                    emu.store.termination_seconds = float(body["namespaceTerminationSeconds"])
                return self.send_json(200, {
                    "namespaceTerminationSeconds": emu.store.termination_seconds})
        if path == "/_emulator/finalize" and method == "POST":
            name = (self.parse_json(raw) or {}).get("namespace", "")
            store = emu.store
            with store.lock:
                ns = store.objects["namespaces"].get(("", name))
                if ns is None:
                    raise not_found("namespaces", name)
                if (ns.get("status") or {}).get("phase") != "Terminating":
                    raise conflict("namespaces", name, "the namespace is not being terminated")
                store._finalize_namespace(name, ns["metadata"]["uid"])
                return self.send_json(200, {"finalized": name})
        if path == "/_emulator/compact" and method == "POST":
            with emu.store.lock:
                emu.store.compact()
                return self.send_json(200, {"compacted": str(emu.store.rv)})
        if path == "/_emulator/state":
            store = emu.store
            with store.lock:
                objects = {r: [store.objects[r][k] for k in sorted(store.objects[r])]
                           for r in KINDS}
                return self.send_json(200, {
                    "resourceVersion": str(store.rv),
                    "namespaces": [o["metadata"]["name"] for o in objects["namespaces"]],
                    "namespaceObjects": objects["namespaces"],
                    "secrets": objects["secrets"],
                    "serviceaccounts": objects["serviceaccounts"],
                    "leases": objects["leases"]})
        raise ApiError(404, "NotFound", "no admin endpoint %s %s" % (method, path))

    def wants_table(self):
        return "as=Table" in (self.headers.get("Accept") or "")

    def api(self, method, path, query, raw, info):
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
            return 200, resource_list("v1")
        if path == "/apis" and method == "GET":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1",
                         "groups": [COORDINATION_GROUP]}
        if path == "/apis/coordination.k8s.io" and method == "GET":
            return 200, dict(kind="APIGroup", apiVersion="v1", **COORDINATION_GROUP)
        if path == "/apis/" + LEASE_API_VERSION and method == "GET":
            return 200, resource_list(LEASE_API_VERSION)
        if path in ("/healthz", "/livez", "/readyz") and method == "GET":
            return 200, "ok"
        if info is None or info.subresource:
            if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method "
                               "on the requested resource")
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        kind = info.kind
        ns = info.namespace if kind.namespaced else ""
        with store.lock:
            if not info.name:
                if method == "GET":
                    result = store.list(kind, ns, query.get("labelSelector"),
                                        query.get("fieldSelector"), query.get("limit"),
                                        query.get("continue"))
                    if not self.wants_table():
                        return 200, result
                    return 200, to_table(kind, result["items"],
                                         result["metadata"]["resourceVersion"],
                                         result["metadata"].get("continue"))
                if method == "POST" and (ns or not kind.namespaced):
                    return 201, store.create(kind, ns, self.parse_json(raw) or {}, dry_run)
            else:
                name = info.name
                if method == "GET":
                    obj = store.get(kind, ns, name)
                    if self.wants_table():
                        return 200, to_table(kind, [obj], obj["metadata"]["resourceVersion"])
                    return 200, obj
                if method == "PUT":
                    return 200, store.replace(kind, ns, name, self.parse_json(raw) or {}, dry_run)
                if method == "PATCH":
                    ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                    obj, code = store.patch(kind, ns, name, ctype, self.parse_json(raw), dry_run)
                    return code, obj
                if method == "DELETE":
                    return 200, store.delete(kind, ns, name, self.parse_json(raw), dry_run)
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource")
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # --- watch ----------------------------------------------------------------------------

    def watch(self, info, query):
        """Streams watch events until timeoutSeconds, the client going, or an expired history."""
        kind = info.kind
        store = self.emu.store
        ns = info.namespace if kind.namespaced else ""
        name = info.name
        table = self.wants_table()
        try:
            timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        except ValueError:
            raise bad_request("timeoutSeconds: Invalid value: %r: must be an integer"
                              % query.get("timeoutSeconds"))
        deadline = time.monotonic() + max(timeout, 0)
        field_text = query.get("fieldSelector") or ""
        if name:  # the legacy /watch/.../NAME form
            field_text = ",".join(t for t in (field_text, "metadata.name=" + name) if t)
        with store.lock:
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(kind, field_text)
            rv_text = query.get("resourceVersion") or ""
            initial = []
            if rv_text in ("", "0"):
                last = store.rv
                initial = [o for k, o in sorted(store.objects[kind.resource].items())
                           if (not ns or k[0] == ns) and matches(kind, o, labels, fields)]
                initial = [("ADDED", copy.deepcopy(o)) for o in initial]
            else:
                try:
                    last = int(rv_text)
                except ValueError:
                    raise bad_request("resourceVersion: Invalid value: %r: must be an integer"
                                      % rv_text)
        self.record(200)
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            self.send_events(kind, initial, table)
            while True:
                expired = None
                events = []
                with store.lock:
                    if last < store.compacted:
                        expired = store.compacted
                    else:
                        events = [e for e in store.events if e.rv > last and e.resource ==
                                  kind.resource and (not ns or e.namespace == ns)]
                        if not events and any(e.rv > last for e in store.events):
                            last = store.events[-1].rv
                        if not events:
                            remaining = deadline - time.monotonic()
                            if remaining <= 0:
                                break
                            store.changed.wait(min(remaining, 0.5))
                if expired is not None:
                    self.send_chunk({"type": "ERROR", "object": status_body(
                        410, "Expired", "too old resource version: %d (%d)" % (last, expired))})
                    break
                if events:
                    last = events[-1].rv
                    self.send_events(kind, [ev for e in events
                                            for ev in watch_view(kind, e, labels, fields)], table)
                elif self.client_gone():
                    return 200
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        return 200

    def send_events(self, kind, events, table):
        for event_type, obj in events:
            if table:
                obj = to_table(kind, [obj], obj["metadata"]["resourceVersion"])
            else:
                obj = dict(obj, kind=kind.kind, apiVersion=kind.api_version)
            self.send_chunk({"type": event_type, "object": obj})

    def send_chunk(self, event):
        data = json.dumps(event).encode("utf-8") + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def client_gone(self):
        """True when the watching client closed its end (it sends nothing while it watches)."""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            sock.settimeout(0)
            try:
                return sock.recv(1) == b""
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return False
            finally:
                sock.settimeout(None)
        except (OSError, ValueError):
            return True


def watch_view(kind, event, labels, fields):
    """The events one watcher with these selectors sees for one change: an object that starts
    matching is ADDED, one that stops matching is DELETED (its last matching state)."""
    was = event.old is not None and matches(kind, event.old, labels, fields)
    now = event.new is not None and matches(kind, event.new, labels, fields)
    if was and now:
        return [("MODIFIED", event.new)]
    if now:
        return [("ADDED", event.new)]
    if was:
        gone = copy.deepcopy(event.old)
        gone["metadata"]["resourceVersion"] = str(event.rv)
        return [("DELETED", gone)]
    return []


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
                             "listing or watching namespaced kinds at the cluster scope")
    parser.add_argument("--namespace", action="append",
                        help="an extra namespace, NAME or NAME,key=value,... with labels "
                             "(default, kube-system, kube-public always exist)")
    parser.add_argument("--namespace-termination-seconds", type=float, default=0.0,
                        help="how long a deleted namespace stays Terminating (default 0)")
    parser.add_argument("--watch-history", type=int, default=1000,
                        help="how many events a watch may resume from (older: 410 Expired)")
    parser.add_argument("--forbid", action="append",
                        help="NS[:verb,...]: 403 Forbidden for those verbs (default: writes) "
                             "on every resource in namespace NS, for every token")
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
