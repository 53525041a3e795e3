"""A container's filesystem as the read verbs see it: mounted for ``cp``/``export`` when the
container is stopped, its size, its changes against the image, and inspect's GraphDriver data."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from dockyard.core.containers.model import Container, ContainerPaths
from dockyard.core.images.model import Image
from dockyard.core.layers.snapshots import Mounter, Snapshotter
from dockyard.core.rootfs.tree import tree_size
from dockyard.errors import DockyardError, NotFound


class ImageLookup(Protocol):
    """What the container service needs of the image service."""

    async def inspect(self, ref: str) -> Image: ...


class ContainerFilesystem:
    def __init__(self, *, snapshotter: Snapshotter, mounter: Mounter, images: ImageLookup,
                 paths: Callable[[Container], ContainerPaths]) -> None:
        self._snapshotter = snapshotter
        self._mounter = mounter
        self._images = images
        self._paths = paths

    @asynccontextmanager
    async def rootfs(self, container: Container) -> AsyncIterator[Path]:
        """The container's merged filesystem, mounted for the time of the block when it is not
        running (``docker cp``, ``export`` and ``commit`` work on stopped containers too)."""
        root = self._paths(container).rootfs
        if await asyncio.to_thread(os.path.ismount, root):
            yield root
            return
        await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(self._mounter.mount, self._snapshotter.mounts(container.id), root)
        try:
            yield root
        finally:
            if not container.state.is_active:
                await asyncio.to_thread(self._mounter.unmount, root)

    async def graph_data(self, container: Container) -> dict[str, str]:
        """Where the container's filesystem lives, for inspect's GraphDriver.Data."""
        merged = str(self._paths(container).rootfs)
        try:
            mounts = await asyncio.to_thread(self._snapshotter.mounts, container.id)
        except DockyardError:
            return {"MergedDir": merged}
        options = next((m.options for m in mounts if m.type == "overlay"), ())
        data = overlay_dirs(options, merged)
        if "UpperDir" not in data:
            data["UpperDir"] = str(self._snapshotter.upper_dir(container.id))
        return data

    async def size(self, container: Container) -> tuple[int, int]:
        """(SizeRw, SizeRootFs): bytes in the writable layer, and with the image's layers."""
        upper = self._snapshotter.upper_dir(container.id)
        rw = await asyncio.to_thread(tree_size, upper)
        image_size = 0
        with contextlib.suppress(NotFound):
            image_size = (await self._images.inspect(container.image_id)).size
        return rw, rw + image_size

    async def changes(self, container: Container) -> list[tuple[int, str]]:
        from dockyard.core.layers.changes import changes

        upper = self._snapshotter.upper_dir(container.id)
        lowers = self._snapshotter.parent_dirs(container.id)
        return await asyncio.to_thread(changes, upper, lowers)


def overlay_dirs(options: tuple[str, ...], merged: str) -> dict[str, str]:
    """GraphDriver.Data from an overlay mount's options (lowerdir/upperdir/workdir)."""
    keys = {"lowerdir": "LowerDir", "upperdir": "UpperDir", "workdir": "WorkDir"}
    data = {"MergedDir": merged}
    for option in options:
        key, _, value = option.partition("=")
        if key in keys:
            data[keys[key]] = value
    return data
