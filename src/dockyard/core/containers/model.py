"""The container record, its State machine and the typed create request.

*Config* is Docker's ``Config`` object after merging the image's config with the request (what
``docker inspect`` shows under ``Config``); *host options* are the parts of ``HostConfig`` the engine
acts on, next to the raw ``HostConfig`` echoed back to clients. Docker's ``Running``/``Paused``/
``Restarting`` booleans are not stored: ``api/wire.py`` derives them from :class:`State`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from dockyard.core.containers.mounts import MountPoint
from dockyard.core.ids import ContainerId, ImageId
from dockyard.core.timestamps import ZERO_TIME
from dockyard.errors import WrongState


class State(enum.Enum):
    """Docker's container states (the ``State.Status`` strings)."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"

    @property
    def is_active(self) -> bool:
        """True while a process exists (a paused container still has one)."""
        return self in (State.RUNNING, State.PAUSED, State.RESTARTING)

    def check(self, target: State) -> None:
        """Raise Conflict unless ``self -> target`` is a legal move (runc's state_linux.go habit)."""
        if target not in _TRANSITIONS[self]:
            raise WrongState(f"cannot change container state from {self.value} to {target.value}")


# A failed removal goes back to where it came from, hence REMOVING -> CREATED/EXITED.
_TRANSITIONS: dict[State, frozenset[State]] = {
    State.CREATED: frozenset({State.RUNNING, State.REMOVING, State.EXITED, State.DEAD}),
    State.RUNNING: frozenset({State.PAUSED, State.EXITED, State.RESTARTING, State.DEAD}),
    State.PAUSED: frozenset({State.RUNNING, State.EXITED, State.DEAD}),
    State.RESTARTING: frozenset({State.RUNNING, State.EXITED, State.DEAD}),
    State.EXITED: frozenset({State.RUNNING, State.REMOVING, State.RESTARTING, State.DEAD}),
    State.REMOVING: frozenset({State.DEAD, State.CREATED, State.EXITED}),
    State.DEAD: frozenset({State.REMOVING}),
}


@dataclass(slots=True)
class ContainerConfig:
    """Docker's ``Config`` after the image/request merge."""

    image: str
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    hostname: str = ""
    domainname: str = ""
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    exposed_ports: dict[str, Any] = field(default_factory=dict)
    volumes: dict[str, Any] = field(default_factory=dict)
    # Config keys the engine does not act on yet (Healthcheck, OnBuild, Shell…), echoed back.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class HostOptions:
    """The parts of ``HostConfig`` the engine acts on; ``raw`` is the whole object for inspect."""

    network_mode: str = "default"
    auto_remove: bool = False
    init: bool = False
    privileged: bool = False
    readonly_rootfs: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    runtime: str = ""
    console_size: tuple[int, int] | None = None  # (height, width)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CreateRequest:
    """A container create as the core sees it: the request's Config before the image merge."""

    image: str
    name: str = ""
    config: ContainerConfig | None = None
    host: HostOptions = field(default_factory=HostOptions)
    platform: str = ""
    # True when the request said Entrypoint (even as [] or ""), which resets the image Cmd.
    entrypoint_given: bool = False
    networking: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Container:
    """One container as stored in the metadata database."""

    id: ContainerId
    name: str  # with Docker's leading "/"
    created: str
    image_id: ImageId
    config: ContainerConfig
    host: HostOptions
    path: str
    args: list[str]
    runtime: str
    state: State = State.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    oom_killed: bool = False
    restart_count: int = 0
    # Docker's HasBeenManuallyStopped: a user's stop/kill, which restart policies honour.
    manually_stopped: bool = False
    # State.Health while a healthcheck is configured: Status, FailingStreak, Log (health.py).
    health: dict[str, Any] | None = None
    networking: dict[str, Any] = field(default_factory=dict)
    # Volumes, binds and tmpfs mounts, resolved at create (core/containers/mounts.py).
    mounts: list[MountPoint] = field(default_factory=list)
    # While running: the sandbox, endpoints and published ports (core/containers/networking.py).
    network_state: dict[str, Any] = field(default_factory=dict)

    def move(self, target: State) -> None:
        self.state.check(target)
        self.state = target

    @property
    def cgroups_path(self) -> str:
        """The cgroupfs path the runtime gets: ``--cgroup-parent`` (default ``/dockyard``) joined
        with the ID, as moby's cgroupfs driver does with ``/docker``."""
        parent = str(self.host.raw.get("CgroupParent") or "/dockyard").strip("/")
        return f"/{parent}/{self.id}"

    def to_record(self) -> dict[str, Any]:
        """The container as JSON-ready data, for the store to serialise at once: it shares its
        lists and dicts with the container. (``dataclasses.asdict`` deep-copied every value, half
        a millisecond of the event loop at each of a start's three saves.)"""
        data: dict[str, Any] = _plain(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Container:
        data = dict(data)
        data["state"] = State(data["state"])
        data["config"] = ContainerConfig(**data["config"])
        host = dict(data["host"])
        size = host.get("console_size")
        host["console_size"] = tuple(size) if size else None
        data["host"] = HostOptions(**host)
        data["mounts"] = [MountPoint.from_record(m) for m in data.get("mounts") or []]
        return cls(**data)


_ATOMS = (str, int, float, type(None))  # bool is an int
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """Dataclasses as dicts, all the way down; everything else as it is. Atoms are tested first
    and each dataclass's field names looked up once: a record is mostly strings, and is_dataclass
    and fields() on each value made this a quarter of a millisecond at every save."""
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    kind = type(value)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not is_dataclass(value) or isinstance(value, type):
            return value
        names = _FIELD_NAMES.setdefault(kind, tuple(each.name for each in fields(value)))
    return {name: _plain(getattr(value, name)) for name in names}


@dataclass(frozen=True, slots=True)
class ContainerPaths:
    """Files under ``containers/<id>/`` (ARCHITECTURE.md storage layout)."""

    root: Path

    @classmethod
    def of(cls, containers_dir: Path, container_id: str) -> ContainerPaths:
        return cls(containers_dir / container_id)

    @property
    def bundle(self) -> Path:
        return self.root

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    @property
    def hostname(self) -> Path:
        return self.root / "hostname"

    @property
    def hosts(self) -> Path:
        return self.root / "hosts"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def log(self) -> Path:
        return self.root / "container.log"


@dataclass(frozen=True, slots=True)
class WaitResult:
    status_code: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class ProcessTable:
    """``docker top``: column titles and one row per process."""

    titles: list[str]
    processes: list[list[str]]


@dataclass(frozen=True, slots=True)
class PruneReport:
    deleted: list[str]
    space_reclaimed: int
