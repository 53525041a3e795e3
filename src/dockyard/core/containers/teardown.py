"""Removals finished after the answer: the teardown of a ``--rm`` container off the critical path.

``docker run --rm`` waits for the ``removed`` condition, so everything a removal does used to sit
between the container's exit and the CLI's return: ``runc delete``, the unmount, the veth deletion
(an RCU grace period), the snapshot and the directory. None of it is needed for the answer once the
record is gone: the name is free (names live in the records), the container's ID is never reused,
its address stays taken in IPAM until its endpoint goes (a new container gets another), and the
runtime, cgroup, netns and snapshot are all keyed by that ID.

What must not wait is what another container could ask for at once: a published host port (its
socket is bound until the endpoint goes) and the names the embedded DNS answers (a stale endpoint
would still resolve). So a container is deferrable only with no published ports and no endpoint on
a network with DNS (``ContainerNetworking.deferrable``): the default bridge and ``none``.

Crash safety: the container's directory is removed last (``Runner.finish_removal``). A daemon killed
in between leaves a directory without a record, which the next daemon's ``ContainerService.open``
treats as an orphan: runtime and monitor state, endpoints, mount, snapshot and files all go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable, Container
from pathlib import Path
from typing import Protocol

from dockyard.core.ids import ContainerId
from dockyard.core.layers.snapshots import Mounter, Snapshotter
from dockyard.core.trace import span
from dockyard.errors import DockyardError

log = logging.getLogger(__name__)


class DeferredRemovals:
    """Background removals, each logged if it fails, all awaited when the daemon stops."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, container_id: str, work: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            try:
                with span("rm.background", container_id):
                    await work()
            except (DockyardError, OSError) as exc:
                # The next daemon removes what is left (the directory marks it as an orphan).
                log.warning("deferred removal of %s: %s", container_id[:12], exc)
            except Exception:  # noqa: BLE001 - never lost in a task nobody reads; the orphan goes at start
                log.exception("deferred removal of %s", container_id[:12])

        task = asyncio.get_running_loop().create_task(run())
        self._tasks[container_id] = task
        task.add_done_callback(lambda t: self._discard(container_id, t))

    def _discard(self, container_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(container_id) is task:  # not a later removal's task of the same ID
            del self._tasks[container_id]

    def pending(self) -> int:
        return len(self._tasks)

    async def settle(self) -> None:
        """Wait for every removal in progress (daemon shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)


class OrphanOwner(Protocol):
    async def forget_orphan(self, container_id: ContainerId) -> None: ...


class OrphanNetworks(Protocol):
    async def leave_orphan(self, container_id: str) -> None: ...


async def remove_orphans(containers_dir: Path, known: Container[str], *, runner: OrphanOwner,
                         networking: OrphanNetworks, mounter: Mounter, snapshotter: Snapshotter) -> None:
    """Remove what a crash in the middle of create or remove left: a container directory (and its
    runtime state, endpoints, mount and snapshot) that no record owns."""
    for entry in containers_dir.iterdir():
        if not entry.is_dir() or entry.name in known:
            continue
        log.warning("removing container files left by a crash: %s", entry.name[:12])
        await runner.forget_orphan(ContainerId(entry.name))
        await networking.leave_orphan(entry.name)
        await asyncio.to_thread(_remove_files, entry, mounter, snapshotter)


def _remove_files(entry: Path, mounter: Mounter, snapshotter: Snapshotter) -> None:
    with contextlib.suppress(DockyardError, OSError):
        mounter.unmount(entry / "rootfs")
    with contextlib.suppress(DockyardError, OSError):
        snapshotter.remove(entry.name)
    shutil.rmtree(entry, ignore_errors=True)
