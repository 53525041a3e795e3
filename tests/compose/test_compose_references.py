"""Services that name other services — ``network_mode``/``pid``/``ipc: service:x``,
``volumes_from`` and ``links`` — through our compose and through Compose v2, against our engine:
the reference is an implicit dependency and becomes the other service's container."""

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
    command: sh -c 'echo shared > /data/mark; exec httpd -f -p 8080 -h /data'
    volumes: [/data]
    ipc: shareable
  sidecar:
    image: busybox
    command: sleep 300
    network_mode: service:web
    pid: service:web
    ipc: service:web
    volumes_from: ["web:ro"]
  client:
    image: busybox
    command: sleep 300
    links: ["web:site"]
"""


@pytest.mark.parametrize("kind", ["dockyard", "v2"])
def test_services_that_name_other_services(daemon: Daemon, compose_for: Callable[..., Compose],
                                           tmp_path: Path, kind: str) -> None:
    (tmp_path / "compose.yaml").write_text(PROJECT)
    project = f"dy{uuid.uuid4().hex[:6]}"
    compose = compose_for(kind, tmp_path)
    try:
        # Only the dependents are named: the references pull web up first.
        compose("-p", project, "up", "-d", "sidecar", "client")
        web = json.loads(daemon.docker_ok("inspect", f"{project}-web-1"))[0]
        side = json.loads(daemon.docker_ok("inspect", f"{project}-sidecar-1"))[0]
        assert web["State"]["Running"] and side["State"]["Running"]
        host = side["HostConfig"]
        assert host["NetworkMode"] == f"container:{web['Id']}"
        assert host["PidMode"] == f"container:{web['Id']}" and host["IpcMode"] == f"container:{web['Id']}"
        # The same network namespace: web's httpd answers on the sidecar's loopback.
        out = daemon.docker_ok("exec", f"{project}-sidecar-1", "wget", "-qO-", "http://127.0.0.1:8080/mark")
        assert out == "shared\n"
        # The same pid namespace: web's httpd is a process the sidecar sees.
        assert "httpd" in daemon.docker_ok("exec", f"{project}-sidecar-1", "ps")
        # volumes_from web:ro: web's anonymous volume, read-only here.
        assert daemon.docker_ok("exec", f"{project}-sidecar-1", "cat", "/data/mark") == "shared\n"
        code, _, _ = daemon.docker("exec", f"{project}-sidecar-1", "touch", "/data/x")
        # Compose v2 drops the mode of a `service:mode` entry (it keeps it only after two colons,
        # `container:name:mode`) and sends web's ID alone: the engine then mounts it writable.
        assert (code != 0) == (kind == "dockyard"), f"{kind}: volumes_from web:ro, touch exited {code}"
        # links web:site: the alias resolves to web in the client.
        out = daemon.docker_ok("exec", f"{project}-client-1", "wget", "-qO-", "http://site:8080/mark")
        assert out == "shared\n"
    finally:
        compose("-p", project, "down", "-v", check=False)


def test_a_reference_to_an_unknown_service_is_refused(daemon: Daemon, compose_for: Callable[..., Compose],
                                                      tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: busybox\n"
                                           "    network_mode: service:nowhere\n")
    proc = compose_for("dockyard", tmp_path)("up", "-d", check=False)
    assert proc.returncode != 0 and "undefined service 'nowhere'" in proc.stderr, proc.stderr
    label = f"label=com.docker.compose.project={tmp_path.name}"
    assert daemon.docker_ok("ps", "-aq", "--filter", label) == ""
