#!/usr/bin/env bash
# make demo: crtoken-emulator with two registries (acme-prod, acme-dev) on a free loopback port,
# and `crtoken run` on manifests/examples/ writing secrets under demo/secrets/. Edit a file under manifests/examples/ while it runs and watch it reconcile.
# Ctrl-C stops both cleanly.
#
# Usage: deploy/demo.sh [BUILD_DIR]   (make demo builds first, then calls this)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
crtoken="$build/daemon/crtoken"
emulator="$build/emulator/crtoken-emulator"
for bin in "$crtoken" "$emulator"; do
  [ -x "$bin" ] || { echo "demo: $bin is missing; run 'make demo' (it builds first)" >&2; exit 1; }
done

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_free() {
  python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $1))" 2>/dev/null
}
emu_port=$(free_port)
# The documented defaults when they are free, else any free port.
metrics_port=9464; port_free $metrics_port || metrics_port=$(free_port)
health_port=8081; port_free $health_port || health_port=$(free_port)

demo="$root/demo"
# The emulator starts empty, so the secrets of an earlier demo would only describe tokens that no
# longer exist: start afresh.
rm -rf "$demo/state" "$demo/secrets"
mkdir -p "$demo/secrets"

emu_pid=""
crtoken_pid=""
cleanup() {
  trap - INT TERM EXIT
  # Output may go to a pipe that the same Ctrl-C closed (make demo | tee): never die on it, and
  # stop the children whatever happens.
  trap '' PIPE
  set +e
  echo
  echo "demo: stopping crtoken (SIGTERM: it finishes work in flight) and the emulator"
  if [ -n "$crtoken_pid" ] && kill -0 "$crtoken_pid" 2>/dev/null; then
    kill -TERM "$crtoken_pid" 2>/dev/null || true
    wait "$crtoken_pid" 2>/dev/null && echo "demo: crtoken exited cleanly" ||
      echo "demo: crtoken exited with status $?"
  fi
  if [ -n "$emu_pid" ] && kill -0 "$emu_pid" 2>/dev/null; then
    kill -TERM "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
  echo "demo: stopped. Secrets stay in $demo/secrets"
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

# setsid: the terminal's Ctrl-C reaches only this script, which then stops each child once, in
# order (crtoken first, so that no request is cut off by the emulator going away).
setsid "$emulator" --listen "127.0.0.1:$emu_port" --registry acme-prod --registry acme-dev \
  >"$demo/emulator.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$emu_port/_emulator/state" >/dev/null 2>&1 && break
  kill -0 "$emu_pid" 2>/dev/null || { echo "demo: the emulator failed:"; cat "$demo/emulator.log"; exit 1; }
  sleep 0.1
done

export IONOS_TOKEN=demo-token  # the emulator accepts any credential unless told otherwise
setsid "$crtoken" run \
  --specs "$root/manifests/examples" \
  --api-url "http://127.0.0.1:$emu_port/containerregistries" \
  --secret-dir "$demo/secrets" \
  --metrics-addr "127.0.0.1:$metrics_port" \
  --health-addr "127.0.0.1:$health_port" \
  --resync 30s \
  --debounce 50ms &
crtoken_pid=$!

ready=no
for _ in $(seq 300); do
  if curl -fsS "http://127.0.0.1:$health_port/readyz" >/dev/null 2>&1; then ready=yes; break; fi
  kill -0 "$crtoken_pid" 2>/dev/null || { echo "demo: crtoken exited early" >&2; exit 1; }
  sleep 0.1
done

cat <<BANNER

============================================================================================
 crtoken demo is running$([ $ready = yes ] && echo " (first pass done: ready)" || echo " (not ready yet)")
   emulator   http://127.0.0.1:$emu_port/containerregistries  (registries acme-prod, acme-dev)
   metrics    http://127.0.0.1:$metrics_port/metrics
   health     http://127.0.0.1:$health_port/healthz   http://127.0.0.1:$health_port/readyz
   secrets    $demo/secrets/   (dockerconfigjson, mode 0600)
   specs      $root/manifests/examples/

 Try, in another terminal:
   ls -l $demo/secrets $demo/secrets/teams
   curl -s http://127.0.0.1:$metrics_port/metrics | grep '^crtoken_'
   curl -s http://127.0.0.1:$emu_port/_emulator/state | python3 -m json.tool
   sed -i 's/status: disabled/status: enabled/' $root/manifests/examples/legacy-deploy.yaml
     (reconciled within a second: watch the log below; undo with git checkout manifests/)
 Ctrl-C stops both.
============================================================================================

BANNER

# Wait for crtoken; Ctrl-C runs cleanup.
status=0
wait "$crtoken_pid" || status=$?
crtoken_pid=""
echo "demo: crtoken stopped on its own (status $status)"
exit "$status"
