"""``docker commit``: a new image from a container's changes.

Commit pauses a running container (unless told not to) while its upper directory is written as a
layer, so the layer is one consistent instant; the image config is the container's config with the
``--change`` lines applied over it, as moby's ``merge(BuildFromConfig(changes), container.Config)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dockyard.config import DaemonConfig
from dockyard.core.containers.hardening import remap_of
from dockyard.core.containers.leftovers import commit_marker
from dockyard.core.containers.model import Container, ContainerConfig, State
from dockyard.core.images.commit import CommitOptions
from dockyard.core.images.importer import apply_changes
from dockyard.core.images.model import Image
from dockyard.core.layers.diff import write_layer
from dockyard.core.layers.snapshots import Snapshotter
from dockyard.core.runtime.userns import UsernsRemap
from dockyard.errors import NotModified, WrongState

log = logging.getLogger(__name__)


class ImageCommitter(Protocol):
    """What commit needs of the image service."""

    async def inspect(self, ref: str) -> Image: ...

    async def commit(self, parent: Image | None, layer_tar: Path | None, options: CommitOptions, *,
                     repo: str | None = None, tag: str | None = None) -> Image: ...


class Pausing(Protocol):
    """What commit needs of the container service."""

    async def inspect(self, ref: str) -> Container: ...

    async def pause(self, ref: str) -> None: ...

    async def unpause(self, ref: str) -> None: ...


@dataclass(frozen=True, slots=True)
class CommitRequest:
    container: str
    repo: str | None = None
    tag: str | None = None
    comment: str = ""
    author: str = ""
    changes: list[str] = field(default_factory=list)
    pause: bool = True
    config: dict[str, Any] = field(default_factory=dict)  # the request body: fields that win


def image_config(config: ContainerConfig) -> dict[str, Any]:
    """The container's Config in the image config's shape (Docker's field names)."""
    data: dict[str, Any] = {
        "Hostname": config.hostname, "Domainname": config.domainname, "User": config.user,
        "AttachStdin": config.attach_stdin, "AttachStdout": config.attach_stdout,
        "AttachStderr": config.attach_stderr, "Tty": config.tty, "OpenStdin": config.open_stdin,
        "StdinOnce": config.stdin_once, "Env": config.env or None, "Cmd": config.cmd,
        "Image": config.image, "Volumes": config.volumes or None, "WorkingDir": config.working_dir,
        "Entrypoint": config.entrypoint, "OnBuild": None, "Labels": config.labels or None,
    }
    if config.exposed_ports:
        data["ExposedPorts"] = config.exposed_ports
    if config.stop_signal:
        data["StopSignal"] = config.stop_signal
    for key in ("Healthcheck", "Shell"):
        if key in config.extra:
            data[key] = config.extra[key]
    return data


def committed_config(container: ContainerConfig, body: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """The request body's non-empty fields over the container's config, then the changes."""
    base = image_config(container)
    base.update({k: v for k, v in body.items() if v not in (None, "", [], {})})
    return apply_changes(changes, base)


async def commit(request: CommitRequest, *, containers: Pausing, images: ImageCommitter,
                 snapshotter: Snapshotter, config: DaemonConfig,
                 remap: UsernsRemap | None = None) -> Image:
    container = await containers.inspect(request.container)
    # A remapped container's upper dir holds host ids: the layer records them as seen inside.
    remapped = remap_of(container, remap)
    if container.state in (State.REMOVING, State.DEAD):
        raise WrongState(f"cannot commit container {container.id}: it is being removed")
    new_config = committed_config(container.config, request.config, request.changes)
    parent = await images.inspect(container.image_id)
    paused = False
    marker = commit_marker(config.containers_dir, container.id)
    if request.pause and container.state == State.RUNNING:
        # Written first: a daemon killed while the container is paused unpauses it at start.
        marker.write_bytes(b"")
        # As moby: a pause that fails (the container exited meanwhile) does not fail the commit.
        with contextlib.suppress(NotModified, WrongState):
            await containers.pause(container.id)
            paused = True
    try:
        config.tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="commit-", dir=config.tmp_dir) as tmp:
            layer = Path(tmp) / "layer.tar"
            await asyncio.to_thread(
                write_layer, snapshotter.upper_dir(container.id), snapshotter.parent_dirs(container.id),
                layer, full_tree=config.snapshotter == "copy",
                owners=remapped.unshift if remapped is not None else None)
            options = CommitOptions(config=new_config, comment=request.comment, author=request.author)
            image = await images.commit(parent, layer, options, repo=request.repo, tag=request.tag)
    finally:
        if paused:
            with contextlib.suppress(NotModified, WrongState):
                await containers.unpause(container.id)
        marker.unlink(missing_ok=True)
    log.info("committed container %s as %s", container.id[:12], image.id)
    return image
