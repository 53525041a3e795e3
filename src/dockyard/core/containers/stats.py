"""Container resource usage (``docker stats``) and OOM kills, read from the container's cgroup.

The core declares what it needs (:class:`CgroupReader`); ``backends/cgroups.py`` reads the cgroup v1
or v2 files and ``/proc``. A *sample* is one reading; Docker's stats JSON pairs a sample with the one
before it (``precpu_stats``) so a client can compute a CPU percentage from the two.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.core.containers.model import Container
from dockyard.core.timestamps import now_rfc3339

STATS_INTERVAL = 1.0  # seconds between streamed samples, as dockerd's collector


@dataclass(frozen=True, slots=True)
class CpuSample:
    total_ns: int = 0
    percpu_ns: tuple[int, ...] = ()
    kernel_ns: int = 0
    user_ns: int = 0
    system_ns: int = 0  # the host's CPU time since boot, all CPUs (/proc/stat)
    online_cpus: int = 0
    periods: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0


@dataclass(frozen=True, slots=True)
class MemorySample:
    usage: int = 0
    max_usage: int = 0
    limit: int = 0
    failcnt: int = 0
    stats: dict[str, int] = field(default_factory=dict)  # memory.stat as the kernel names it


@dataclass(frozen=True, slots=True)
class BlkioEntry:
    major: int
    minor: int
    op: str
    value: int


@dataclass(frozen=True, slots=True)
class StatsSample:
    """One reading of a container's cgroup and network counters."""

    read: str  # RFC 3339 nano
    cpu: CpuSample = field(default_factory=CpuSample)
    memory: MemorySample = field(default_factory=MemorySample)
    pids_current: int = 0
    pids_limit: int = 0  # 0 = unlimited
    io_bytes: tuple[BlkioEntry, ...] = ()
    io_ops: tuple[BlkioEntry, ...] = ()
    # interface -> {"rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_..."}
    networks: dict[str, dict[str, int]] = field(default_factory=dict)
    cgroup_v2: bool = False


class CgroupReader(Protocol):
    """Reads a container's cgroup (``cgroups_path`` as in config.json) and its netns counters.
    Blocking file reads: call from a thread."""

    @property
    def cgroup_v2(self) -> bool: ...

    def sample(self, cgroups_path: str, pid: int) -> StatsSample:
        """Counters now; a missing cgroup (a stopped container) gives zeros."""
        ...

    def oom_kills(self, cgroups_path: str) -> int:
        """How many processes the kernel's OOM killer killed in this cgroup (0 when unknown)."""
        ...


def cgroups_path(container: Container) -> str:
    return container.cgroups_path


class ContainerStats:
    """``docker stats``: samples of running containers, one-shot or streamed."""

    def __init__(self, reader: CgroupReader) -> None:
        self._reader = reader

    async def sample(self, container: Container) -> StatsSample:
        if not container.state.is_active:
            return StatsSample(read=now_rfc3339(), cgroup_v2=self._reader.cgroup_v2)
        return await asyncio.to_thread(self._reader.sample, cgroups_path(container), container.pid)

    async def stream(self, container: Container, *, interval: float = STATS_INTERVAL,
                     ) -> AsyncIterator[tuple[StatsSample, StatsSample | None]]:
        """(sample, previous sample) pairs every ``interval`` seconds, until the container stops."""
        previous: StatsSample | None = None
        while True:
            current = await self.sample(container)
            yield current, previous
            if not container.state.is_active:
                return
            previous = current
            await asyncio.sleep(interval)

    async def oom_killed(self, container: Container) -> bool:
        """True when the OOM killer killed a process of the container (read before the runtime
        deletes the cgroup)."""
        kills = await asyncio.to_thread(self._reader.oom_kills, cgroups_path(container))
        return kills > 0
