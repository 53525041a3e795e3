#!/usr/bin/env bash
# Install what Dockyard needs on Debian 12 and is missing: apt packages, then a venv with the package.
# `--test` (make test) adds the test counterparts of every area: scripts/deps/<area>.apt.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES=(runc crun conmon busybox-static catatonit tini iproute2 nftables libarchive13 python3-venv ca-certificates openssh-client)
lists=()
[ "${1:-}" = "--test" ] && lists=(scripts/deps/*.apt)
# Each area's test packages (rsyslog, prometheus, Compose v1, chromium, dockerd as an oracle…) live
# in scripts/deps/<area>.apt, one package a line; '#' starts a comment.
for list in "${lists[@]}"; do
  [ -f "$list" ] || continue
  while read -r pkg _; do
    case "$pkg" in ""|"#"*) ;; *) APT_PACKAGES+=("$pkg") ;; esac
  done < "$list"
done
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
PY=${PYTHON:-python3}
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi
