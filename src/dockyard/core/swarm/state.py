"""The swarm's in-memory state over its store: lookups, the version index, change notification.

Every service of the swarm package reads and writes through one :class:`SwarmState`. ``changed``
wakes the orchestrator; ``settled`` is notified after each reconcile pass so rolling updates can wait
for a task to reach a state without polling.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections.abc import Callable, Iterable
from typing import TypeVar

from dockyard.core.events import EventBus
from dockyard.core.swarm.model import Blob, Cluster, Node, Service, Task
from dockyard.core.swarm.store import SwarmStore
from dockyard.core.timestamps import now_rfc3339
from dockyard.errors import NotFound, Unavailable

log = logging.getLogger(__name__)

NOT_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
               "connect this node to swarm and try again.")
LOCKED = ('Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm '
          'unlock" to unlock it.')
_ALPHABET = string.digits + string.ascii_lowercase

T = TypeVar("T", Service, Task, Node, Blob)


def new_object_id() -> str:
    """swarmkit's identity.NewID: 25 characters of base 36."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(25))


class SwarmState:
    def __init__(self, store: SwarmStore, events: EventBus) -> None:
        self.store = store
        self.events = events
        self.cluster: Cluster | None = None
        self.node: Node | None = None
        self.services: dict[str, Service] = {}
        self.tasks: dict[str, Task] = {}
        self.blobs: dict[str, Blob] = {}
        self.key: bytes | None = None  # the data key, once known (after unlock under autolock)
        self.unlock_key: str | None = None
        self.locked = False
        self.changed = asyncio.Event()
        self.settled = asyncio.Condition()

    def load(self) -> None:
        self.cluster = self.store.cluster()
        nodes = self.store.nodes()
        self.node = nodes[0] if nodes else None
        self.services = {s.id: s for s in self.store.services()}
        self.tasks = {t.id: t for t in self.store.tasks()}
        self.blobs = {b.id: b for b in self.store.blobs()}

    def reset(self) -> None:
        self.store.clear()
        self.cluster, self.node, self.key, self.unlock_key, self.locked = None, None, None, None, False
        self.services, self.tasks, self.blobs = {}, {}, {}

    # ---- the manager check every swarm endpoint makes ----
    @property
    def local_state(self) -> str:
        if self.cluster is None:
            return "inactive"
        return "locked" if self.locked else "active"

    def manager(self) -> Cluster:
        if self.cluster is None:
            raise Unavailable(NOT_MANAGER)
        if self.locked:
            raise Unavailable(LOCKED)
        return self.cluster

    # ---- versions ----
    def next_index(self) -> int:
        cluster = self.manager() if not self.locked else self.cluster
        assert cluster is not None
        cluster.index += 1
        return cluster.index

    def stamp(self, obj: Service | Task | Node | Blob | Cluster, *, created: bool = False) -> None:
        """Give ``obj`` the next version index and now as its update time, then save both."""
        now = now_rfc3339()
        obj.version = self.next_index()
        obj.updated = now
        if created:
            obj.created = now
        assert self.cluster is not None
        self.store.save_all([obj, self.cluster] if obj is not self.cluster else [obj])

    def save_tasks(self, tasks: Iterable[Task]) -> None:
        batch = list(tasks)
        if not batch:
            return
        for task in batch:
            task.version = self.next_index()
            task.updated = now_rfc3339()
        assert self.cluster is not None
        self.store.save_all([*batch, self.cluster])

    def wake(self) -> None:
        self.changed.set()

    async def notify_settled(self) -> None:
        async with self.settled:
            self.settled.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait for ``predicate`` to hold after some reconcile pass; False on timeout."""
        async def waiter() -> None:
            async with self.settled:
                await self.settled.wait_for(predicate)
        try:
            await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            return False
        return True

    # ---- lookups: full ID, then name, then a unique ID prefix (swarmkit's) ----
    def tasks_of(self, service_id: str) -> list[Task]:
        return sorted((t for t in self.tasks.values() if t.service_id == service_id),
                      key=lambda t: (t.slot, t.created))


def find(objects: Iterable[T], ref: str, kind: str, name_of: Callable[[T], str] | None = None) -> T:
    candidates = list(objects)
    for obj in candidates:
        if obj.id == ref:
            return obj
    if name_of is not None:
        named = [o for o in candidates if name_of(o) == ref]
        if len(named) == 1:
            return named[0]
    matches = [o for o in candidates if o.id.startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFound(f"{kind} {ref} is ambiguous ({len(matches)} matches found)")
    raise NotFound(f"{kind} {ref} not found")
