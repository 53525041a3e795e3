"""Shared set-up for the runtime and monitor contract suites: a busybox rootfs, bundles built with
build_spec, and a harness that removes every container it made, even when a test fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockyard.backends.conmon import ConmonMonitor
from dockyard.backends.oci_cli import CliRuntime
from dockyard.core.runtime.backend import MonitorStart, StdioStream
from dockyard.core.runtime.model import ProcessUser, SpecInput
from dockyard.core.runtime.spec import build_spec

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "cat", "sleep", "true", "stty", "id", "ls", "env", "printf")
CGROUP_PARENT = "/dockyard-test"


def make_rootfs(root: Path) -> Path:
    for name in ("bin", "proc", "sys", "dev", "etc", "tmp", "root"):
        (root / name).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", root / "bin" / applet)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root


def runtime_works(name: str, rootfs: Path, scratch: Path) -> str | None:
    """None when ``name`` can run a container here, else why not (crun refuses hybrid cgroups)."""
    path = shutil.which(name)
    if path is None:
        return f"{name} is not installed"
    bundle = scratch / f"probe-{name}"
    bundle.mkdir(parents=True, exist_ok=True)
    cid = f"probe-{uuid.uuid4().hex[:12]}"
    spec = build_spec(SpecInput(container_id=cid, rootfs=rootfs, args=("true",), env=("PATH=/bin",),
                                cwd="/", user=ProcessUser(0, 0), terminal=False, hostname="probe",
                                cgroups_path=f"{CGROUP_PARENT}/{cid}"))
    (bundle / "config.json").write_text(json.dumps(spec))
    root = scratch / f"probe-root-{name}"
    try:
        result = subprocess.run([path, "--root", str(root), "run", "--bundle", str(bundle), cid],
                                capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([path, "--root", str(root), "delete", "--force", cid], capture_output=True, timeout=30)
    if result.returncode != 0:
        return f"{name} cannot run containers on this host: {result.stderr.decode().strip()}"
    return None


@dataclass
class Harness:
    """Creates containers under one runtime and one monitor and always removes them."""

    runtime: CliRuntime
    monitor: ConmonMonitor
    rootfs: Path
    base: Path
    created: list[str] = field(default_factory=list)

    def bundle(self, args: tuple[str, ...], *, terminal: bool = False, **changes: object) -> tuple[str, Path]:
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        bundle = self.base / "containers" / cid
        bundle.mkdir(parents=True)
        values: dict[str, object] = {
            "container_id": cid, "rootfs": self.rootfs, "args": args,
            "env": ("PATH=/bin", "HOME=/root", *(("TERM=xterm",) if terminal else ())),
            "cwd": "/", "user": ProcessUser(0, 0), "terminal": terminal, "hostname": cid[:12],
            "cgroups_path": f"{CGROUP_PARENT}/{cid}",
        }
        values.update(changes)
        (bundle / "config.json").write_text(json.dumps(build_spec(SpecInput(**values))))  # type: ignore[arg-type]
        self.created.append(cid)
        return cid, bundle

    def start_spec(self, cid: str, bundle: Path, *, terminal: bool = False, stdin: bool = False,
                   stdin_once: bool = False) -> MonitorStart:
        return MonitorStart(container_id=cid, bundle=bundle, runtime=self.runtime,
                            log_path=bundle / "container.log", terminal=terminal, stdin=stdin,
                            stdin_once=stdin_once)

    async def run(self, args: tuple[str, ...], *, terminal: bool = False, stdin: bool = False,
                  stdin_once: bool = False, start: bool = True) -> str:
        """Create under the monitor and (by default) start; returns the container id."""
        cid, bundle = self.bundle(args, terminal=terminal)
        await self.monitor.create(self.start_spec(cid, bundle, terminal=terminal, stdin=stdin,
                                                  stdin_once=stdin_once))
        if start:
            await self.runtime.start(cid)
        return cid

    def log(self, cid: str) -> str:
        return (self.base / "containers" / cid / "container.log").read_text()

    def remove_all(self) -> None:
        for cid in self.created:
            subprocess.run([self.runtime.path, "--root", str(self.runtime.root), "delete", "--force", cid],
                           capture_output=True, timeout=30)
            with contextlib.suppress(Exception):
                asyncio.run(self.monitor.cleanup(cid))


@contextlib.contextmanager
def harness(name: str, rootfs: Path, base: Path) -> Iterator[Harness]:
    path = shutil.which(name)
    assert path is not None
    h = Harness(runtime=CliRuntime(name, path, root=base / "runtime" / name),
                monitor=ConmonMonitor(shutil.which("conmon") or "conmon", exec_root=base / "run"),
                rootfs=rootfs, base=base)
    try:
        yield h
    finally:
        h.remove_all()


async def read_all(stream: StdioStream, timeout: float = 20.0) -> list[tuple[int, bytes]]:
    """Every chunk until the stream ends."""
    chunks: list[tuple[int, bytes]] = []
    async with asyncio.timeout(timeout):
        while (item := await stream.read()) is not None:
            chunks.append(item)
    return chunks


async def read_until(stream: StdioStream, needle: bytes, timeout: float = 20.0) -> bytes:
    """Output until ``needle`` has appeared (or the stream ended)."""
    seen = b""
    async with asyncio.timeout(timeout):
        while needle not in seen:
            item = await stream.read()
            if item is None:
                break
            seen += item[1]
    return seen


def joined(chunks: list[tuple[int, bytes]], number: int) -> bytes:
    return b"".join(data for n, data in chunks if n == number)


def skip_unless(reason: str | None) -> None:
    if reason is not None:
        pytest.skip(reason)
