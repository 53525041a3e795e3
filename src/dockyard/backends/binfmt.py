"""``dockyardd --emulation``: register Debian's qemu-user-static interpreters in binfmt_misc.

Debian ships one register line per architecture in /usr/lib/binfmt.d/qemu-<arch>.conf (flags
``OPF``: the interpreter is opened at registration, so containers need no copy of it). Entries
already registered are left as they are; nothing is unregistered at exit (other engines may use
them)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from dockyard.core.runtime.emulation import BINFMT_DIR, QEMU_ARCH

log = logging.getLogger(__name__)
CONF_DIR = Path("/usr/lib/binfmt.d")


def _mount(binfmt_dir: Path) -> None:
    if (binfmt_dir / "register").exists():
        return
    proc = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt_dir)],
                          capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise OSError(f"mount binfmt_misc: {proc.stderr.strip()}")


def register(host_arch: str, binfmt_dir: Path = BINFMT_DIR, conf_dir: Path = CONF_DIR) -> list[str]:
    """Register every installed qemu interpreter for a foreign architecture; returns their names."""
    _mount(binfmt_dir)
    done = []
    for arch, qemu in QEMU_ARCH.items():
        conf = conf_dir / f"qemu-{qemu}.conf"
        if arch == host_arch or not conf.exists():
            continue
        if not (binfmt_dir / f"qemu-{qemu}").exists():
            head, _, flags = conf.read_text().strip().rpartition(":")
            # The fix-binary flag is what makes the interpreter work inside containers.
            (binfmt_dir / "register").write_text(f"{head}:{flags if 'F' in flags else flags + 'F'}")
            log.info("registered binfmt_misc handler qemu-%s", qemu)
        done.append(arch)
    return done
