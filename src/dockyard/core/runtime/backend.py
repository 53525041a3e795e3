"""The runtime boundary: what the core asks of an OCI runtime and of the per-container monitor.

The OCI runtime (runc, crun) creates and signals containers from a bundle; the monitor (conmon)
holds each container's stdio, writes its log, keeps the attach socket and records the exit status,
so containers outlive the daemon. The values they exchange live in core/runtime/model.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dockyard.core.runtime.model import RuntimeState


class StdioStream(Protocol):
    """A running process's stdio as the API streams it."""

    async def read(self) -> tuple[int, bytes] | None:
        """Next chunk as (1 for stdout | 2 for stderr, bytes); None once output has ended."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes to the process's stdin."""
        ...

    async def close_stdin(self) -> None:
        """Signal end of input (the client's half-close)."""
        ...

    async def close(self) -> None:
        """Detach: stop streaming; the process keeps running."""
        ...


class ExecProcess(StdioStream, Protocol):
    """A process started inside a running container (``docker exec``)."""

    @property
    def pid(self) -> int: ...

    async def wait(self) -> int:
        """The exit code, once the process has ended."""
        ...

    async def resize(self, height: int, width: int) -> None: ...


class RuntimeBackend(Protocol):
    """An OCI runtime driven through its CLI (``runc``, ``crun``)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def root(self) -> Path:
        """The runtime's state directory (``--root``); one per daemon so daemons stay apart."""
        ...

    async def start(self, container_id: str) -> None: ...

    async def state(self, container_id: str) -> RuntimeState | None:
        """None when the runtime does not know the container."""
        ...

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None: ...

    async def pause(self, container_id: str) -> None: ...

    async def resume(self, container_id: str) -> None: ...

    async def delete(self, container_id: str, *, force: bool = False) -> None: ...

    async def pids(self, container_id: str) -> list[int]: ...

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Change a running container's cgroup limits (``runc update --resources``); ``resources``
        is an OCI ``linux.resources`` object."""
        ...

    async def exec(self, container_id: str, process: dict[str, Any], *, detach: bool) -> ExecProcess:
        """Start ``process`` (an OCI process object) in the container; tty follows
        ``process["terminal"]``."""
        ...


@dataclass(frozen=True, slots=True)
class MonitorStart:
    """What the monitor needs to create a container through a runtime."""

    container_id: str
    bundle: Path  # holds config.json
    runtime: RuntimeBackend
    log_path: Path  # k8s-file format: "<RFC3339Nano> stdout|stderr F|P <text>"
    terminal: bool
    stdin: bool  # keep stdin open for attach (docker -i)
    stdin_once: bool  # close the container's stdin when the first attached client detaches
    log_mode: str = "k8s-file"  # "none": the container's log driver is none, nothing is spooled
    log_size_max: int = 0  # conmon's --log-size-max for the spool; 0: unbounded
    cgroups_path: str = ""  # config.json's linux.cgroupsPath, when the caller knows it


class Monitor(Protocol):
    """The per-container supervisor (conmon)."""

    async def create(self, start: MonitorStart) -> int:
        """Create the container (runtime create under the monitor); returns the container's pid.
        The caller then calls ``runtime.start``."""
        ...

    def is_alive(self, container_id: str) -> bool:
        """True while the monitor of this container still runs (after a daemon restart too)."""
        ...

    async def wait(self, container_id: str) -> int:
        """Wait for the container to exit and return its exit status (128+signal when killed)."""
        ...

    def exit_code(self, container_id: str) -> int | None:
        """The recorded exit status, or None while the container has not exited."""
        ...

    async def attach(self, container_id: str) -> StdioStream:
        """Connect to the container's stdio through the monitor's attach socket."""
        ...

    async def resize(self, container_id: str, height: int, width: int) -> None: ...

    async def cleanup(self, container_id: str) -> None:
        """Remove the monitor's files for this container."""
        ...
