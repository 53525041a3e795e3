"""The swarm's records in SQLite: one table of JSON rows keyed by kind and ID.

The orchestrator works on the in-memory copies; every change is written through in the same call,
so a daemon restart loads exactly what the last change left (services, tasks, secrets, configs,
the node and the cluster).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from dockyard.core.metadata import Metadata
from dockyard.core.swarm.model import Blob, Cluster, Node, Service, Task, blob_from_record, to_record

log = logging.getLogger(__name__)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS swarm_objects (
        kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id))""",
)


class SwarmStore:
    def __init__(self, db: Metadata) -> None:
        self._db = db

    def ensure_schema(self) -> None:
        self._db.ensure_schema(_SCHEMA)

    def _rows(self, kind: str) -> list[dict[str, Any]]:
        rows = self._db.query("SELECT data FROM swarm_objects WHERE kind = ?", (kind,))
        return [json.loads(r["data"]) for r in rows]

    def cluster(self) -> Cluster | None:
        rows = self._rows("cluster")
        return Cluster(**rows[0]) if rows else None

    def nodes(self) -> list[Node]:
        return [Node(**r) for r in self._rows("node")]

    def services(self) -> list[Service]:
        return [Service(**r) for r in self._rows("service")]

    def tasks(self) -> list[Task]:
        return [Task(**r) for r in self._rows("task")]

    def blobs(self) -> list[Blob]:
        return [blob_from_record(r) for kind in ("secret", "config") for r in self._rows(kind)]

    def save(self, obj: Cluster | Node | Service | Task | Blob) -> None:
        self.save_all([obj])

    def save_all(self, objects: Iterable[Cluster | Node | Service | Task | Blob]) -> None:
        with self._db.transaction() as tx:
            for obj in objects:
                tx.execute("INSERT OR REPLACE INTO swarm_objects (kind, id, data) VALUES (?, ?, ?)",
                           (_kind(obj), obj.id, json.dumps(to_record(obj))))

    def delete(self, obj: Cluster | Node | Service | Task | Blob) -> None:
        self._db.execute("DELETE FROM swarm_objects WHERE kind = ? AND id = ?", (_kind(obj), obj.id))

    def clear(self) -> None:
        self._db.execute("DELETE FROM swarm_objects")


def _kind(obj: Cluster | Node | Service | Task | Blob) -> str:
    if isinstance(obj, Blob):
        return obj.kind
    return type(obj).__name__.lower()
