"""Container records in SQLite: one row per container, the record as JSON, the name unique."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable

from dockyard.core.containers.model import Container
from dockyard.core.ids import ContainerId
from dockyard.core.metadata import Metadata
from dockyard.errors import AlreadyExists, InvalidArgument, NotFound

log = logging.getLogger(__name__)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image_id TEXT NOT NULL,
        created TEXT NOT NULL,
        record TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id)",
)


def name_conflict(name: str, owner: str) -> AlreadyExists:
    return AlreadyExists(
        f'Conflict. The container name "{name}" is already in use by container "{owner}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )


class ContainerStore:
    """Persistence of :class:`Container` records; the service keeps live objects in memory."""

    def __init__(self, db: Metadata) -> None:
        self._db = db

    def ensure_schema(self) -> None:
        self._db.ensure_schema(_SCHEMA)

    def load_all(self) -> list[Container]:
        rows = self._db.query("SELECT record FROM containers ORDER BY created")
        result: list[Container] = []
        for row in rows:
            try:
                result.append(Container.from_record(json.loads(row["record"])))
            except (KeyError, TypeError, ValueError):
                log.warning("skipping unreadable container record", exc_info=True)
        return result

    def insert(self, container: Container) -> None:
        try:
            self._db.execute(
                "INSERT INTO containers (id, name, image_id, created, record) VALUES (?, ?, ?, ?, ?)",
                (container.id, container.name, container.image_id, container.created,
                 json.dumps(container.to_record())),
            )
        except sqlite3.IntegrityError as exc:
            owner = self.owner_of(container.name)
            raise name_conflict(container.name, owner or "") from exc

    def save(self, container: Container) -> None:
        try:
            self._db.execute(
                "UPDATE containers SET name = ?, record = ? WHERE id = ?",
                (container.name, json.dumps(container.to_record()), container.id),
            )
        except sqlite3.IntegrityError as exc:
            owner = self.owner_of(container.name)
            raise name_conflict(container.name, owner or "") from exc

    def delete(self, container_id: ContainerId) -> None:
        self._db.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    def owner_of(self, name: str) -> str | None:
        row = self._db.query_one("SELECT id FROM containers WHERE name = ?", (name,))
        return str(row["id"]) if row else None


def resolve_ref(containers: dict[ContainerId, Container], ref: str) -> Container:
    """Docker's lookup order: full ID, name (with or without "/"), then a unique ID prefix."""
    if not ref:
        raise InvalidArgument("container name or ID cannot be empty")
    found = containers.get(ContainerId(ref))
    if found is not None:
        return found
    name = ref if ref.startswith("/") else "/" + ref
    for container in containers.values():
        if container.name == name:
            return container
    matches = [c for c in containers.values() if c.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
    raise NotFound(f"No such container: {ref}")


class LiveContainers:
    """The records in memory, persisted on every change, with a change signal for waiters.

    ``exits`` counts exits per container so a ``next-exit`` waiter registered before start
    cannot miss a fast exit; ``results`` keeps the last exit for ``removed`` waiters.
    """

    def __init__(self, store: ContainerStore) -> None:
        self.store = store
        self.by_id: dict[ContainerId, Container] = {}
        self.exits: dict[ContainerId, int] = {}
        self.results: dict[ContainerId, tuple[int, str]] = {}
        self._changed = asyncio.Event()

    def load(self) -> None:
        self.store.ensure_schema()
        self.by_id = {c.id: c for c in self.store.load_all()}

    def get(self, ref: str) -> Container:
        return resolve_ref(self.by_id, ref)

    def add(self, container: Container) -> None:
        self.store.insert(container)
        self.by_id[container.id] = container
        self.notify()

    def save(self, container: Container) -> None:
        self.store.save(container)
        self.notify()

    def discard(self, container: Container) -> None:
        self.store.delete(container.id)
        self.by_id.pop(container.id, None)
        self.results[container.id] = (container.exit_code, "")
        self.notify()

    def record_exit(self, container: Container) -> None:
        self.exits[container.id] = self.exits.get(container.id, 0) + 1
        # A wait's Error is about waiting itself; a failed start already answered the client.
        self.results[container.id] = (container.exit_code, "")
        self.save(container)

    def notify(self) -> None:
        # Swap the event so each waiter re-checks its predicate once per change.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()
