"""``build_spec``: a :class:`SpecInput` becomes the bundle's ``config.json``, as Docker writes it.

The defaults follow moby's ``oci/defaults.go`` and ``daemon/oci_linux.go``: Docker's 14 default
capabilities in the bounding, effective and permitted sets (never inheritable or ambient), its
default mounts, masked and read-only paths and device cgroup rules. The output validates against the
OCI runtime-spec schema (``config-schema.json``).

Seccomp, no-new-privileges, devices, sysctls, namespace modes and user namespaces are applied by
core/runtime/security.py from ``SpecInput.security``; AppArmor and SELinux labels are not applied.
"""

from __future__ import annotations

import logging
import os
import resource
from pathlib import Path
from typing import Any

from dockyard.core.runtime.capabilities import capabilities
from dockyard.core.runtime.model import BindMount, SpecInput
from dockyard.core.runtime.security import apply as apply_security
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

OCI_VERSION = "1.0.2"

MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)

READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)


def _device_rule(allow: bool, major: int, minor: int) -> dict[str, Any]:
    return {"allow": allow, "type": "c", "major": major, "minor": minor, "access": "rwm"}


# Deny everything, then allow zero, null, urandom, random, /dev/console-as-tty and tty; fuse stays
# denied explicitly (moby's default list). runc adds its own always-allowed devices on top.
DEFAULT_DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    _device_rule(True, 1, 5),
    _device_rule(True, 1, 3),
    _device_rule(True, 1, 9),
    _device_rule(True, 1, 8),
    _device_rule(True, 5, 0),
    _device_rule(True, 5, 1),
    _device_rule(False, 10, 229),
)


def _mount(destination: str, type_: str, source: str, options: list[str]) -> dict[str, Any]:
    return {"destination": destination, "type": type_, "source": source, "options": options}


def default_mounts(*, privileged: bool = False, shm_size: int = 64 * 1024 * 1024) -> list[dict[str, Any]]:
    """Docker's default mounts; a privileged container gets /sys and its cgroups read-write."""
    sys_mode = "rw" if privileged else "ro"
    return [
        _mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount("/dev/pts", "devpts", "devpts",
               ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", sys_mode]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", [sys_mode, "nosuid", "noexec", "nodev"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        # Docker's default ShmSize is 64 MiB.
        _mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]),
    ]


def host_cgroup_v2() -> bool:
    """True on a unified (v2-only) hierarchy; hybrid hosts have v1 controllers and answer False."""
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


# "soft:hard" of RLIMIT_NOFILE as the daemon found it, set by daemon.py before it raises its own;
# in the environment because that is what every process the daemon starts inherits anyway.
INHERITED_NOFILE_ENV = "DOCKYARD_INHERITED_NOFILE"


def rlimits(requested: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    """Rlimits clamped to the daemon's own hard limits: a runtime cannot raise a hard limit above
    its parent's (EPERM), so asking for more would only make the container fail to start."""
    result: list[dict[str, Any]] = []
    requested = dict(requested)
    inherited = os.environ.get(INHERITED_NOFILE_ENV, "")
    if inherited and not any(name.upper().removeprefix("RLIMIT_") == "NOFILE" for name in requested):
        # The daemon raised its own soft limit to serve many clients (daemon.py); a container must
        # not inherit that but the limit the daemon was started with, as dockerd's children get
        # (Go raises its own soft limit and restores the original for the processes it starts).
        soft_text, _, hard_text = inherited.partition(":")
        requested["nofile"] = (int(soft_text), int(hard_text))
    for name, (soft, hard) in sorted(requested.items()):
        type_ = name.upper() if name.upper().startswith("RLIMIT_") else f"RLIMIT_{name.upper()}"
        number = getattr(resource, type_, None)
        if not isinstance(number, int):
            raise InvalidArgument(f"invalid ulimit type: {name}")
        _, own_hard = resource.getrlimit(number)
        if own_hard != resource.RLIM_INFINITY and hard > own_hard:
            log.warning("clamping %s hard limit %d to the daemon's own %d", type_, hard, own_hard)
            hard = own_hard
        result.append({"type": type_, "soft": min(soft, hard), "hard": hard})
    return result


def _namespaces(inp: SpecInput, *, cgroup_v2: bool) -> list[dict[str, str]]:
    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "mount"}]
    if inp.network != "host":
        # Sharing the host's network means sharing its hostname too (Docker drops the UTS
        # namespace for --network host), and runc refuses a hostname without one.
        namespaces.append({"type": "uts"})
    if inp.network.startswith("ns:"):
        namespaces.append({"type": "network", "path": inp.network[3:]})
    elif inp.network in ("private", "none"):
        namespaces.append({"type": "network"})
    elif inp.network != "host":
        raise InvalidArgument(f"invalid network mode: {inp.network}")
    if cgroup_v2:
        namespaces.append({"type": "cgroup"})
    return namespaces


def _mounts(inp: SpecInput) -> list[dict[str, Any]]:
    """Docker's defaults, except those the input replaces at the same destination, then the input's."""
    overridden = {m.destination.rstrip("/") or "/" for m in inp.mounts}
    mounts = [m for m in default_mounts(privileged=inp.privileged, shm_size=inp.shm_size)
              if m["destination"] not in overridden]
    mounts.extend(_bind(m) for m in inp.mounts)
    return mounts


def _bind(mount: BindMount) -> dict[str, Any]:
    return _mount(mount.destination, mount.type, mount.source, list(mount.options))


def _process(inp: SpecInput) -> dict[str, Any]:
    if not inp.args:
        raise InvalidArgument("no command specified")
    user: dict[str, Any] = {"uid": inp.user.uid, "gid": inp.user.gid}
    if inp.user.additional_gids:
        user["additionalGids"] = list(inp.user.additional_gids)
    caps = capabilities(privileged=inp.privileged, cap_add=inp.cap_add, cap_drop=inp.cap_drop)
    process: dict[str, Any] = {
        "terminal": inp.terminal,
        "user": user,
        "args": list(inp.args),
        "env": list(inp.env),
        "cwd": inp.cwd or "/",
        "capabilities": {"bounding": caps, "effective": list(caps), "permitted": list(caps)},
        "noNewPrivileges": False,
        "oomScoreAdj": inp.oom_score_adj,
    }
    if inp.terminal and inp.console_size:
        process["consoleSize"] = {"height": inp.console_size[0], "width": inp.console_size[1]}
    limits = rlimits(inp.rlimits)
    if limits:
        process["rlimits"] = limits
    return process


def _linux(inp: SpecInput, *, cgroup_v2: bool) -> dict[str, Any]:
    linux: dict[str, Any] = {
        "namespaces": _namespaces(inp, cgroup_v2=cgroup_v2),
        "resources": {
            "devices": ([{"allow": True, "access": "rwm"}] if inp.privileged
                        else [dict(rule) for rule in DEFAULT_DEVICE_RULES]),
            **inp.resources,  # memory, cpu, pids, blockIO from core/runtime/resources.py
        },
    }
    if inp.network != "host":
        # Docker lets unprivileged users bind low ports and ping inside their own netns.
        linux["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0",
                           "net.ipv4.ping_group_range": "0 2147483647"}
    if inp.cgroups_path:
        linux["cgroupsPath"] = inp.cgroups_path
    if not inp.privileged:
        masked = MASKED_PATHS if inp.masked_paths is None else inp.masked_paths
        readonly = READONLY_PATHS if inp.readonly_paths is None else inp.readonly_paths
        linux["maskedPaths"] = list(masked)
        linux["readonlyPaths"] = list(readonly)
    return linux


def build_spec(inp: SpecInput, *, cgroup_v2: bool | None = None) -> dict[str, Any]:
    """The OCI runtime config for ``inp``; ``cgroup_v2`` defaults to what the host has."""
    if cgroup_v2 is None:
        cgroup_v2 = host_cgroup_v2()
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": _process(inp),
        "root": {"path": str(inp.rootfs), "readonly": inp.readonly_rootfs},
        "mounts": _mounts(inp),
        "linux": _linux(inp, cgroup_v2=cgroup_v2),
    }
    if inp.network != "host":
        spec["hostname"] = inp.hostname
        if inp.domainname:
            spec["domainname"] = inp.domainname
    if inp.annotations:
        spec["annotations"] = dict(inp.annotations)
    if inp.security is not None:
        apply_security(spec, inp.security, privileged=inp.privileged)
    return spec
