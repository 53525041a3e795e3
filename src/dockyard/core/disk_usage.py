"""``docker system df``: the disk used by images, containers and volumes, and how much is shared.

*Layers size* is the disk under ``snapshots/`` held by images' layers, each counted once; an
image's *shared size* is the part of its layers that another image uses too (moby
``daemon/images/image_prune.go``/``disk_usage.go`` habit: a shared layer is not reclaimable).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.core.containers.model import Container
from dockyard.core.ids import hex_of
from dockyard.core.images.model import Image
from dockyard.core.rootfs.tree import tree_size
from dockyard.core.volumes.model import Volume

if TYPE_CHECKING:
    from dockyard.core.containers.service import ContainerService
    from dockyard.core.images.service import ImageService
    from dockyard.core.volumes.service import VolumeService


@dataclass(frozen=True, slots=True)
class ImageUsage:
    image: Image
    shared_size: int
    containers: int
    size: int  # bytes of its layers on disk, measured as LayersSize is, so never below shared_size


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    container: Container
    size_rw: int
    size_root_fs: int


@dataclass(frozen=True, slots=True)
class VolumeUsage:
    volume: Volume
    size: int
    ref_count: int


@dataclass(frozen=True, slots=True)
class DiskUsage:
    layers_size: int
    images: list[ImageUsage]
    containers: list[ContainerUsage]
    volumes: list[VolumeUsage]


async def disk_usage(*, images: ImageService, containers: ContainerService,
                     volumes: VolumeService, snapshots_dir: Path) -> DiskUsage:
    all_images = await images.list(all=True)
    # As moby: intermediate build images are not listed, though their layers count as shared.
    listed = await images.list()
    all_containers = await containers.list(all=True)
    uses = Counter(c.image_id for c in all_containers)
    chain_users = Counter(chain for image in all_images for chain in set(image.chain_ids))
    sizes = {chain: await asyncio.to_thread(tree_size, snapshots_dir / hex_of(chain))
             for chain in chain_users}
    image_usage = [
        ImageUsage(image, sum(sizes[c] for c in set(image.chain_ids) if chain_users[c] > 1),
                   uses[image.id], sum(sizes[c] for c in set(image.chain_ids)))
        for image in listed]
    container_usage = []
    for container in all_containers:
        rw, root_fs = await containers.files.size(container)
        container_usage.append(ContainerUsage(container, rw, root_fs))
    volume_usage = []
    for volume in await volumes.list():
        refs = len(containers.volume_users(volume.name))
        volume_usage.append(VolumeUsage(volume, await volumes.size(volume), refs))
    return DiskUsage(layers_size=sum(sizes.values()), images=image_usage,
                     containers=container_usage, volumes=volume_usage)
