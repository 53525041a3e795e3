"""Containers a daemon killed mid-operation left in a state no user asked for, set right at start.

- A commit pauses a running container while it reads the upper directory; a marker file in the
  container's directory (:data:`COMMIT_PAUSE_MARKER`) says so until it unpauses. Found at start,
  the container is unpaused: the user's own ``docker pause`` never writes the marker.
- A build's RUN step is a container labelled :data:`dockyard.core.recovery.BUILD_LABEL`; the build
  that would have removed it is gone, so it is removed (running or not, with its mounts and netns).
- A published host port another process took while the daemon was down is no longer ours: the
  network service stopped forwarding it; here the container's ``State.Error`` gets Docker's
  "port is already allocated" text, the port leaves its published ports (``docker ps``, ``port``,
  ``inspect``) and a ``port_conflict`` event says so (dockerd has no event of its own for this).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from dockyard.core.containers.model import Container, State
from dockyard.core.networks.model import PortBinding, PortConflict
from dockyard.core.recovery import BUILD_LABEL
from dockyard.errors import DockyardError

log = logging.getLogger(__name__)

COMMIT_PAUSE_MARKER = "commit-paused"


PORT_CONFLICT_EVENT = "port_conflict"


class Containers(Protocol):
    async def list(self, *, all: bool = False) -> list[Container]: ...
    async def inspect(self, ref: str) -> Container: ...
    async def unpause(self, ref: str) -> None: ...
    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None: ...
    def record(self, container: Container, action: str) -> None: ...


def commit_marker(containers_dir: Path, container_id: str) -> Path:
    return containers_dir / container_id / COMMIT_PAUSE_MARKER


async def recover(containers: Containers, containers_dir: Path,
                  port_conflicts: Sequence[PortConflict] = ()) -> None:
    await _report_port_conflicts(containers, port_conflicts)
    for container in await containers.list(all=True):
        if container.config.labels.get(BUILD_LABEL):
            log.warning("removing build container %s left by a crash", container.id[:12])
            try:
                await containers.remove(container.id, force=True)
            except DockyardError as exc:
                log.error("could not remove build container %s: %s", container.id[:12], exc)
            continue
        marker = commit_marker(containers_dir, container.id)
        if not marker.exists():
            continue
        if container.state == State.PAUSED:
            log.warning("unpausing container %s left paused by an interrupted commit", container.id[:12])
            try:
                await containers.unpause(container.id)
            except DockyardError as exc:
                log.error("could not unpause container %s: %s", container.id[:12], exc)
                continue
        with contextlib.suppress(OSError):
            marker.unlink()


async def _report_port_conflicts(containers: Containers, conflicts: Sequence[PortConflict]) -> None:
    for conflict in conflicts:
        try:
            container = await containers.inspect(conflict.container_id)
        except DockyardError:
            continue
        ports = container.network_state.get("ports") or []
        container.network_state["ports"] = [p for p in ports if PortBinding(**p) != conflict.binding]
        container.error = conflict.message
        containers.record(container, PORT_CONFLICT_EVENT)
