"""Fakes for the container service's collaborators: images, snapshots, mounts, runtime, monitor.

Imported by the test_containers* modules; it holds no tests itself.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dockyard.backends.logdrivers import log_service
from dockyard.config import DaemonConfig
from dockyard.core.containers.service import ContainerService
from dockyard.core.ids import ChainId, ImageId
from dockyard.core.images.model import Image
from dockyard.core.layers.snapshots import Mount
from dockyard.core.metadata import Metadata
from dockyard.core.runtime.backend import MonitorStart
from dockyard.core.runtime.model import RuntimeState, RuntimeStatus
from dockyard.errors import InvalidArgument, NotFound

BUSYBOX_ID = ImageId("sha256:" + "b" * 64)


def busybox_image(**config: Any) -> Image:
    cfg = {"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"], **config}
    return Image(id=BUSYBOX_ID, config={"config": cfg}, chain_ids=(ChainId("sha256:" + "c" * 64),),
                 repo_tags=("docker.io/library/busybox:latest",), repo_digests=(),
                 created="2024-01-01T00:00:00Z", size=1000)


class FakeImages:
    def __init__(self, *images: tuple[str, Image]) -> None:
        self.images = dict(images)

    async def inspect(self, ref: str) -> Image:
        for key, image in self.images.items():
            if ref in (key, image.id):
                return image
        raise NotFound(f"No such image: {ref}")


class FakeSnapshotter:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.fail_prepare = False

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        if self.fail_prepare:
            raise InvalidArgument("prepare failed")
        self.upper_dir(key).mkdir(parents=True)
        return self.mounts(key)

    def upper_dir(self, key: str) -> Path:
        return self.root / key / "upper"

    def commit(self, name: str, key: str) -> None:
        raise NotImplementedError

    def mounts(self, key: str) -> list[Mount]:
        return [Mount("overlay", "overlay", (f"lowerdir={self.root}/lower", f"upperdir={self.upper_dir(key)}",
                                             f"workdir={self.root / key / 'work'}"))]

    def remove(self, key_or_name: str) -> None:
        shutil.rmtree(self.root / key_or_name, ignore_errors=True)

    def exists(self, key_or_name: str) -> bool:
        return (self.root / key_or_name).exists()

    def parent_dirs(self, key: str) -> list[Path]:
        return []


class FakeMounter:
    def __init__(self) -> None:
        self.mounted: set[Path] = set()

    def mount(self, mounts: Sequence[Mount], target: Path) -> None:
        self.mounted.add(target)

    def unmount(self, target: Path) -> None:
        self.mounted.discard(target)


class FakeStream:
    def __init__(self, output: list[tuple[int, bytes]] | None = None) -> None:
        self.output: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        for item in output or []:
            self.output.put_nowait(item)
        self.stdin = b""
        self.stdin_closed = False
        self.closed = False

    async def read(self) -> tuple[int, bytes] | None:
        return await self.output.get()

    async def write(self, data: bytes) -> None:
        self.stdin += data

    async def close_stdin(self) -> None:
        self.stdin_closed = True

    async def close(self) -> None:
        self.closed = True


class FakeExec(FakeStream):
    def __init__(self, code: int) -> None:
        super().__init__([(1, b"exec output\n")])
        self.output.put_nowait(None)
        self.code = code
        self.size: tuple[int, int] | None = None

    @property
    def pid(self) -> int:
        return 777

    async def wait(self) -> int:
        return self.code

    async def resize(self, height: int, width: int) -> None:
        self.size = (height, width)


class FakeMonitor:
    def __init__(self) -> None:
        self.exits: dict[str, asyncio.Future[int]] = {}
        self.created: list[MonitorStart] = []
        self.attached: list[str] = []
        self.cleaned: list[str] = []
        self.streams: list[FakeStream] = []
        self.end_attach = False

    async def create(self, start: MonitorStart) -> int:
        self.created.append(start)
        self.exits[start.container_id] = asyncio.get_running_loop().create_future()
        return 4242

    def is_alive(self, container_id: str) -> bool:
        future = self.exits.get(container_id)
        return future is not None and not future.done()

    async def wait(self, container_id: str) -> int:
        return await asyncio.shield(self.exits[container_id])

    def exit_code(self, container_id: str) -> int | None:
        future = self.exits.get(container_id)
        return future.result() if future is not None and future.done() else None

    def exit(self, container_id: str, code: int) -> None:
        future = self.exits[container_id]
        if not future.done():
            future.set_result(code)

    async def attach(self, container_id: str) -> FakeStream:
        self.attached.append(container_id)
        stream = FakeStream([(1, b"hello\n"), (2, b"warn\n")])
        if self.end_attach:
            stream.output.put_nowait(None)
        self.streams.append(stream)
        return stream

    async def resize(self, container_id: str, height: int, width: int) -> None:
        pass

    async def cleanup(self, container_id: str) -> None:
        self.cleaned.append(container_id)


class FakeRuntime:
    def __init__(self, monitor: FakeMonitor, root: Path) -> None:
        self.monitor = monitor
        self._root = root
        self.start_error: Exception | None = None
        self.ignore_signals: set[int] = set()
        self.paused: set[str] = set()
        self.deleted: list[str] = []
        self.signals: list[tuple[str, int]] = []
        self.exec_processes: list[dict[str, Any]] = []
        self.updates: list[tuple[str, dict[str, Any]]] = []

    @property
    def name(self) -> str:
        return "runc"

    @property
    def path(self) -> str:
        return "/usr/sbin/runc"

    @property
    def root(self) -> Path:
        return self._root

    async def start(self, container_id: str) -> None:
        if self.start_error is not None:
            raise self.start_error

    async def state(self, container_id: str) -> RuntimeState | None:
        return RuntimeState(RuntimeStatus.RUNNING, 4242)

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        self.signals.append((container_id, signal))
        if signal not in self.ignore_signals:
            self.monitor.exit(container_id, 128 + signal)

    async def pause(self, container_id: str) -> None:
        self.paused.add(container_id)

    async def resume(self, container_id: str) -> None:
        self.paused.discard(container_id)

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        self.deleted.append(container_id)

    async def pids(self, container_id: str) -> list[int]:
        return [1]

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        self.updates.append((container_id, resources))

    async def exec(self, container_id: str, process: dict[str, Any], *, detach: bool) -> FakeExec:
        self.exec_processes.append(process)
        return FakeExec(3)


class Harness:
    """A ContainerService over fakes in a temporary root."""

    def __init__(self, tmp: Path, images: FakeImages | None = None) -> None:
        self.config = DaemonConfig(data_root=tmp / "root", exec_root=tmp / "run")
        self.db = Metadata(self.config.db_path)
        self.images = images or FakeImages(("busybox", busybox_image()), ("busybox:latest", busybox_image()))
        self.snapshotter = FakeSnapshotter(tmp / "snapshots")
        self.mounter = FakeMounter()
        self.monitor = FakeMonitor()
        self.runtime = FakeRuntime(self.monitor, tmp / "runc")
        self.service = self.new_service()

    def new_service(self) -> ContainerService:
        return ContainerService(config=self.config, db=self.db, images=self.images,
                                snapshotter=self.snapshotter, mounter=self.mounter,
                                runtimes={"runc": self.runtime}, monitor=self.monitor,
                                logging=log_service(self.config))  # json-file, shipped from the spool
