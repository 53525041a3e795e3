"""VolumeService: Docker's volume verbs (create, inspect, list, remove, prune) for the local driver.

Records live in SQLite (one row per volume, the record as JSON); data in ``volumes/<name>/_data``.
Who uses a volume is the container service's knowledge: it is asked through ``set_users`` so that
removing a volume in use is Docker's 409 (``volume is in use - [<ids>]``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from dockyard.config import DaemonConfig
from dockyard.core.events import EventBus
from dockyard.core.labels import labels_match
from dockyard.core.layers.snapshots import Mounter
from dockyard.core.metadata import Metadata
from dockyard.core.timestamps import now_rfc3339
from dockyard.core.volumes.model import (
    ANONYMOUS_LABEL,
    LOCAL_DRIVER,
    Volume,
    host_mount,
    validate_name,
    validate_options,
)
from dockyard.errors import DockyardError, Internal, InUse, InvalidArgument, NotFound

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
                 events: EventBus | None = None, root_owner: tuple[int, int] | None = None) -> None:
        self._config = config
        # --userns-remap: a new volume belongs to the remapped root, as dockerd makes it, so the
        # container's root may write to it.
        self._root_owner = root_owner
        self._events = events or EventBus()
        self._db = db
        self._mounter = mounter
        self._users: VolumeUsers = _no_users
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._db.ensure_schema(_SCHEMA)
        self._config.volumes_dir.mkdir(parents=True, exist_ok=True)

    def set_users(self, users: VolumeUsers) -> None:
        """``users(name)`` -> IDs of the containers that mount the volume (set by the daemon)."""
        self._users = users

    def _dir(self, name: str) -> Path:
        return self._config.volumes_dir / name

    # ---- create/read ----
    async def create(self, name: str = "", *, driver: str = "", options: dict[str, str] | None = None,
                     labels: dict[str, str] | None = None, anonymous: bool = False) -> Volume:
        """Docker's create: an existing volume of that name is returned as it is."""
        driver = driver or LOCAL_DRIVER
        if driver != LOCAL_DRIVER:
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
        options = dict(options or {})
        validate_options(options)
        labels = dict(labels or {})
        if anonymous:
            labels[ANONYMOUS_LABEL] = ""
        name = validate_name(name) if name else secrets.token_hex(32)
        async with self._lock:
            existing = self._get(name)
            if existing is not None:
                return existing
            volume = Volume(name=name, driver=driver, created_at=now_rfc3339(),
                            mountpoint=self._dir(name) / "_data", labels=labels, options=options)
            await asyncio.to_thread(self._create_sync, volume)
        log.info("created volume %s", name)
        self._events.publish("volume", "create", name, {"driver": driver})
        return volume

    def _create_sync(self, volume: Volume) -> None:
        with ExitStack() as undo:
            volume.mountpoint.mkdir(parents=True, mode=0o755)
            undo.callback(shutil.rmtree, self._dir(volume.name), True)
            if self._root_owner is not None:
                os.chown(volume.mountpoint, *self._root_owner)
            self._db.execute("INSERT INTO volumes (name, created, record) VALUES (?, ?, ?)",
                             (volume.name, volume.created_at, json.dumps(volume.to_record())))
            undo.pop_all()

    def _get(self, name: str) -> Volume | None:
        row = self._db.query_one("SELECT record FROM volumes WHERE name = ?", (name,))
        return None if row is None else Volume.from_record(json.loads(row["record"]))

    async def inspect(self, name: str) -> Volume:
        volume = self._get(name)
        if volume is None:
            raise NotFound(f"get {name}: no such volume")
        return volume

    async def list(self, filters: Filters | None = None) -> builtins.list[Volume]:
        filters = filters or {}
        for key in filters:
            if key not in _FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        rows = self._db.query("SELECT record FROM volumes ORDER BY created")
        volumes = [Volume.from_record(json.loads(row["record"])) for row in rows]
        return [v for v in volumes if self._matches(v, filters)]

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
        return await asyncio.to_thread(_tree_size, volume.mountpoint)

    # ---- use ----
    def ensure_mounted(self, volume: Volume) -> Path:
        """The host directory a container mounts; a ``-o type=…`` volume is mounted here first.
        Blocking: callers run it in a worker thread."""
        mount = host_mount(volume.options)
        if mount is not None and not os.path.ismount(volume.mountpoint):
            volume.mountpoint.mkdir(parents=True, exist_ok=True)
            try:
                self._mounter.mount([mount], volume.mountpoint)
            except DockyardError as exc:
                raise InvalidArgument(
                    f"error while mounting volume '{volume.mountpoint}': failed to mount local volume: "
                    f"{exc}") from exc
        return volume.mountpoint

    # ---- remove ----
    async def remove(self, name: str, *, force: bool = False) -> None:
        async with self._lock:
            volume = self._get(name)
            if volume is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self._users(name)
            if users:
                raise InUse(f"remove {name}: volume is in use - [{', '.join(users)}]")
            await asyncio.to_thread(self._remove_sync, volume)
        log.info("removed volume %s", name)
        self._events.publish("volume", "destroy", name, {"driver": volume.driver})

    def _remove_sync(self, volume: Volume) -> None:
        if host_mount(volume.options) is not None:
            self._mounter.unmount(volume.mountpoint)
            # Never delete through a mount: a bind volume's _data is the user's own directory.
            if os.path.ismount(volume.mountpoint):
                raise Internal(f"remove {volume.name}: {volume.mountpoint} is still mounted")
        self._db.execute("DELETE FROM volumes WHERE name = ?", (volume.name,))
        shutil.rmtree(self._dir(volume.name), ignore_errors=True)

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


def _tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
