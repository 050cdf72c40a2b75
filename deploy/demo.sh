#!/usr/bin/env bash
# `make demo` (./deploy/demo.sh BUILD_DIR). For now it checks the example specs offline; the daemon
# against the bundled emulator joins with issue 6.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
crtoken="$build_dir/daemon/crtoken"
[ -x "$crtoken" ] || { echo "demo: $crtoken not found; run make build first" >&2; exit 1; }

echo "== crtoken validate manifests/examples"
"$crtoken" validate manifests/examples
echo
echo "== the same check catching a mistake (a copy with a typo, in a temp dir)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed 's/actions: \[pull, push\]/actions: [pull, pusj]/; s/^  registry:/  registy:/' \
  manifests/examples/ci-push.yaml > "$tmp/ci-push.yaml"
if "$crtoken" validate "$tmp/ci-push.yaml"; then
  echo "demo: the broken copy passed validation" >&2
  exit 1
fi
echo
echo "The daemon demo (crtoken run against crtoken-emulator) comes with issue 6."
