"""Capabilities: Docker's default set, every capability the kernel knows, and ``--cap-add`` /
``--cap-drop`` / ``--privileged`` resolved against the daemon's own bounding set."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from dockyard.errors import InvalidArgument

DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

# Every capability by number (linux/capability.h); a privileged container gets those the running
# kernel knows (up to /proc/sys/kernel/cap_last_cap), as moby's caps.GetAllCapabilities does.
ALL_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)


@cache
def _host_capabilities() -> tuple[str, ...]:
    """Read once: neither the kernel's capabilities nor the daemon's bounding set change while it
    runs, and every create and start asks (it was ~40 reads of /proc/self/status each time)."""
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text().strip())
    except (OSError, ValueError):
        return ALL_CAPABILITIES
    bounding = _bounding()
    return tuple(c for i, c in enumerate(ALL_CAPABILITIES[: last + 1]) if bounding >> i & 1)


def _bounding() -> int:
    """The daemon's own bounding set: a runtime cannot grant a capability outside it (EPERM), and
    some hosts (sandboxes, nested containers) run the daemon without a few."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return (1 << 64) - 1


def _normalise_cap(name: str) -> str:
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    full = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if full not in ALL_CAPABILITIES:
        raise InvalidArgument(f'unknown capability: "{full}"')
    return full


def capabilities(*, privileged: bool, cap_add: tuple[str, ...], cap_drop: tuple[str, ...]) -> list[str]:
    """The capability set after Docker's rules: ALL in drop empties the base, ALL in add fills it."""
    available = _host_capabilities()
    if privileged:
        return list(available)
    add = [_normalise_cap(c) for c in cap_add]
    drop = [_normalise_cap(c) for c in cap_drop]
    if "ALL" in add:
        base = list(available)
    elif "ALL" in drop:
        base = []
    else:
        base = list(DEFAULT_CAPABILITIES)
    base = [c for c in base if c not in drop]
    for cap in add:
        if cap != "ALL" and cap not in base:
            base.append(cap)
    return base
