"""Running one step's work: RUN in a container, COPY/ADD/WORKDIR on a mounted snapshot.

RUN reuses the container service (create from the parent image, start, wait, diff the upper
directory with :func:`write_layer`, remove). A ``runc run`` costs ~40 ms here and a create/remove
adds a few ms: what matters for rebuild speed is that cached steps never start a container.
Filesystem steps skip the runtime: prepare an active snapshot on the parent's top layer, mount it,
write, unmount, diff, remove. Every exit path removes the snapshot and the mount.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dockyard.config import DaemonConfig
from dockyard.core.builder.model import Emit, StepFailed
from dockyard.core.builder.source import Source
from dockyard.core.containers.model import Container, ContainerConfig, CreateRequest, HostOptions, WaitResult
from dockyard.core.images.model import Image
from dockyard.core.layers.diff import LayerTar, write_layer
from dockyard.core.layers.snapshots import Mount, Mounter, Snapshotter
from dockyard.core.recovery import BUILD_LABEL
from dockyard.core.rootfs.root import lstat_at, lstat_beneath, parent_beneath, proc_path
from dockyard.core.runtime.backend import StdioStream

log = logging.getLogger(__name__)

# Mount points the runtime creates in a root filesystem; empty ones are not part of a step's layer.
_MOUNT_POINTS = ("etc/hosts", "etc/hostname", "etc/resolv.conf", "dev", "proc", "sys", ".dockerenv")


class Containers(Protocol):
    """What RUN needs of the container service."""

    async def create(self, request: CreateRequest) -> Container: ...
    async def start(self, ref: str) -> None: ...
    def wait(self, ref: str, condition: str = "not-running") -> asyncio.Task[WaitResult]: ...
    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None: ...
    def attach(self, container: Container) -> asyncio.Future[StdioStream]: ...


@dataclass(frozen=True, slots=True)
class RunResult:
    layer: LayerTar | None
    snapshot: str | None  # the active snapshot that holds the layer's files, when it may be adopted
    done: Callable[[], Awaitable[None]]


class StepRunner:
    def __init__(self, *, config: DaemonConfig, containers: Containers, snapshotter: Snapshotter,
                 mounter: Mounter) -> None:
        self._config = config
        self._containers = containers
        self._snapshotter = snapshotter
        self._mounter = mounter

    def scratch_dir(self) -> Path:
        self._config.tmp_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="build-", dir=self._config.tmp_dir))

    # ---- RUN ----
    async def run(self, parent: Image, argv: list[str], *, env: list[str], workdir: str, user: str,
                  network: str, shown: str, emit: Emit, layer_dest: Path,
                  mounts: list[dict[str, Any]] | None = None, host: dict[str, Any] | None = None,
                  keep: bool = False) -> RunResult:
        """RUN ``argv``; ``mounts`` are Docker ``HostConfig.Mounts`` (RUN --mount), kept out of the
        layer; ``host`` the build's HostConfig settings for RUN; ``keep`` leaves the container of a
        step that succeeded (``--rm=false``). The caller commits the layer, then calls
        ``result.done()`` (which removes the container unless kept)."""
        mode = network or "default"
        raw = {**(host or {}), "NetworkMode": mode, "Mounts": list(mounts or [])}
        request = CreateRequest(
            image=parent.id,
            # Labelled: a daemon killed mid-step removes the container at start (core/recovery.py).
            config=ContainerConfig(image=parent.id, cmd=argv, env=env, working_dir=workdir, user=user,
                                   labels={BUILD_LABEL: "1"}),
            host=HostOptions(network_mode=mode, raw=raw),
            entrypoint_given=True)
        container = await self._containers.create(request)
        try:
            await emit(f" ---> Running in {container.id[:12]}\n")
            # Attach before start, as ``docker run`` does: the stream carries every byte up to
            # the exit, which reading the log file right after the exit does not guarantee.
            attached = self._containers.attach(container)
            waiter = self._containers.wait(container.id, "next-exit")
            await self._containers.start(container.id)
            stream = await attached
            while (chunk := await stream.read()) is not None:
                text = chunk[1].decode(errors="replace")
                # The classic builder shows a RUN's stderr in red.
                await emit(f"\x1b[91m{text}\x1b[0m" if chunk[0] == 2 else text)
            result = await waiter
            if result.status_code != 0:
                raise StepFailed(f"The command '{shown}' returned a non-zero code: {result.status_code}",
                                 result.status_code)
            stubs = [str(m["Target"]) for m in mounts or []]
            layer = await asyncio.to_thread(self._diff, container.id, layer_dest, stubs)
        except BaseException:
            # A failed step leaves nothing behind, whatever --rm says (as --force-rm).
            with contextlib.suppress(Exception):
                await self._containers.remove(container.id, force=True)
            await emit(f" ---> Removed intermediate container {container.id[:12]}\n")
            raise

        async def done() -> None:
            if not keep:
                with contextlib.suppress(Exception):
                    await self._containers.remove(container.id, force=True)
                await emit(f" ---> Removed intermediate container {container.id[:12]}\n")

        # The stopped container's snapshot (unmounted at its exit, stubs dropped by the diff) holds
        # exactly the layer's files on the parent: it can become the layer's snapshot. Not when
        # the container stays (--rm=false) nor under --userns-remap (its files are shifted).
        adoptable = layer is not None and not keep and not self._config.userns_remap
        return RunResult(layer, container.id if adoptable else None, done)

    def _diff(self, key: str, dest: Path, stubs: list[str] | None = None) -> LayerTar | None:
        upper = self._snapshotter.upper_dir(key)
        lowers = self._snapshotter.parent_dirs(key)
        for rel in _MOUNT_POINTS:
            _drop_if_mount_point(upper, lowers, rel)
        for target in stubs or []:
            # The runtime made the mount point (and its missing parents): BuildKit drops such stubs.
            rel = target.strip("/")
            while rel:
                _drop_if_mount_point(upper, lowers, rel)
                rel = os.path.dirname(rel)
        if not any(upper.iterdir()):
            return None
        return write_layer(upper, lowers, dest)

    # ---- filesystem steps ----
    def fs_step(self, parent: Image | None, work: Callable[[Path], None],
                dest: Path) -> tuple[LayerTar | None, str]:
        """Run ``work`` on a writable mount of ``parent``; the layer it made (None when nothing)
        and the active snapshot holding it, which the caller commits or ``discard``s."""
        key = "build-" + secrets.token_hex(8)
        mounts = self._snapshotter.prepare(key, parent.top_layer if parent else None)
        try:
            with ExitStack() as stack, self._mounted(mounts, stack) as rootfs:
                work(rootfs)
            return self._diff(key, dest), key
        except BaseException:
            self._snapshotter.remove(key)
            raise

    def discard(self, key: str) -> None:
        """Remove a step's snapshot (a no-op once it was committed as a layer)."""
        self._snapshotter.remove(key)

    @contextlib.contextmanager
    def mounted_image(self, image: Image | None) -> Iterator[Path]:
        """A read-only view of ``image``'s filesystem (COPY --from)."""
        key = "build-ro-" + secrets.token_hex(8)
        with ExitStack() as stack:
            mounts = self._snapshotter.prepare(key, image.top_layer if image else None)
            stack.callback(self._snapshotter.remove, key)
            with self._mounted(mounts, stack) as rootfs:
                yield rootfs

    @contextlib.contextmanager
    def bound(self, source: Source) -> Iterator[Path]:
        """``source`` bind-mounted read-only at a new path of the daemon's own, from the descriptor
        its lookup inside its tree pinned (``/proc/self/fd``): a RUN's ``--mount type=bind``
        hands the runtime this path, which no symlink of the tree can redirect."""
        with ExitStack() as stack:
            scratch = self.scratch_dir()
            stack.callback(os.rmdir, scratch)
            target = scratch / "source"
            with source.pinned() as entry:
                if stat.S_ISDIR(entry.st.st_mode):
                    target.mkdir()
                    stack.callback(os.rmdir, target)
                else:
                    target.touch()
                    stack.callback(os.unlink, target)
                self._mounter.mount([Mount("bind", proc_path(entry.fd), ("bind", "ro"))], target)
            try:
                yield target
            finally:
                self._mounter.unmount(target)

    @contextlib.contextmanager
    def _mounted(self, mounts: list, stack: ExitStack) -> Iterator[Path]:  # type: ignore[type-arg]
        target = self.scratch_dir()
        stack.callback(os.rmdir, target)
        self._mounter.mount(mounts, target)
        try:
            yield target
        finally:
            self._mounter.unmount(target)


def _drop_if_mount_point(upper: Path, lowers: list[Path], rel: str) -> None:
    """Remove the empty stub the runtime left at ``rel`` of the step's upper dir, unless a lower
    layer has that entry. Looked up with no symlink followed: the step may have moved the stub's
    directory away and left ``ln -s /host/dir`` in its place, and nothing of the host is removed."""
    if any(lstat_beneath(low, rel) is not None for low in lowers):
        return
    try:
        top = os.open(upper, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        found = parent_beneath(top, rel)
    finally:
        os.close(top)
    if found is None:
        return
    fd, name = found
    try:
        st = lstat_at(fd, name)
        with contextlib.suppress(OSError):
            if st is not None and stat.S_ISDIR(st.st_mode):
                os.rmdir(name, dir_fd=fd)  # only when empty
            elif st is not None and not stat.S_ISLNK(st.st_mode) and st.st_size == 0:
                os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)
