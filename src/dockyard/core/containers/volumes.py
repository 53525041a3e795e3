"""The container side of volumes: making the volumes a new container names, filling an empty
volume with the image's content on first use (copy-up), and removing anonymous volumes with their
container (``docker rm -v``, ``--rm``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dockyard.core.containers.model import Container, ContainerPaths
from dockyard.core.containers.mounts import MountPoint, plan
from dockyard.core.events import EventBus
from dockyard.core.rootfs.copy import copy_into
from dockyard.core.rootfs.root import Root
from dockyard.core.rootfs.tree import Entry
from dockyard.core.volumes.model import Volume
from dockyard.core.volumes.service import VolumeService
from dockyard.errors import DockyardError, InvalidArgument, NotFound

log = logging.getLogger(__name__)


class ContainerVolumes:
    """Resolves and prepares the mounts of containers against the volume service."""

    def __init__(self, volumes: VolumeService | None,
                 containers: Callable[[], Iterable[Container]], events: EventBus | None = None) -> None:
        self._volumes = volumes
        self._containers = containers
        self._events = events or EventBus()

    def users(self, name: str) -> list[str]:
        return [c.id for c in self._containers()
                if any(p.type == "volume" and p.name == name for p in c.mounts)]

    async def resolve(self, host: dict[str, Any], config_volumes: dict[str, Any],
                      inherited: list[tuple[list[MountPoint], str]]) -> tuple[list[MountPoint], list[str]]:
        """The container's mount points with volumes made and host paths filled in, and the names
        of the volumes this call created (to undo if the create fails)."""
        points = plan(host, config_volumes, inherited)
        created: list[str] = []
        try:
            resolved = [await self._resolve_one(point, created) for point in points]
        except BaseException:
            await self.drop(created)
            raise
        return resolved, created

    async def _resolve_one(self, point: MountPoint, created: list[str]) -> MountPoint:
        if point.type == "bind":
            await asyncio.to_thread(_check_bind_source, point)
            return point
        if point.type != "volume":
            return point
        if self._volumes is None:
            raise InvalidArgument("volumes are not available in this engine")
        if point.name:
            with contextlib.suppress(NotFound):
                volume = await self._volumes.inspect(point.name)
                return replace(point, source=volume.mountpoint_text, driver=volume.driver)
        volume = await self._volumes.create(point.name, driver=point.driver,
                                            options=dict(point.volume_options),
                                            labels=dict(point.volume_labels),
                                            anonymous=not point.name)
        created.append(volume.name)
        return replace(point, name=volume.name, source=volume.mountpoint_text, driver=volume.driver)

    async def drop(self, names: list[str]) -> None:
        """Remove volumes a failed create made."""
        if self._volumes is None:
            return
        for name in names:
            try:
                await self._volumes.remove(name, force=True)
            except DockyardError as exc:
                log.warning("could not remove volume %s after a failed create: %s", name, exc)

    async def prepare(self, container: Container, paths: ContainerPaths) -> None:
        """Before the runtime starts: mount each volume through its driver (a plugin's ``Mount``
        with a mount ID of its own, as moby's MountPoint.Setup, its path bound in place of the
        record's), copy the image's content into empty volumes (unless ``nocopy``). A failure
        unmounts what this call mounted."""
        if self._volumes is None:
            return
        mounted: list[tuple[Volume, str]] = []
        try:
            for index, point in enumerate(container.mounts):
                if point.type != "volume":
                    continue
                volume = await self._volumes.inspect(point.name)
                # A start follows a full stop: a new ID, never one a stale record kept.
                mount_id = secrets.token_hex(32)
                target = await self._volumes.mount(volume, mount_id)
                mounted.append((volume, mount_id))
                container.mounts[index] = replace(point, source=str(target), mount_id=mount_id)
                if not point.nocopy:
                    await asyncio.to_thread(copy_up, paths.rootfs, point.destination, target)
        except BaseException:
            await self._unmount(container, mounted)
            raise
        for volume, mount_id in mounted:
            point = next(p for p in container.mounts if p.mount_id == mount_id)
            # moby's setupMounts: one "mount" event per volume the starting container uses.
            self._events.publish("volume", "mount", volume.name, {
                "container": container.id, "destination": point.destination,
                "driver": volume.driver, "propagation": point.propagation or "",
                "read/write": str(point.rw).lower()})

    async def _unmount(self, container: Container, mounted: list[tuple[Volume, str]]) -> None:
        """Unmount each (volume, mount ID); the ID is forgotten once its volume is unmounted (or
        was local), so the next start mounts under a new one."""
        done = set()
        for volume, mount_id in mounted:
            if volume.driver != "local":  # local mounts stay until the volume goes (moby's local driver)
                try:
                    await self._volumes_service().unmount(volume, mount_id)
                except DockyardError as exc:
                    log.warning("unmount of volume %s for %s: %s", volume.name, container.id[:12], exc)
                    continue
            done.add(mount_id)
        container.mounts[:] = [replace(p, mount_id="") if p.mount_id in done else p
                               for p in container.mounts]

    def _volumes_service(self) -> VolumeService:
        if self._volumes is None:
            raise InvalidArgument("volumes are not available in this engine")
        return self._volumes

    async def released(self, container: Container) -> None:
        """After an exit (or a failed start): plugin volumes are unmounted (``Unmount`` with the
        ID their ``Mount`` had) and, as moby's UnmountVolumes, "unmount" is emitted for each
        volume."""
        points = [p for p in container.mounts
                  if p.type == "volume" and p.mount_id and p.driver not in ("", "local")]
        container.mounts[:] = [replace(p, mount_id="") if p.driver in ("", "local") else p
                               for p in container.mounts]
        if points and self._volumes is not None:
            mounted = []
            for point in points:
                try:
                    mounted.append((await self._volumes.inspect(point.name), point.mount_id))
                except DockyardError as exc:
                    log.warning("volume %s of %s: %s", point.name, container.id[:12], exc)
            await self._unmount(container, mounted)
        for point in container.mounts:
            if point.type == "volume":
                self._events.publish("volume", "unmount", point.name,
                                     {"container": container.id, "driver": point.driver or "local"})

    async def remove_anonymous(self, container: Container) -> None:
        if self._volumes is None:
            return
        for point in container.mounts:
            if point.type != "volume":
                continue
            try:
                volume = await self._volumes.inspect(point.name)
                if volume.anonymous and not self.users(volume.name):
                    await self._volumes.remove(volume.name)
            except DockyardError as exc:
                log.warning("could not remove volume %s of %s: %s", point.name, container.id[:12], exc)


def _check_bind_source(point: MountPoint) -> None:
    source = Path(point.source)
    if source.exists():
        return
    if point.from_flag != "binds":
        raise InvalidArgument(f'invalid mount config for type "bind": bind source path does not exist: '
                              f"{point.source}")
    # -v /host/dir:/ctr makes the host directory, as Docker always has.
    source.mkdir(parents=True, exist_ok=True)


def copy_up(rootfs: Path, destination: str, volume_dir: Path) -> None:
    """Docker's copy-up: an empty volume receives what the image has at its mount point, with
    owners, modes and times. Both trees are read and written by descriptors
    (:mod:`dockyard.core.rootfs`): the mount point is looked up without following any symlink,
    and nothing in the image can point the copy at a host file. Blocking."""
    if any(volume_dir.iterdir()):
        return
    with Root.at(rootfs, through_symlinks=False) as image:
        try:
            fd = image.open(destination, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return  # missing, not a directory, or reached through a symlink: nothing to copy
    try:
        top = Entry(rel="", name=".", fd=fd, st=os.fstat(fd))
        with Root.at(volume_dir) as volume:
            copy_into(top, volume)
            # The volume's own top is the daemon's directory (volumes/<name>/_data): by path.
            os.chown(volume_dir, top.st.st_uid, top.st.st_gid)
            os.chmod(volume_dir, top.st.st_mode & 0o7777)
    finally:
        os.close(fd)
