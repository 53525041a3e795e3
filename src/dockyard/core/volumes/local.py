"""Docker's ``local`` volume driver: ``volumes/<name>/_data``, optionally a mount point filled by a
tmpfs or a bind of ``device`` (``-o type=…``), mounted on first use as moby's local driver does."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from dockyard.core.layers.snapshots import Mounter
from dockyard.core.volumes.model import LOCAL_DRIVER, Volume, host_mount, validate_options
from dockyard.errors import DockyardError, Internal, InvalidArgument


class LocalDriver:
    name = LOCAL_DRIVER

    def __init__(self, volumes_dir: Path, mounter: Mounter,
                 root_owner: tuple[int, int] | None = None) -> None:
        self._dir = volumes_dir
        self._mounter = mounter
        # --userns-remap: a new volume belongs to the remapped root, as dockerd makes it, so the
        # container's root may write to it.
        self._root_owner = root_owner

    def path_of(self, name: str) -> Path:
        return self._dir / name / "_data"

    def check_options(self, options: dict[str, str]) -> None:
        validate_options(options)

    async def create(self, volume: Volume) -> None:
        await asyncio.to_thread(self._create_sync, volume)

    def _create_sync(self, volume: Volume) -> None:
        volume.mountpoint.mkdir(parents=True, mode=0o755)
        if self._root_owner is not None:
            try:
                os.chown(volume.mountpoint, *self._root_owner)
            except OSError:
                shutil.rmtree(self._dir / volume.name, ignore_errors=True)
                raise

    async def remove(self, volume: Volume) -> None:
        await asyncio.to_thread(self._remove_sync, volume)

    def _remove_sync(self, volume: Volume) -> None:
        if host_mount(volume.options) is not None:
            self._mounter.unmount(volume.mountpoint)
            # Never delete through a mount: a bind volume's _data is the user's own directory.
            if os.path.ismount(volume.mountpoint):
                raise Internal(f"remove {volume.name}: {volume.mountpoint} is still mounted")
        shutil.rmtree(self._dir / volume.name, ignore_errors=True)

    async def mount(self, volume: Volume, ref: str) -> Path:
        return await asyncio.to_thread(self.ensure_mounted, volume)

    def ensure_mounted(self, volume: Volume) -> Path:
        """The host directory a container mounts; a ``-o type=…`` volume is mounted here first.
        Blocking."""
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

    async def unmount(self, volume: Volume, ref: str) -> None:
        """Nothing: like moby's local driver, a ``-o type=`` mount stays until the volume is removed."""

    async def describe(self, volume: Volume) -> Volume:
        return volume
