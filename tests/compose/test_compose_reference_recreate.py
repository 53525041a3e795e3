"""A ``network_mode: service:web`` sidecar when web's container is replaced.

Seen with Compose v2 (2.40) against our engine: it hashes the sidecar with the reference resolved
(``container:<web's id>``), so an ``up`` of the whole project after web changed recreates the
sidecar too; but ``up -d --force-recreate web`` leaves the sidecar in the old container's
namespace, without a network, until the next ``up``. dockyard compose hashes the same way and
recreates such a sidecar at once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from .conftest import Compose

PROJECT = """
services:
  web:
    image: busybox
    command: sh -c 'mkdir -p /www; echo {mark} > /www/mark; exec httpd -f -p 8080 -h /www'
    stop_signal: SIGKILL
  sidecar:
    image: busybox
    command: sleep 300
    stop_signal: SIGKILL
    network_mode: service:web
"""


def _ids(daemon: Daemon, project: str) -> tuple[str, str, str]:
    """web's ID, the sidecar's ID and the sidecar's NetworkMode."""
    web, side = json.loads(daemon.docker_ok("inspect", f"{project}-web-1", f"{project}-sidecar-1"))
    assert web["State"]["Running"] and side["State"]["Running"]
    return web["Id"], side["Id"], side["HostConfig"]["NetworkMode"]


def _sidecar_sees_web(daemon: Daemon, project: str) -> str:
    return daemon.docker_ok("exec", f"{project}-sidecar-1", "wget", "-qO-", "http://127.0.0.1:8080/mark")


def test_the_sidecar_follows_a_recreated_web(daemon: Daemon, compose_for: Callable[..., Compose],
                                             tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(PROJECT.format(mark="one"))
    project = f"dy{uuid.uuid4().hex[:6]}"
    compose = compose_for("dockyard", tmp_path)
    try:
        compose("-p", project, "up", "-d")
        web, side, mode = _ids(daemon, project)
        assert mode == f"container:{web}"
        # Only web is named: the sidecar is recreated into the new web's namespace all the same.
        compose("-p", project, "up", "-d", "--force-recreate", "web")
        web2, side2, mode2 = _ids(daemon, project)
        assert web2 != web and side2 != side and mode2 == f"container:{web2}"
        assert _sidecar_sees_web(daemon, project) == "one\n"
        # A change of web's config, the whole project up: the same (as Compose v2 does it).
        (tmp_path / "compose.yaml").write_text(PROJECT.format(mark="two"))
        compose("-p", project, "up", "-d")
        web3, side3, mode3 = _ids(daemon, project)
        assert web3 != web2 and side3 != side2 and mode3 == f"container:{web3}"
        assert _sidecar_sees_web(daemon, project) == "two\n"
        # Nothing changed: nothing is recreated.
        compose("-p", project, "up", "-d")
        assert _ids(daemon, project) == (web3, side3, mode3)
    finally:
        compose("-p", project, "down", "-t", "0", check=False)


@pytest.mark.parametrize("first,second", [("v2", "dockyard"), ("dockyard", "v2")])
def test_both_clients_hash_the_resolved_reference(daemon: Daemon, compose_for: Callable[..., Compose],
                                                  tmp_path: Path, first: str, second: str) -> None:
    """The sidecar's config hash includes web's container ID in both tools: neither recreates the
    other's sidecar, and each recreates it once web was replaced behind its back."""
    (tmp_path / "compose.yaml").write_text(PROJECT.format(mark="one"))
    project = f"dy{uuid.uuid4().hex[:6]}"
    one, other = compose_for(first, tmp_path), compose_for(second, tmp_path)
    try:
        one("-p", project, "up", "-d")
        before = _ids(daemon, project)
        other("-p", project, "up", "-d")
        assert _ids(daemon, project) == before, f"{second} recreated what {first} made"
        # web replaced by hand (the sidecar left behind, as Compose v2's `up --force-recreate web`
        # leaves it): the next `up` of either tool recreates the sidecar into the new namespace.
        daemon.docker_ok("rm", "-f", f"{project}-web-1")
        other("-p", project, "up", "-d")
        web, side, mode = _ids(daemon, project)
        assert side != before[1] and mode == f"container:{web}"
        assert _sidecar_sees_web(daemon, project) == "one\n"
    finally:
        one("-p", project, "down", "-t", "0", check=False)


SHARED = """
services:
  web:
    image: busybox
    command: sleep 300
    stop_signal: SIGKILL
    volumes: [/data]
    environment: [ROUND={round}]
  reader:
    image: busybox
    command: sleep 300
    stop_signal: SIGKILL
    volumes_from: [web]
"""


def test_a_recreate_keeps_anonymous_volumes(daemon: Daemon, compose_for: Callable[..., Compose],
                                            tmp_path: Path) -> None:
    """web's anonymous /data outlives its recreation (as with Compose v2), and the service that
    takes web's volumes follows it into the new container."""
    (tmp_path / "compose.yaml").write_text(SHARED.format(round=1))
    project = f"dy{uuid.uuid4().hex[:6]}"
    compose = compose_for("dockyard", tmp_path)
    try:
        compose("-p", project, "up", "-d")
        daemon.docker_ok("exec", f"{project}-web-1", "sh", "-c", "echo kept > /data/f")
        before = daemon.docker_ok("inspect", "-f", "{{.Id}}", f"{project}-web-1")
        compose("-p", project, "up", "-d", "--force-recreate", "web")
        assert daemon.docker_ok("inspect", "-f", "{{.Id}}", f"{project}-web-1") != before
        assert daemon.docker_ok("exec", f"{project}-web-1", "cat", "/data/f") == "kept\n"
        web = json.loads(daemon.docker_ok("inspect", f"{project}-web-1"))[0]
        reader = json.loads(daemon.docker_ok("inspect", f"{project}-reader-1"))[0]
        assert reader["HostConfig"]["VolumesFrom"] == [web["Id"]]
        daemon.docker_ok("exec", f"{project}-web-1", "sh", "-c", "echo again > /data/g")
        assert daemon.docker_ok("exec", f"{project}-reader-1", "cat", "/data/g") == "again\n"
        # A config change of web, the whole project up: the same volume still.
        (tmp_path / "compose.yaml").write_text(SHARED.format(round=2))
        compose("-p", project, "up", "-d")
        assert daemon.docker_ok("exec", f"{project}-reader-1", "cat", "/data/f") == "kept\n"
        # up -V: a new, empty anonymous volume instead, and the reader follows web to it.
        compose("-p", project, "up", "-d", "--force-recreate", "-V", "web")
        assert daemon.docker("exec", f"{project}-web-1", "cat", "/data/f")[0] != 0
        assert daemon.docker("exec", f"{project}-reader-1", "cat", "/data/f")[0] != 0
        # down -v takes the anonymous volume with it (plain down would keep it, as docker rm).
        volume = json.loads(daemon.docker_ok("inspect", f"{project}-web-1"))[0]["Mounts"][0]["Name"]
        compose("-p", project, "down", "-v", "-t", "0")
        assert daemon.docker("volume", "inspect", volume)[0] != 0, "down -v left the anonymous volume"
    finally:
        compose("-p", project, "down", "-v", "-t", "0", check=False)
