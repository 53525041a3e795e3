"""``docker update`` and ``docker stats``: a container's resources after create.

``update`` merges the request into the stored HostConfig (moby ``container.UpdateContainer``), and
on a running or paused container hands the new ``linux.resources`` to the runtime
(``runc update``). The record is written only once the runtime accepted the change, so a refused
update leaves both the cgroup and ``inspect`` as they were.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from dockyard.core.containers.model import Container, State
from dockyard.core.containers.stats import CgroupReader, ContainerStats, StatsSample
from dockyard.core.containers.store import LiveContainers
from dockyard.core.runtime.backend import RuntimeBackend
from dockyard.core.runtime.resources import HostLimits, linux_resources, merge_update, validate
from dockyard.core.system import cgroup_version
from dockyard.errors import InvalidArgument, WrongState

log = logging.getLogger(__name__)


class ContainerResources:
    """Resource changes and usage of existing containers; the service hands these out."""

    def __init__(self, live: LiveContainers, runtime_of: Callable[[Container], RuntimeBackend],
                 reader: CgroupReader | None) -> None:
        self._live = live
        self._runtime_of = runtime_of
        self._reader = reader
        self._stats = ContainerStats(reader) if reader is not None else None

    def _host(self) -> HostLimits:
        v2 = self._reader.cgroup_v2 if self._reader is not None else cgroup_version() == "2"
        return HostLimits.detect(cgroup_v2=v2)

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        """Apply ``body`` (Docker's Resources plus RestartPolicy); returns Docker's warnings."""
        container = self._live.get(ref)
        if container.state in (State.REMOVING, State.DEAD):
            raise WrongState(f"Cannot update container {container.id}: container is marked for "
                             "removal and cannot be \"updated\"")
        host = self._host()
        try:
            merged = merge_update(container.host.raw, body)
            validate(merged, host)
        except InvalidArgument as exc:
            raise InvalidArgument(f"Cannot update container {container.id}: {exc}") from exc
        if container.state.is_active:
            resources = linux_resources(merged, host)
            await self._runtime_of(container).update(container.id, _update_body(resources))
        container.host.raw = merged
        self._live.save(container)
        log.info("updated resources of container %s", container.id[:12])
        return []

    def _require_stats(self) -> ContainerStats:
        if self._stats is None:
            raise WrongState("stats are not available: no cgroup reader")
        return self._stats

    async def sample(self, ref: str) -> tuple[Container, StatsSample]:
        container = self._live.get(ref)
        return container, await self._require_stats().sample(container)

    def stream(self, container: Container,
               interval: float) -> AsyncIterator[tuple[StatsSample, StatsSample | None]]:
        return self._require_stats().stream(container, interval=interval)

    async def oom_killed(self, container: Container) -> bool:
        if self._stats is None:
            return False
        return await self._stats.oom_killed(container)

    def oom_hook(self) -> Callable[[Container], Awaitable[bool]]:
        return self.oom_killed


def _update_body(resources: dict[str, Any]) -> dict[str, Any]:
    """What ``runc update`` should change. On cgroup v1 the kernel refuses a memory limit above the
    current memory+swap limit, so a new memory limit without a swap limit lifts swap to unlimited
    (-1), as a container created with only ``--memory-swap -1`` would have."""
    memory = dict(resources.get("memory") or {})
    if "limit" in memory and "swap" not in memory:
        memory["swap"] = -1
    body = dict(resources)
    if memory:
        body["memory"] = memory
    return body
