#!/usr/bin/env bash
# Every shared library the built binaries load must come from a package the Dockerfile's runtime
# stage installs (or one of their dependencies, or the base image's essentials), so the slim image
# can run them. Offline: ldd, dpkg -S and the local apt cache.
# Usage: check_runtime_libs.sh DOCKERFILE BINARY...
set -euo pipefail
dockerfile=$1
shift
# The package list of the runtime stage's apt-get install.
listed=$(awk '/^FROM .* AS runtime/{r=1} r&&/apt-get install/{i=1} i{print} i&&!/\\$/{i=0}' "$dockerfile" |
  tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
  grep -vE '^(apt-get|install|rm|DEBIAN_FRONTEND|update|-y)$' | sort -u)
[ -n "$listed" ] || { echo "FAIL no runtime packages found in $dockerfile"; exit 1; }
# Their dependencies, recursively, plus what every Debian image has.
allowed=$( { echo "$listed"; printf '%s\n' libc6 libgcc-s1 libstdc++6 zlib1g;
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $listed 2>/dev/null | grep -E '^[a-z0-9]' ; } | sed 's/:.*//' | sort -u)
fail=0
for bin in "$@"; do
  for lib in $(ldd "$bin" | awk '/=>/{print $3}'); do
    pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1 || true)
    [ -z "$pkg" ] && pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1 || true)
    if [ -z "$pkg" ]; then
      echo "FAIL $(basename "$bin"): $lib belongs to no package"
      fail=1
    elif grep -qx "$pkg" <<<"$allowed"; then
      echo "ok   $(basename "$bin"): $(basename "$lib") from $pkg"
    else
      echo "FAIL $(basename "$bin"): $(basename "$lib") from $pkg, which the runtime stage lacks"
      fail=1
    fi
  done
done
exit $fail
