#!/usr/bin/env bash
# Renders deploy/kubernetes and deploy/sidecar with `kubectl kustomize` (offline) and checks the
# kinds, the probes, the security context, high availability (replicas, rollout, anti-affinity,
# disruption budget, Lease RBAC), and that the specs ConfigMap carries every spec of the Deployment.
# Usage: check_kustomize.sh SOURCE_DIR CRTOKEN_BINARY
set -euo pipefail
src=$1
crtoken=$2
fail=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}

kubectl kustomize "$src/deploy/kubernetes" >"$out/cluster.yaml"
kubectl kustomize "$src/deploy/sidecar" >"$out/sidecar.yaml"

kinds=$(grep -E '^kind: ' "$out/cluster.yaml" | sort | uniq | awk '{print $2}' | tr '\n' ' ')
want="ClusterRole ClusterRoleBinding ConfigMap Deployment Namespace PodDisruptionBudget Role RoleBinding Service ServiceAccount ServiceMonitor "
check "cluster kinds are [$want] (got [$kinds])" test "$kinds" = "$want"

has() { grep -qE -- "$1" "$out/${2:-cluster.yaml}"; }
check "liveness probe on /healthz" has 'path: /healthz'
check "readiness probe on /readyz" has 'path: /readyz'
check "read-only root filesystem" has 'readOnlyRootFilesystem: true'
check "runs as non-root" has 'runAsNonRoot: true'
check "drops all capabilities" has '- ALL'
check "no privilege escalation" has 'allowPrivilegeEscalation: false'
check "seccomp RuntimeDefault" has 'type: RuntimeDefault'
check "resources set" has 'memory: 128Mi'
check "credentials from a Secret" has 'name: crtoken-api-credentials'
check "metrics Service port 9464" has 'port: 9464'
check "everything namespaced crtoken" has 'namespace: crtoken'
# Each RBAC document alone (documents are separated by ---).
doc() {  # doc KIND NAME: the document of that kind and metadata.name
  awk -v kind="$1" -v name="$2" 'BEGIN{RS="---\n"} $0 ~ "\nkind: " kind "\n" && $0 ~ "\n  name: " name "\n" {print}' \
    "$out/cluster.yaml"
}
doc ClusterRole crtoken-secret-writer >"$out/writer.yaml"
doc ClusterRole crtoken-secret-lister >"$out/lister.yaml"
verbs() { awk '/verbs:/{v=1;next} v&&/^  - /{print $2;next} {v=0}' "$1" | tr '\n' ' '; }
resources() { awk '/resources:/{v=1;next} v&&/^  - /{print $2;next} {v=0}' "$1" | tr '\n' ' '; }
for role in writer lister; do
  check "ClusterRole crtoken-secret-$role found" test -s "$out/$role.yaml"
  check "RBAC $role grants no wildcard" bash -c "! grep -q '\\*' '$out/$role.yaml'"
  check "RBAC $role resources are secrets only (got [$(resources "$out/$role.yaml")])" \
    test "$(resources "$out/$role.yaml")" = "secrets "
done
check "RBAC writer verbs are get create update patch delete (got [$(verbs "$out/writer.yaml")])" \
  test "$(verbs "$out/writer.yaml")" = "get create update patch delete "
check "RBAC lister verbs are list only (got [$(verbs "$out/lister.yaml")])" \
  test "$(verbs "$out/lister.yaml")" = "list "
# The one cluster-wide grant: the ClusterRoleBinding binds the lister (list secrets), nothing else.
check "one ClusterRoleBinding" test "$(grep -c '^kind: ClusterRoleBinding' "$out/cluster.yaml")" = 1
doc ClusterRoleBinding crtoken-secret-lister >"$out/binding.yaml"
check "the ClusterRoleBinding binds crtoken-secret-lister only" \
  bash -c "grep -A3 '^roleRef:' '$out/binding.yaml' | grep -q '  name: crtoken-secret-lister\$'"
doc RoleBinding crtoken-secret-writer >"$out/rolebinding.yaml"
check "the writer is bound per namespace (a RoleBinding)" test -s "$out/rolebinding.yaml"

# High availability: two replicas electing a leader, rolled one at a time, kept apart, never both
# evicted, and allowed to use their Lease.
check "two replicas" has '^  replicas: 2$'
check "RollingUpdate, a new pod before an old one goes" \
  bash -c "grep -B4 '^    type: RollingUpdate' '$out/cluster.yaml' | grep -q 'maxUnavailable: 0'"
check "run --leader-elect" has '^        - --leader-elect$'
check "pod anti-affinity across nodes" \
  bash -c "grep -A4 'podAntiAffinity:' '$out/cluster.yaml' | grep -q . && grep -q 'topologyKey: kubernetes.io/hostname' '$out/cluster.yaml'"
doc PodDisruptionBudget crtoken >"$out/pdb.yaml"
check "a PodDisruptionBudget with minAvailable 1" grep -q '^  minAvailable: 1$' "$out/pdb.yaml"
check "the PodDisruptionBudget selects the operator's pods" \
  bash -c "grep -q 'app.kubernetes.io/component: operator' '$out/pdb.yaml'"
doc Role crtoken-leader-election >"$out/lease-role.yaml"
check "Role crtoken-leader-election found" test -s "$out/lease-role.yaml"
check "Lease RBAC: apiGroup coordination.k8s.io" grep -q -- '- coordination.k8s.io' "$out/lease-role.yaml"
check "Lease RBAC: resources are leases only (got [$(resources "$out/lease-role.yaml")])" \
  test "$(resources "$out/lease-role.yaml")" = "leases "
check "Lease RBAC verbs are get create update (got [$(verbs "$out/lease-role.yaml")])" \
  test "$(verbs "$out/lease-role.yaml")" = "get create update "
doc RoleBinding crtoken-leader-election >"$out/lease-binding.yaml"
check "the Lease Role is bound in crtoken's namespace" \
  bash -c "grep -q '^  namespace: crtoken$' '$out/lease-binding.yaml' && grep -A3 '^roleRef:' '$out/lease-binding.yaml' | grep -q 'kind: Role$'"

# Every spec of deploy/kubernetes/specs is in the ConfigMap; none writes a secret file (refused
# with --leader-elect).
n_specs=$(find "$src/deploy/kubernetes/specs" -name '*.yaml' -o -name '*.yml' | wc -l)
n_keys=$(grep -cE '^  [A-Za-z0-9._-]+\.ya?ml: \|' "$out/cluster.yaml" || true)
check "ConfigMap holds all $n_specs specs of deploy/kubernetes/specs (has $n_keys)" \
  test "$n_specs" = "$n_keys"
check "no spec of the Deployment writes a secret file" \
  bash -c "! grep -qE '^ +file:' '$out/cluster.yaml'"

sidecar_kinds=$(grep -E '^kind: ' "$out/sidecar.yaml" | sort | awk '{print $2}' | tr '\n' ' ')
check "sidecar kinds [ConfigMap Pod ] (got [$sidecar_kinds])" test "$sidecar_kinds" = "ConfigMap Pod "
check "sidecar shares an emptyDir" has 'emptyDir' sidecar.yaml
check "sidecar runs crtoken as a native sidecar" has 'restartPolicy: Always' sidecar.yaml
check "sidecar runs without election (one crtoken per pod)" \
  bash -c "! grep -q -- '--leader-elect' '$out/sidecar.yaml'"

if [ -x "$crtoken" ]; then
  check "sidecar specs validate" "$crtoken" validate "$src/deploy/sidecar/specs"
  check "example specs validate" "$crtoken" validate "$src/manifests"
  check "the Deployment's specs validate" "$crtoken" validate "$src/deploy/kubernetes/specs"
fi
exit $fail
