"""The same projects through ``dockyard compose``, Compose v2 and Compose v1 against dockyardd."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from .conftest import Compose, free_port, http_get, wait_healthy

NETBOX = """
x-common: &common
  image: busybox
  restart: unless-stopped
services:
  db:
    <<: *common
    env_file: db.env
    command: sh -c 'mkdir -p /data; echo "$$POSTGRES_USER" > /data/who; exec sleep 300'
    volumes: [dbdata:/data]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/who"]
      interval: 1s
      retries: 30
  web:
    <<: *common
    depends_on:
      db: {condition: service_healthy}
    environment:
      GREETING: ${GREETING:-hello}
    command: >-
      sh -c 'nslookup db >/dev/null && echo "$$GREETING db-resolved" > /tmp/index.html;
      exec httpd -f -p 8080 -h /tmp'
    ports: ["127.0.0.1:${WEB_PORT}:8080"]
volumes:
  dbdata:
"""


def _netbox(tmp_path: Path, port: int) -> Path:
    (tmp_path / "compose.yaml").write_text(NETBOX)
    (tmp_path / "db.env").write_text("POSTGRES_USER=netbox\n")
    (tmp_path / ".env").write_text(f"GREETING=howdy\nWEB_PORT={port}\n")
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dockyard", "v2", "v1"])
def test_netbox_like_stack(kind: str, daemon: Daemon, compose_for: Callable[..., Compose],
                           tmp_path: Path) -> None:
    port = free_port()
    project = f"nb{kind}{uuid.uuid4().hex[:6]}"
    compose = compose_for(kind, _netbox(tmp_path, port))
    sep = "_" if kind == "v1" else "-"
    try:
        compose("-p", project, "up", "-d")
        wait_healthy(daemon, f"{project}{sep}db{sep}1")
        page = http_get(port)
        # .env interpolation, $$ kept for the shell, and the web container resolves db by name
        # (Compose v1 disconnects and reconnects networks before start: the engine keeps them).
        assert page.strip() == "howdy db-resolved"
        who = daemon.docker_ok("exec", f"{project}{sep}db{sep}1", "cat", "/data/who").strip()
        assert who == "netbox"
        assert daemon.docker("volume", "inspect", f"{project}_dbdata")[0] == 0
        compose("-p", project, "down")
        assert daemon.docker_ok("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}") == ""
        assert daemon.docker("volume", "inspect", f"{project}_dbdata")[0] == 0, "down keeps volumes"
    finally:
        compose("-p", project, "down", "-v", check=False)
    assert daemon.docker("volume", "inspect", f"{project}_dbdata")[0] != 0
    assert daemon.docker("network", "inspect", f"{project}_default")[0] != 0


TWO_NETWORKS = """
services:
  service1:
    build: {context: ., target: base}
    command: sleep 300
    init: true
    networks: [front]
  service2:
    image: busybox
    command: sleep 300
    networks: [front, back]
  service3:
    image: busybox
    command: sleep 300
    networks: [back]
    volumes: [store:/store]
  debug:
    image: busybox
    profiles: [debug]
networks:
  front:
  back:
volumes:
  store:
"""
DOCKERFILE = "FROM busybox AS base\nRUN echo base > /stage\nFROM base AS final\nRUN echo final > /stage\n"
OVERRIDE = "services:\n  service2:\n    environment: {FROM_OVERRIDE: 'yes'}\n"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dockyard", "v2", "v1"])
def test_three_services_two_networks(kind: str, daemon: Daemon, compose_for: Callable[..., Compose],
                                     tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(TWO_NETWORKS)
    (tmp_path / "compose.override.yaml").write_text(OVERRIDE)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    project = f"tn{kind}{uuid.uuid4().hex[:6]}"
    # Compose v2 builds through the engine's BuildKit API (tests/compose/test_compose_v2_build.py).
    compose = compose_for(kind, tmp_path)
    sep = "_" if kind == "v1" else "-"
    try:
        compose("-p", project, "up", "-d", "--build")
        names = set(daemon.docker_ok("ps", "--format", "{{.Names}}",
                                     "--filter", f"label=com.docker.compose.project={project}").split())
        assert names == {f"{project}{sep}service{i}{sep}1" for i in (1, 2, 3)}, "profiles are off by default"

        def sees(src: int, dst: int) -> bool:
            code = daemon.docker("exec", f"{project}{sep}service{src}{sep}1", "nslookup", f"service{dst}")[0]
            return code == 0

        assert sees(2, 1) and sees(2, 3)
        assert not sees(1, 3) and not sees(3, 1)
        assert daemon.docker_ok("exec", f"{project}{sep}service1{sep}1", "cat", "/stage").strip() == "base"
        pid1 = daemon.docker_ok("exec", f"{project}{sep}service1{sep}1", "cat", "/proc/1/cmdline")
        assert "sleep" not in pid1.split("\0")[0], "init: true puts an init first"
        env = daemon.docker_ok("exec", f"{project}{sep}service2{sep}1", "env")
        assert "FROM_OVERRIDE=yes" in env
        compose("-p", project, "down")
        assert daemon.docker("volume", "inspect", f"{project}_store")[0] == 0
    finally:
        compose("-p", project, "down", "-v", "--rmi", "local", check=False)
    assert daemon.docker("volume", "inspect", f"{project}_store")[0] != 0
    assert daemon.docker("network", "inspect", f"{project}_front")[0] != 0


@pytest.mark.slow
@pytest.mark.parametrize(("first", "second"), [("dockyard", "v2"), ("v2", "dockyard")])
def test_a_project_started_by_one_client_is_listed_and_removed_by_the_other(
        first: str, second: str, daemon: Daemon, compose_for: Callable[..., Compose], tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox\n    command: sleep 300\n"
        "    healthcheck: {test: [CMD, 'true'], interval: 1s}\n")
    project = f"x{first}{uuid.uuid4().hex[:6]}"
    start, other = compose_for(first, tmp_path), compose_for(second, tmp_path)
    try:
        start("-p", project, "up", "-d", "--wait")
        assert project in other("ls").stdout
        assert other("-p", project, "ps", "-q").stdout.strip()
        other("-p", project, "down")
        assert daemon.docker_ok("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}") == ""
        assert project not in start("ls", "-a").stdout
    finally:
        start("-p", project, "down", check=False)
