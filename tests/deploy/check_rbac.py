#!/usr/bin/env python3
"""The RBAC of deploy/: what crtoken's ServiceAccount may do, rendered offline and evaluated.

Renders deploy/kubernetes and the fan-out overlays (deploy/overlays/fanout, cluster-wide for a
namespaceSelector; deploy/overlays/fanout-namespaces, a fixed namespace list with the least
privilege) with `kubectl kustomize`, resolves every binding of the ServiceAccount crtoken/crtoken
to its rules as the API server's authorizer does (a ClusterRoleBinding grants everywhere, a
RoleBinding only in its own namespace), and checks what each variant allows and refuses.

Usage: check_rbac.py SOURCE_DIR
"""

import os
import subprocess
import sys

import yaml

SUBJECT = ("crtoken", "crtoken")  # the ServiceAccount's namespace and name
ANYWHERE = "a-namespace-created-tomorrow"
FANOUT_VERBS = {
    "namespaces": {"get", "list", "watch"},
    "secrets": {"get", "list", "watch", "create", "update", "patch", "delete"},
    "serviceaccounts": {"get", "list", "watch", "update", "patch"},
}
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
ALL_VERBS = {"get", "list", "watch"} | WRITES
CLUSTER_SCOPED = {"namespaces"}

failures = []


def check(description, ok):
    print("%s %s" % ("ok  " if ok else "FAIL", description))
    if not ok:
        failures.append(description)


def render(source_dir, path):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(source_dir, path)],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        check("kubectl kustomize %s renders (%s)" % (path, out.stderr.strip()), False)
        return []
    return [d for d in yaml.safe_load_all(out.stdout) if d]


class Grants:
    """The rules bound to SUBJECT: [(scope, rule)], scope None = every namespace and the
    cluster scope."""

    def __init__(self, docs):
        self.docs = docs
        roles = {}
        for d in docs:
            meta = d.get("metadata") or {}
            if d["kind"] == "ClusterRole":
                roles[("ClusterRole", None, meta["name"])] = d.get("rules") or []
            elif d["kind"] == "Role":
                roles[("Role", meta.get("namespace"), meta["name"])] = d.get("rules") or []
        self.bound = []
        self.cluster_rules = []
        for d in docs:
            if d["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
                continue
            if not any(s.get("kind") == "ServiceAccount" and
                       (s.get("namespace"), s.get("name")) == SUBJECT
                       for s in d.get("subjects") or []):
                continue
            ref = d["roleRef"]
            scope = None if d["kind"] == "ClusterRoleBinding" else d["metadata"].get("namespace")
            key = (ref["kind"], None if ref["kind"] == "ClusterRole" else scope, ref["name"])
            rules = roles.get(key)
            check("%s %s refers to an existing %s %s" % (d["kind"], d["metadata"]["name"],
                                                         ref["kind"], ref["name"]),
                  rules is not None)
            for rule in rules or []:
                self.bound.append((scope, rule))
                if scope is None:
                    self.cluster_rules.append(rule)

    def can(self, verb, resource, namespace=None, group=""):
        """namespace None: the cluster scope (a cluster-scoped kind, or across namespaces)."""
        for scope, rule in self.bound:
            if scope is not None and (namespace is None or resource in CLUSTER_SCOPED or
                                      scope != namespace):
                continue
            if group not in rule.get("apiGroups", []) and "*" not in rule.get("apiGroups", []):
                continue
            if resource not in rule.get("resources", []) and "*" not in rule.get("resources", []):
                continue
            if verb not in rule.get("verbs", []) and "*" not in rule.get("verbs", []):
                continue
            if rule.get("resourceNames"):
                continue  # no request of crtoken's is limited to a name list
            return True
        return False

    def allowed(self, resource, namespace=None, group=""):
        return {v for v in ALL_VERBS if self.can(v, resource, namespace, group)}


def no_wildcards(name, grants):
    check("%s: no wildcard in any rule" % name,
          not any("*" in rule.get(f, []) for _, rule in grants.bound
                  for f in ("apiGroups", "resources", "verbs")))
    resources = {r for _, rule in grants.bound for r in rule.get("resources", [])}
    check("%s: rules name only secrets, namespaces, serviceaccounts, leases (got %s)"
          % (name, sorted(resources)),
          resources <= {"secrets", "namespaces", "serviceaccounts", "leases"})
    check("%s: leases only in crtoken's namespace" % name,
          not grants.allowed("leases", ANYWHERE, "coordination.k8s.io") and
          grants.allowed("leases", "crtoken", "coordination.k8s.io") == {"get", "create",
                                                                         "update"})


def fmt(verbs):
    return " ".join(sorted(verbs)) or "nothing"


def main(source_dir):
    base = Grants(render(source_dir, "deploy/kubernetes"))
    no_wildcards("base", base)
    check("base: no rights on namespaces or serviceaccounts (got %s, %s)"
          % (fmt(base.allowed("namespaces")), fmt(base.allowed("serviceaccounts", ANYWHERE))),
          not base.allowed("namespaces") and not base.allowed("serviceaccounts", ANYWHERE))
    check("base: no write outside crtoken's namespace (got %s)"
          % fmt(base.allowed("secrets", ANYWHERE) & WRITES),
          not base.allowed("secrets", ANYWHERE) & WRITES)

    # Cluster-wide fan-out: a selector may match any namespace, also one created later.
    fanout = Grants(render(source_dir, "deploy/overlays/fanout"))
    no_wildcards("fanout", fanout)
    for resource, want in FANOUT_VERBS.items():
        where = None if resource in CLUSTER_SCOPED else ANYWHERE
        got = fanout.allowed(resource, where)
        check("fanout: %s in any namespace: exactly %s (got %s)" % (resource, fmt(want), fmt(got)),
              got == want)
        if where is not None:
            got = fanout.allowed(resource, None)
            check("fanout: %s listed and watched across namespaces (got %s)" % (resource, fmt(got)),
                  {"list", "watch"} <= got)
    check("fanout: the base is kept (the Lease, the Deployment)",
          any(d["kind"] == "Deployment" for d in fanout.docs))

    # A fixed namespace list: writes only there; the cluster scope reads only.
    fixed = Grants(render(source_dir, "deploy/overlays/fanout-namespaces"))
    no_wildcards("fanout-namespaces", fixed)
    cluster_writes = {(r, v) for rule in fixed.cluster_rules for r in rule.get("resources", [])
                      for v in rule.get("verbs", []) if v in WRITES}
    check("fanout-namespaces: no ClusterRoleBinding grants a write (got %s)"
          % sorted(cluster_writes), not cluster_writes)
    targets = sorted({d["metadata"]["namespace"] for d in fixed.docs
                      if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == "crtoken-fanout"})
    check("fanout-namespaces: target namespaces bound (got %s)" % targets, len(targets) >= 2)
    for ns in targets:
        for resource in ("secrets", "serviceaccounts"):
            got = fixed.allowed(resource, ns)
            check("fanout-namespaces: %s in %s: what fan-out needs, %s (got %s)"
                  % (resource, ns, fmt(FANOUT_VERBS[resource]), fmt(got)),
                  got == FANOUT_VERBS[resource])
    for resource in ("secrets", "serviceaccounts"):
        got = fixed.allowed(resource, ANYWHERE) & WRITES
        check("fanout-namespaces: no write of %s in a namespace not listed (got %s)"
              % (resource, fmt(got)), not got)
    got = fixed.allowed("namespaces")
    check("fanout-namespaces: namespaces get list watch only (got %s)" % fmt(got),
          got == FANOUT_VERBS["namespaces"])
    for resource in ("secrets", "serviceaccounts"):
        got = fixed.allowed(resource, None)
        check("fanout-namespaces: %s listed across namespaces (got %s)" % (resource, fmt(got)),
              "list" in got)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
