#!/bin/sh
# The wings of daemon/ depend on each other in one direction only (see daemon/CMakeLists.txt):
#   common: only common;  specs, registry, kube: themselves and common;
#   sinks: itself, kube and common;  app: anything.
# Nothing outside daemon/app includes daemon/app/ (the CLI's options, the composition root), and
# reconciler/ and emulator/ include nothing of daemon/. The build cannot see a header-only
# dependency (an include path is the repository root for every target), so this test reads the
# #include lines.
#
# Usage: wings_test.sh SOURCE_DIR
# Exits 1 and prints each offending include as FILE:LINE:TEXT.
set -u
src=${1:?usage: wings_test.sh SOURCE_DIR}
cd "$src" || exit 2

fail=0
# check FOLDER ALLOWED_REGEX: every '#include "daemon/..."' in FOLDER must match ALLOWED_REGEX.
check() {
  folder=$1
  allowed=$2
  [ -d "$folder" ] || { echo "missing folder $folder"; fail=1; return; }
  hits=$(grep -rn -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"daemon/' "$folder" \
           --include='*.h' --include='*.cc' | grep -v -E "#[[:space:]]*include[[:space:]]+\"($allowed)")
  if [ -n "$hits" ]; then
    echo "$folder may include only $allowed of daemon/:"
    echo "$hits"
    fail=1
  fi
}

check daemon/common 'daemon/common/'
check daemon/specs 'daemon/(specs|common)/'
check daemon/registry 'daemon/(registry|common)/'
check daemon/kube 'daemon/(kube|common)/'
check daemon/sinks 'daemon/(sinks|kube|common)/'
check reconciler 'no-daemon-include-is-allowed/'
check emulator 'no-daemon-include-is-allowed/'

[ "$fail" = 0 ] && echo "wings: every include of daemon/ goes in the allowed direction"
exit "$fail"
