"""Network and endpoint records in SQLite; the service keeps live copies in memory."""

from __future__ import annotations

import json
import sqlite3

from dockyard.core.metadata import Metadata
from dockyard.core.networks.model import Endpoint, Network
from dockyard.errors import AlreadyExists

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS endpoints (
        id TEXT PRIMARY KEY,
        network_id TEXT NOT NULL,
        container_id TEXT NOT NULL,
        record TEXT NOT NULL
    )""",
)


class NetworkStore:
    def __init__(self, db: Metadata) -> None:
        self._db = db

    def ensure_schema(self) -> None:
        self._db.ensure_schema(_SCHEMA)

    def networks(self) -> list[Network]:
        rows = self._db.query("SELECT record FROM networks")
        return [Network.from_record(json.loads(r["record"])) for r in rows]

    def endpoints(self) -> list[Endpoint]:
        rows = self._db.query("SELECT record FROM endpoints")
        return [Endpoint.from_record(json.loads(r["record"])) for r in rows]

    def add_network(self, network: Network) -> None:
        try:
            self._db.execute("INSERT INTO networks (id, name, record) VALUES (?, ?, ?)",
                             (network.id, network.name, json.dumps(network.to_record())))
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"network with name {network.name} already exists") from exc

    def save_network(self, network: Network) -> None:
        self._db.execute("UPDATE networks SET record = ? WHERE id = ?",
                         (json.dumps(network.to_record()), network.id))

    def delete_network(self, network_id: str) -> None:
        self._db.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    def save_endpoint(self, endpoint: Endpoint) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO endpoints (id, network_id, container_id, record) VALUES (?, ?, ?, ?)",
            (endpoint.id, endpoint.network_id, endpoint.container_id,
             json.dumps(endpoint.to_record())))

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._db.execute("DELETE FROM endpoints WHERE id = ?", (endpoint_id,))
