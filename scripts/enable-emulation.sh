#!/usr/bin/env bash
# `make emulation` (opt-in host change): install qemu-user-static and register its interpreters in
# binfmt_misc with the fix-binary flag, so `docker run --platform linux/arm64` runs arm64 images.
# dockyardd --emulation (daemon.json "emulation": true) does the same registration at start.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg-query -W -f='${Status}' qemu-user-static 2>/dev/null | grep -q "install ok installed"; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi
.venv/bin/python - <<'PY'
from dockyard.backends.binfmt import register
from dockyard.core.system import go_arch
print("emulated:", " ".join(f"linux/{a}" for a in register(go_arch())) or "nothing")
PY
