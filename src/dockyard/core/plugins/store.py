"""Where managed plugins live: a record per plugin in SQLite, files under ``<data-root>/plugins``.

Layout, as moby's ``/var/lib/docker/plugins/<id>/``::

    plugins/<id>/rootfs/          the unpacked layer (read-only to the plugin)
    plugins/<id>/config.json      the plugin object as ``docker plugin inspect`` shows it
    plugins/<id>/blobs/<hex>      the artefact as pushed: the gzipped rootfs layer, the config blob
                                  (media type application/vnd.docker.plugin.v1+json), the manifest
    plugins/tmp/                  half-made plugins (create, pull, upgrade); emptied at start

Names are *familiar* references with a tag (``vol:latest``, ``127.0.0.1:5000/x/vol:v2``), as
moby's store keeps them; lookups take a name (``:latest`` implied), a full ID or an ID prefix.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.core.ids import is_full_hex_id
from dockyard.core.images.reference import parse
from dockyard.core.metadata import Metadata
from dockyard.errors import AlreadyExists, InvalidArgument, NotFound

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS managed_plugins ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, record TEXT NOT NULL)",
)


@dataclass
class ManagedPlugin:
    """One plugin: its config, the user's settings and the digests of its artefact."""

    id: str
    name: str
    config: dict[str, Any]
    settings: dict[str, Any]
    enabled: bool = False
    reference: str = ""  # PluginReference: where it came from (the name for `plugin create`)
    manifest: str = ""  # digests of the manifest, config blob and gzipped layers under blobs/
    config_digest: str = ""
    layers: list[str] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "config": self.config, "settings": self.settings,
                "enabled": self.enabled, "reference": self.reference, "manifest": self.manifest,
                "config_digest": self.config_digest, "layers": self.layers}

    @classmethod
    def from_record(cls, raw: dict[str, Any]) -> ManagedPlugin:
        return cls(id=raw["id"], name=raw["name"], config=raw["config"], settings=raw["settings"],
                   enabled=bool(raw.get("enabled")), reference=str(raw.get("reference") or ""),
                   manifest=str(raw.get("manifest") or ""), config_digest=str(raw.get("config_digest") or ""),
                   layers=list(raw.get("layers") or []))

    def to_json(self) -> dict[str, Any]:
        """Docker's ``Plugin`` object."""
        return {"Id": self.id, "Name": self.name, "Enabled": self.enabled, "Settings": self.settings,
                "PluginReference": self.reference, "Config": self.config}


def local_name(value: str) -> str:
    """A plugin's name as moby stores it: familiar, tagged (``latest`` when none), no digest."""
    ref = parse(value)
    if ref.digest is not None:
        raise InvalidArgument("cannot use digest in plugin tag")
    return ref.with_default_tag().familiar()


class PluginStore:
    def __init__(self, db: Metadata, root: Path) -> None:
        self._db = db
        self.root = root
        self.tmp = root / "tmp"

    def open(self) -> None:
        self._db.ensure_schema(_SCHEMA)
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)  # what a daemon killed mid-create left
        self.tmp.mkdir()
        known = {row["id"] for row in self._db.query("SELECT id FROM managed_plugins")}
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.name != "tmp" and entry.name not in known:
                log.warning("removing plugin files no record owns: %s", entry.name[:12])
                shutil.rmtree(entry, ignore_errors=True)

    def dir(self, plugin_id: str) -> Path:
        return self.root / plugin_id

    def rootfs(self, plugin_id: str) -> Path:
        return self.root / plugin_id / "rootfs"

    def blob(self, plugin_id: str, digest: str) -> Path:
        return self.root / plugin_id / "blobs" / digest.removeprefix("sha256:")

    def all(self) -> list[ManagedPlugin]:
        rows = self._db.query("SELECT record FROM managed_plugins ORDER BY name")
        return [ManagedPlugin.from_record(json.loads(row["record"])) for row in rows]

    def get(self, ref_or_id: str) -> ManagedPlugin:
        """By name (``:latest`` implied), full ID or unique ID prefix: moby's ``resolvePluginID``."""
        if is_full_hex_id(ref_or_id):
            row = self._db.query_one("SELECT record FROM managed_plugins WHERE id = ?", (ref_or_id,))
            if row is not None:
                return ManagedPlugin.from_record(json.loads(row["record"]))
        try:
            name = local_name(ref_or_id)
        except InvalidArgument:
            name = ""
        if name:
            row = self._db.query_one("SELECT record FROM managed_plugins WHERE name = ?", (name,))
            if row is not None:
                return ManagedPlugin.from_record(json.loads(row["record"]))
        if ref_or_id and all(c in "0123456789abcdef" for c in ref_or_id):
            rows = self._db.query("SELECT record FROM managed_plugins WHERE id LIKE ?", (ref_or_id + "%",))
            if len(rows) > 1:
                raise InvalidArgument(f'multiple plugins found for "{ref_or_id}"')
            if rows:
                return ManagedPlugin.from_record(json.loads(rows[0]["record"]))
        raise NotFound(f'plugin "{ref_or_id}" not found')

    def find(self, name: str) -> ManagedPlugin | None:
        try:
            return self.get(name)
        except (NotFound, InvalidArgument):
            return None

    def check_name(self, name: str) -> None:
        if self._db.query_one("SELECT id FROM managed_plugins WHERE name = ?", (name,)) is not None:
            raise AlreadyExists(f"plugin {name} already exists")

    def add(self, plugin: ManagedPlugin) -> None:
        self.check_name(plugin.name)
        self.save(plugin)

    def save(self, plugin: ManagedPlugin) -> None:
        record = json.dumps(plugin.to_record())
        with self._db.transaction() as tx:
            tx.execute("INSERT INTO managed_plugins (id, name, record) VALUES (?, ?, ?) "
                       "ON CONFLICT(id) DO UPDATE SET name = excluded.name, record = excluded.record",
                       (plugin.id, plugin.name, record))
        # The plugin object beside its rootfs too, as moby's plugins/<id>/config.json.
        path = self.dir(plugin.id) / "config.json"
        if path.parent.is_dir():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(plugin.to_json(), indent=1))
            tmp.replace(path)

    def remove(self, plugin: ManagedPlugin) -> None:
        """The record first: a crash after it leaves files that ``open`` removes."""
        self._db.execute("DELETE FROM managed_plugins WHERE id = ?", (plugin.id,))
        shutil.rmtree(self.dir(plugin.id), ignore_errors=True)
