"""Foreign platforms: which ones the kernel can run through binfmt_misc (qemu-user-static), and
Docker's ``--platform`` rule for a container of one.

The kernel, not the engine, runs a foreign binary: an interpreter registered in binfmt_misc with
the ``F`` (fix-binary) flag is opened once at registration, so it works inside every container's
mount namespace without being in its rootfs. Registering is a host change: ``dockyardd
--emulation`` does it at start (backends/binfmt.py); this module only reads what is registered.
"""

from __future__ import annotations

from pathlib import Path

from dockyard.core.distribution.model import Platform
from dockyard.errors import InvalidArgument

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")

# Docker's architecture names -> qemu's (the binfmt entry is "qemu-<qemu arch>").
QEMU_ARCH: dict[str, str] = {"arm64": "aarch64", "arm": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
                             "riscv64": "riscv64", "386": "i386", "mips64le": "mips64el",
                             "amd64": "x86_64"}


def emulated(binfmt_dir: Path = BINFMT_DIR) -> list[str]:
    """``linux/<arch>`` for each architecture with an enabled qemu entry that fixes its binary."""
    found = []
    for arch, qemu in sorted(QEMU_ARCH.items()):
        entry = binfmt_dir / f"qemu-{qemu}"
        try:
            text = entry.read_text()
        except OSError:
            continue
        flags = next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags:")), "")
        if text.startswith("enabled") and "F" in flags:
            found.append(f"linux/{arch}")
    return found


def check_runnable(wanted: Platform, host: Platform, binfmt_dir: Path = BINFMT_DIR) -> None:
    """Refuse, before anything is made, a container the kernel could only answer with ``exec
    format error``."""
    if wanted.os != host.os:
        raise InvalidArgument(f"image operating system {wanted.os!r} cannot be used on this platform")
    if wanted.architecture == host.architecture:
        return
    if f"linux/{wanted.architecture}" not in emulated(binfmt_dir):
        raise InvalidArgument(
            f"image platform {wanted} cannot run on this {host} host: no emulator is registered for "
            f"it (install qemu-user-static and start dockyardd with --emulation)")
