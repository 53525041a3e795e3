"""The runtime boundary's values: what ``build_spec`` takes (:class:`SpecInput` and its parts,
the resolved security options) and what the runtime reports of a container."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.core.runtime.userns import UsernsRemap


class RuntimeStatus(enum.Enum):
    """The OCI runtime's view of a container (``runc state``)."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RuntimeState:
    status: RuntimeStatus
    pid: int


@dataclass(frozen=True, slots=True)
class ProcessUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class BindMount:
    """A mount inside the container: bind of a daemon-made file (hosts, resolv.conf, init) or a
    tmpfs; later issues add volumes."""

    destination: str
    source: str
    type: str = "bind"
    options: tuple[str, ...] = ("rbind", "rprivate")


@dataclass(frozen=True, slots=True)
class SpecInput:
    """Everything ``build_spec`` needs; the container service fills it from the container record."""

    container_id: str
    rootfs: Path
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: ProcessUser
    terminal: bool
    hostname: str
    domainname: str = ""
    mounts: tuple[BindMount, ...] = ()
    # "private" (new netns, loopback only), "host", "none", or "ns:/path" to join.
    network: str = "private"
    cgroups_path: str = ""
    readonly_rootfs: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    # rlimit name (RLIMIT_NOFILE) -> (soft, hard); must not exceed the daemon's own hard limit.
    rlimits: dict[str, tuple[int, int]] = field(default_factory=dict)
    # OCI linux.resources without devices (memory, cpu, pids, blockIO): core/runtime/resources.py.
    resources: dict[str, Any] = field(default_factory=dict)
    shm_size: int = 64 * 1024 * 1024  # bytes of the /dev/shm tmpfs (--shm-size)
    oom_score_adj: int = 0  # --oom-score-adj, -1000..1000, set on the container's first process
    # HostConfig.MaskedPaths / ReadonlyPaths: None keeps Docker's defaults, a list replaces them.
    masked_paths: tuple[str, ...] | None = None
    readonly_paths: tuple[str, ...] | None = None
    # Seccomp, no-new-privileges, devices, sysctls, namespaces, userns: core/runtime/security.py.
    security: SecuritySpec | None = None
    # HostConfig.ConsoleSize (height, width): the terminal's size before the client's first resize,
    # so a process that asks at once (``run -t … stty size``) sees the client's size, not 0 0.
    console_size: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class SecurityOpts:
    """``--security-opt`` after parsing."""

    no_new_privileges: bool | None = None  # None: the daemon's default
    seccomp: str = "builtin"  # "builtin", "unconfined" or a profile's JSON text
    apparmor: str = ""
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Device:
    """One ``--device``: a host device node as it appears in the container."""

    path: str
    type: str  # "c" or "b"
    major: int
    minor: int
    file_mode: int
    uid: int
    gid: int
    access: str = "rwm"


@dataclass(frozen=True, slots=True)
class SecuritySpec:
    """What ``apply`` needs; ``""``/``private`` namespace modes are the defaults."""

    no_new_privileges: bool = False
    seccomp: str = "builtin"
    devices: tuple[Device, ...] = ()
    sysctls: dict[str, str] = field(default_factory=dict)
    ipc: str = "private"  # private | none | host | ns:<path>
    pid: str = "private"  # private | host | ns:<path>
    uts: str = "private"  # private | host
    cgroupns: str = ""  # "" (the host's default) | private | host
    group_add: tuple[int, ...] = ()
    userns: UsernsRemap | None = None
    # --device-cgroup-rule: extra OCI device cgroup allow entries (core/runtime/devices.py).
    device_rules: tuple[dict[str, Any], ...] = ()
