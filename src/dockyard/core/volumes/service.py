"""VolumeService: Docker's volume verbs (create, inspect, list, remove, prune) over the ``local``
driver (core/volumes/local.py) and volume plugins (core/volumes/remote.py).

Records live in SQLite (one row per volume, the record as JSON, its driver's name too, as moby's
volume store keeps one); a local volume's data in ``volumes/<name>/_data``, a plugin's in the plugin.
Who uses a volume is the container service's knowledge: it is asked through ``set_users`` so that
removing a volume in use is Docker's 409 (``volume is in use - [<ids>]``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from dockyard.config import DaemonConfig
from dockyard.core.events import EventBus
from dockyard.core.labels import labels_match
from dockyard.core.layers.snapshots import Mounter
from dockyard.core.metadata import Metadata
from dockyard.core.plugins.registry import PluginError, PluginRegistry
from dockyard.core.rootfs.tree import tree_size
from dockyard.core.timestamps import now_rfc3339
from dockyard.core.volumes.drivers import VolumeDriver
from dockyard.core.volumes.local import LocalDriver
from dockyard.core.volumes.model import ANONYMOUS_LABEL, LOCAL_DRIVER, Volume, validate_name
from dockyard.core.volumes.plugin_volumes import PluginDrivers
from dockyard.errors import Conflict, DockyardError, InUse, InvalidArgument, NotFound

log = logging.getLogger(__name__)

VolumeUsers = Callable[[str], list[str]]
Filters = dict[str, list[str]]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS volumes (
        name TEXT PRIMARY KEY,
        created TEXT NOT NULL,
        record TEXT NOT NULL
    )""",
)
_FILTERS = frozenset({"dangling", "driver", "label", "name", "all"})


def _no_users(name: str) -> list[str]:
    return []


class VolumeService:
    def __init__(self, *, config: DaemonConfig, db: Metadata, mounter: Mounter,
                 events: EventBus | None = None, root_owner: tuple[int, int] | None = None,
                 plugins: PluginRegistry | None = None) -> None:
        self._config = config
        self._events = events or EventBus()
        self._db = db
        self._mounter = mounter
        self._local = LocalDriver(config.volumes_dir, mounter, root_owner)
        self._plugins = plugins
        self._drivers = PluginDrivers(plugins)
        self._users: VolumeUsers = _no_users
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._db.ensure_schema(_SCHEMA)
        self._config.volumes_dir.mkdir(parents=True, exist_ok=True)

    def set_users(self, users: VolumeUsers) -> None:
        """``users(name)`` -> IDs of the containers that mount the volume (set by the daemon)."""
        self._users = users

    async def _driver(self, name: str) -> VolumeDriver:
        if name == LOCAL_DRIVER:
            return self._local
        return await self._drivers.get(name)

    async def driver_names(self) -> builtins.list[str]:
        """``docker info``'s Plugins.Volume: ``local``, then the volume plugins found now."""
        return [LOCAL_DRIVER, *await self._drivers.names()]

    # ---- create/read ----
    async def create(self, name: str = "", *, driver: str = "", options: dict[str, str] | None = None,
                     labels: dict[str, str] | None = None, anonymous: bool = False) -> Volume:
        """Docker's create: an existing volume of that name is returned as it is."""
        driver_name = driver or LOCAL_DRIVER
        backend = await self._driver(driver_name)
        options = dict(options or {})
        backend.check_options(options)
        labels = dict(labels or {})
        if anonymous:
            labels[ANONYMOUS_LABEL] = ""
        name = validate_name(name) if name else secrets.token_hex(32)
        async with self._lock:
            existing = self._get(name)
            if existing is not None:
                if existing.driver != backend.name:
                    raise Conflict(f"create {name}: driver '{existing.driver}' already has volume "
                                   f"'{name}': volume name must be unique")
                return existing
            mountpoint = self._local.path_of(name) if backend is self._local else Path()
            volume = Volume(name=name, driver=backend.name, created_at=now_rfc3339(),
                            mountpoint=mountpoint, labels=labels, options=options)
            try:
                await backend.create(volume)
            except PluginError as exc:
                raise PluginError(f"create {name}: {exc}") from exc
            try:
                self._db.execute("INSERT INTO volumes (name, created, record) VALUES (?, ?, ?)",
                                 (volume.name, volume.created_at, json.dumps(volume.to_record())))
            except BaseException:
                await backend.remove(volume)
                raise
        log.info("created volume %s (driver %s)", name, backend.name)
        self._events.publish("volume", "create", name, {"driver": backend.name})
        return await self._described(volume)

    def _get(self, name: str) -> Volume | None:
        row = self._db.query_one("SELECT record FROM volumes WHERE name = ?", (name,))
        return None if row is None else Volume.from_record(json.loads(row["record"]))

    async def _described(self, volume: Volume) -> Volume:
        if volume.driver == LOCAL_DRIVER:
            return volume
        try:
            return await (await self._driver(volume.driver)).describe(volume)
        except DockyardError as exc:
            log.warning("volume %s: plugin %s: %s", volume.name, volume.driver, exc)
            return volume

    async def inspect(self, name: str) -> Volume:
        volume = self._get(name)
        if volume is None:
            found = await self._drivers.probe(name)
            if found is None:
                raise NotFound(f"get {name}: no such volume")
            return found
        if volume.driver == LOCAL_DRIVER:
            return volume
        try:
            plugin = await self._drivers.get(volume.driver)
            if await plugin.lookup(name) is None:
                # The plugin no longer has it (moby purges the stale record).
                self._db.execute("DELETE FROM volumes WHERE name = ?", (name,))
                raise NotFound(f"get {name}: no such volume")
            return await plugin.describe(volume)
        except PluginError as exc:
            raise PluginError(f'get {name}: error while checking if volume "{name}" exists in driver '
                              f'"{volume.driver}": {exc}') from exc

    async def list(self, filters: Filters | None = None) -> builtins.list[Volume]:
        volumes, _warnings = await self.list_all(filters)
        return volumes

    async def list_all(self, filters: Filters | None = None
                       ) -> tuple[builtins.list[Volume], builtins.list[str]]:
        """Every driver's volumes (the plugins' from their ``List``) and a warning for each
        plugin that could not list, whose known volumes are shown from the records."""
        filters = filters or {}
        for key in filters:
            if key not in _FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        rows = self._db.query("SELECT record FROM volumes ORDER BY created")
        records = [Volume.from_record(json.loads(row["record"])) for row in rows]
        volumes, warnings = await self._drivers.merge(records)
        return [v for v in volumes if self._matches(v, filters)], warnings

    def _matches(self, volume: Volume, filters: Filters) -> bool:
        if "name" in filters and not any(n in volume.name for n in filters["name"]):
            return False
        if "driver" in filters and volume.driver not in filters["driver"]:
            return False
        if not labels_match(volume.labels, filters.get("label", [])):
            return False
        for dangling in filters.get("dangling", []):
            want = dangling.lower() in ("true", "1")
            if want == bool(self._users(volume.name)):
                return False
        return True

    async def size(self, volume: Volume) -> int:
        if volume.driver != LOCAL_DRIVER:
            return 0  # a plugin's data is the plugin's: not walked (moby reports it as unknown)
        return await asyncio.to_thread(tree_size, volume.mountpoint)

    # ---- use ----
    def ensure_mounted(self, volume: Volume) -> Path:
        """A local volume's host directory, its ``-o type=…`` mount made first. Blocking."""
        return self._local.ensure_mounted(volume)

    async def mount(self, volume: Volume, ref: str) -> Path:
        """The host directory to bind for user ``ref`` (a container): a plugin's ``Mount``."""
        backend = await self._driver(volume.driver)
        try:
            return await backend.mount(volume, ref)
        except PluginError as exc:
            raise PluginError(f"error while mounting volume '{volume.mountpoint_text}': {exc}") from exc

    async def unmount(self, volume: Volume, ref: str) -> None:
        backend = await self._driver(volume.driver)
        try:
            await backend.unmount(volume, ref)
        except PluginError as exc:
            raise PluginError(f"error unmounting volume {volume.name}: {exc}") from exc

    # ---- remove ----
    async def remove(self, name: str, *, force: bool = False) -> None:
        async with self._lock:
            volume = self._get(name) or await self._drivers.probe(name)
            if volume is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self._users(name)
            if users:
                raise InUse(f"remove {name}: volume is in use - [{', '.join(users)}]")
            try:
                await (await self._driver(volume.driver)).remove(volume)
            except DockyardError as exc:
                if force:  # moby's PurgeOnError: the record goes even if the plugin refuses
                    self._db.execute("DELETE FROM volumes WHERE name = ?", (volume.name,))
                if isinstance(exc, PluginError):
                    raise PluginError(f"remove {name}: {exc}") from exc
                raise
            self._db.execute("DELETE FROM volumes WHERE name = ?", (volume.name,))
        log.info("removed volume %s", name)
        self._events.publish("volume", "destroy", name, {"driver": volume.driver})

    async def prune(self, filters: Filters | None = None) -> tuple[builtins.list[str], int]:
        """Unused volumes: anonymous ones only unless ``all=true`` (Docker since API 1.42)."""
        filters = dict(filters or {})
        prune_all = any(v.lower() in ("true", "1") for v in filters.pop("all", []))
        deleted: builtins.list[str] = []
        reclaimed = 0
        for volume in await self.list(filters):
            if (not prune_all and not volume.anonymous) or self._users(volume.name):
                continue
            size = await self.size(volume)
            with contextlib.suppress(NotFound, InUse):
                await self.remove(volume.name)
                deleted.append(volume.name)
                reclaimed += size
        return deleted, reclaimed
