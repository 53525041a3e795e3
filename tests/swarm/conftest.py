"""The swarm tier: a dockyardd of its own per module (swarm state is daemon-wide), in a swarm.

Every test here drives a daemon, so every test is marked ``root``. Tests create services with
``--no-resolve-image`` (and stacks with ``--resolve-image never``): the CLI would otherwise ask a
public registry for the image's digest, and tests only talk to loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conformance.daemon import Daemon
from conformance.fixtures import put_busybox


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.root)


SERVICE_LABEL = "label=com.docker.swarm.service.name"


def leave_and_clean(daemon: Daemon) -> None:
    if daemon.running:
        daemon.docker("swarm", "leave", "--force", timeout=120)
    daemon.cleanup()


def _own_daemon(rootfs_tar: Path, *, init: bool) -> Iterator[Daemon]:
    daemon = Daemon()
    try:
        daemon.start()
        put_busybox(daemon, rootfs_tar)
        if init:
            daemon.docker_ok("swarm", "init")
        yield daemon
    finally:
        leave_and_clean(daemon)


@pytest.fixture(scope="module")
def swarm(rootfs_tar: Path) -> Iterator[Daemon]:
    """A daemon of this module's own, ``docker swarm init`` done."""
    yield from _own_daemon(rootfs_tar, init=True)


@pytest.fixture(scope="module")
def engine(rootfs_tar: Path) -> Iterator[Daemon]:
    """A daemon of this module's own, outside any swarm (tests init, restart and leave it)."""
    yield from _own_daemon(rootfs_tar, init=False)


def tasks(daemon: Daemon, service: str, *extra: str) -> list[dict[str, Any]]:
    """``docker service ps`` as JSON lines (all tasks, history included)."""
    out = daemon.docker_ok("service", "ps", "--no-trunc", "--format", "{{json .}}", *extra, service)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def running_tasks(daemon: Daemon, service: str) -> list[dict[str, Any]]:
    status, data = daemon.request_json(
        "GET", f"{daemon.api}/tasks?filters=" + quote(json.dumps({"service": [service]})))
    assert status == 200, data
    return [t for t in data if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


def task_containers(daemon: Daemon, service: str, *extra: str) -> list[str]:
    """The IDs of the service's task containers (running ones; ``-a``: all)."""
    out = daemon.docker_ok("ps", "-q", "--no-trunc", *extra, "--filter", f"{SERVICE_LABEL}={service}")
    return out.split()
