#!/usr/bin/env bash
# Print the path of an arm64 static busybox taken from Debian's busybox-static:arm64 package
# (the arm64 architecture is added to dpkg for the download; nothing of arm64 is installed).
set -euo pipefail
out=${DOCKYARD_CACHE:-/var/cache/dockyard}/busybox-arm64
if [ ! -x "$out/bin/busybox" ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -qq busybox-static:arm64 2>/dev/null)
  mkdir -p "$out"
  dpkg-deb -x "$work"/busybox-static_*_arm64.deb "$out"
fi
echo "$out/bin/busybox"
