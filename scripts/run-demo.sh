#!/usr/bin/env bash
# `make run`: start dockyardd in the background unless it answers, bootstrap busybox, run a container.
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=${DOCKYARD_SOCK:-/run/dockyard/dockyard.sock}
export DOCKER_HOST="unix://$SOCK"
DY=.venv/bin/dockyard
# Put our two commands on the PATH, as a package would (links into this clone's venv).
for cmd in dockyard dockyardd; do
  ln -sfn "$PWD/.venv/bin/$cmd" "/usr/local/bin/$cmd"
done
if ! "$DY" version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup .venv/bin/dockyardd -H "unix://$SOCK" >>/var/log/dockyardd.log 2>&1 &
  for _ in $(seq 1 100); do
    "$DY" version >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$DY" version >/dev/null || { echo "dockyardd did not start; see /var/log/dockyardd.log" >&2; exit 1; }
fi
"$DY" image inspect busybox >/dev/null 2>&1 || "$DY" image bootstrap busybox
"$DY" run --rm busybox echo hello from dockyard
