"""Build cache records: cache key -> the image a step produced (table ``build_cache``).

A key is :func:`cache_key` of the parent step's key, the instruction after substitution and the
digests of the files it reads, so a touched but unchanged file still hits. A record whose image was
deleted is a miss (and is dropped). Records live in ``dockyard.db`` and survive daemon restarts.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dockyard.core.metadata import Metadata
from dockyard.core.timestamps import now_rfc3339

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS build_cache (
        key TEXT PRIMARY KEY, image_id TEXT NOT NULL, created TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS build_cache_by_image ON build_cache(image_id)",
)


def cache_key(parent: str, instruction: str, extra: Any = None) -> str:
    """sha256 of the parent key, the expanded instruction and what else the step depends on
    (file digests, the config it runs with); JSON with sorted keys keeps it stable."""
    payload = json.dumps([parent, instruction, extra], sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


class BuildCache:
    def __init__(self, db: Metadata) -> None:
        self._db = db

    def ensure_schema(self) -> None:
        self._db.ensure_schema(SCHEMA)

    def get(self, key: str) -> str | None:
        row = self._db.query_one("SELECT image_id FROM build_cache WHERE key = ?", (key,))
        return str(row["image_id"]) if row is not None else None

    def put(self, key: str, image_id: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO build_cache (key, image_id, created) VALUES (?, ?, ?)",
                         (key, image_id, now_rfc3339()))

    def drop(self, key: str) -> None:
        self._db.execute("DELETE FROM build_cache WHERE key = ?", (key,))

    def image_ids(self) -> list[str]:
        return [str(r["image_id"]) for r in self._db.query("SELECT DISTINCT image_id FROM build_cache")]

    def clear(self) -> int:
        with self._db.transaction() as tx:
            count = int(tx.execute("SELECT COUNT(*) FROM build_cache").fetchone()[0])
            tx.execute("DELETE FROM build_cache")
        return count
