"""Daemon fixtures: a dockyardd per session, busybox in it, the stock CLI, docker-py.

Registered for the whole suite by tests/conftest.py, so every tier that drives a daemon
(conformance, security, reliability, compose, …) shares the session daemon; tests that must kill
or restart a daemon, or need a store with nothing else in it, take ``daemon_factory``.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from .daemon import Daemon
from .images import busybox_rootfs_tar
from .schema import ValidatingAPIClient

log = logging.getLogger(__name__)

DockerRun = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="session")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rootfs") / "busybox-rootfs.tar"
    path.write_bytes(busybox_rootfs_tar())
    return path


def _has_bootstrap() -> bool:
    find = importlib.util.find_spec
    if find("dockyard.cli") is None or find("dockyard.cli.main") is None:
        return False
    probe = subprocess.run([sys.executable, "-m", "dockyard.cli.main", "image", "bootstrap", "--help"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def put_busybox(daemon: Daemon, rootfs: Path) -> None:
    """Make busybox:latest exist in ``daemon``: ``dockyard image bootstrap`` if we have it, else import."""
    if _has_bootstrap():
        proc = subprocess.run([sys.executable, "-m", "dockyard.cli.main", "image", "bootstrap", "busybox"],
                              capture_output=True, env=daemon.env(), timeout=120)
        if proc.returncode == 0 and daemon.docker("image", "inspect", "busybox:latest")[0] == 0:
            return
        log.warning("dockyard image bootstrap busybox failed (%s); importing instead",
                    proc.stderr.decode(errors="replace").strip())
    daemon.docker_ok("import", "-c", 'CMD ["sh"]', str(rootfs), "busybox:latest", timeout=120)
    daemon.docker_ok("image", "inspect", "busybox:latest")


@pytest.fixture(scope="session")
def daemon(rootfs_tar: Path) -> Iterator[Daemon]:
    d = Daemon()
    try:
        d.start()
        put_busybox(d, rootfs_tar)
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def daemon_factory(rootfs_tar: Path) -> Iterator[Callable[..., Daemon]]:
    """Start extra daemons on their own roots (busybox loaded unless ``busybox=False``)."""
    started: list[Daemon] = []

    def start(busybox: bool = True) -> Daemon:
        d = Daemon()
        started.append(d)
        d.start()
        if busybox:
            put_busybox(d, rootfs_tar)
        return d

    yield start
    for d in reversed(started):
        d.cleanup()


@pytest.fixture
def docker_cli(daemon: Daemon) -> DockerRun:
    """``docker_cli(*args, input=None, timeout=…)`` -> (exit code, stdout, stderr) on the session daemon."""
    return daemon.docker


@pytest.fixture
def client(daemon: Daemon) -> Iterator[docker.DockerClient]:
    """docker-py's high-level client, its low-level ``api`` validating responses against the spec."""
    c = docker.DockerClient(base_url=daemon.host, timeout=60)
    c.api = ValidatingAPIClient(base_url=daemon.host, timeout=60)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def name() -> Callable[[str], str]:
    """Unique container names per test, so tests never collide on the shared daemon."""
    def make(prefix: str = "c") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"
    return make


@pytest.fixture
def container(daemon: Daemon) -> Iterator[Callable[..., str]]:
    """``container(*run_args)`` runs ``docker run -d …`` and returns the ID; removed afterwards."""
    created: list[str] = []

    def run(*args: str) -> str:
        out = daemon.docker_ok("run", "-d", *args)
        cid = out.strip().splitlines()[-1]
        created.append(cid)
        return cid

    yield run
    if created and daemon.running:
        daemon.docker("rm", "-f", *created, timeout=60)
