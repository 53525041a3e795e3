"""Compose v2 and ``dockyard compose`` agree on ``com.docker.compose.config-hash``: the model we
hash is the one Compose v2 prints, and an ``up`` by either tool keeps the other's containers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from dockyard.compose.confighash import service_model
from dockyard.compose.gojson import go_json
from dockyard.compose.loader import load_project

from .conftest import Compose, free_port

# Keys of the course stacks and most of what create.SUPPORTED applies, in short and long forms.
RICH = """
x-common: &common
  image: busybox
  restart: unless-stopped
services:
  db:
    <<: *common
    env_file: [db.env, {path: missing.env, required: false}]
    command: sh -c 'echo "$$POSTGRES_USER" > /tmp/who; exec sleep 300'
    volumes: [dbdata:/data, ./src:/src:ro, {type: bind, source: ./src, target: /b}, /anon,
              {type: tmpfs, target: /t, tmpfs: {size: 1m}}, {type: volume, source: dbdata, target: /w,
              volume: {nocopy: true}}]
    healthcheck: {test: [CMD, test, -f, /tmp/who], interval: 1s, retries: 30, start_period: 1m}
    labels: [tier=db, "html=<b>&"]
    ulimits: {nofile: {soft: 100, hard: 200}, nproc: 50}
    stop_grace_period: 90s
    tmpfs: [/run]
    sysctls: [net.core.somaxconn=1024]
    secrets: [s1, {source: s1, target: alt, mode: 0o400}]
    configs: [c1, {source: c1, target: /etc/c1.conf}]
    deploy: {resources: {limits: {memory: 32M, cpus: "0.25"}, reservations: {memory: 1g}}}
  web:
    <<: *common
    depends_on: {db: {condition: service_healthy, restart: true}}
    environment: {GREETING: "${GREETING:-hello}", UNSET: null, FROM_SHELL: null, N: 1, B: true}
    entrypoint: /bin/sh -c
    command: ["exec httpd -f -p 8080"]
    ports: ["127.0.0.1:${WEB_PORT}:8080", "9000-9001:9000-9001/udp", "7000",
            {target: 81, published: 8081, host_ip: 127.0.0.1, protocol: udp}]
    networks: {default: {aliases: [w]}, back: {}}
    init: true
    mem_limit: 64m
    cpus: 0.5
    expose: [80, "81/udp"]
    extra_hosts: ["x:1.2.3.4", "y=::1"]
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    dns: 1.1.1.1
    user: "1000"
    working_dir: /w
    hostname: h
    logging: {driver: json-file, options: {max-size: 1m}}
    develop: {watch: [{action: sync, path: ./src, target: /src, ignore: [x.tmp]}]}
  builder:
    build: {context: ., args: [A=1]}
    profiles: [tools]
    pull_policy: build
    scale: 1
    stdin_open: true
    tty: true
    privileged: true
    read_only: true
    shm_size: 128m
    security_opt: [no-new-privileges:true]
    devices: [/dev/null]
    stop_signal: SIGINT
    network_mode: none
volumes:
  dbdata:
networks:
  back:
secrets:
  s1: {file: ./s1.txt}
configs:
  c1: {content: hi}
"""


def _rich(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(RICH)
    (tmp_path / "db.env").write_text("POSTGRES_USER=netbox\nEXTRA='two words'\n")
    (tmp_path / ".env").write_text(f"GREETING=howdy\nWEB_PORT={free_port()}\n")
    (tmp_path / "s1.txt").write_text("s\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    return tmp_path


def _unescaped(node: object) -> object:
    """``config`` writes ``$`` as ``$$`` so its output loads again; the model has one."""
    if isinstance(node, str):
        return node.replace("$$", "$")
    if isinstance(node, dict):
        return {k: _unescaped(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unescaped(v) for v in node]
    return node


def test_the_hashed_model_is_the_one_compose_v2_prints(daemon: Daemon, compose_for: Callable[..., Compose],
                                                       tmp_path: Path) -> None:
    env = {"FROM_SHELL": "shell", "COMPOSE_PROFILES": "tools"}
    v2 = compose_for("v2", _rich(tmp_path), env)
    printed = _unescaped(json.loads(v2("-p", "hash", "config", "--format", "json").stdout))
    project = load_project(working_dir=tmp_path, name="hash", environ={**daemon.env(), **env})
    assert isinstance(printed, dict) and set(printed["services"]) == {"db", "web", "builder"}
    for name, model in printed["services"].items():
        for cleared in ("build", "pull_policy", "scale", "depends_on", "profiles"):
            model.pop(cleared, None)
        model.get("deploy", {}).pop("replicas", None)
        assert json.loads(go_json(service_model(project, project.services[name]))) == model, name
        assert go_json(service_model(project, project.services[name])) == go_json(model), name


def _ids(daemon: Daemon, project: str) -> dict[str, str]:
    out = daemon.docker_ok("ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}}",
                           "--filter", f"label=com.docker.compose.project={project}")
    return dict(line.split() for line in out.splitlines())


STACK = """
services:
  db:
    image: busybox
    env_file: db.env
    command: sh -c 'touch /tmp/ready; exec sleep 300'
    volumes: [dbdata:/data, ./src:/src:ro]
    healthcheck: {test: [CMD, test, -f, /tmp/ready], interval: 1s, retries: 30}
  web:
    build: .
    depends_on: {db: {condition: service_healthy}}
    environment: {GREETING: "${GREETING:-hello}", UNSET: null}
    command: httpd -f -p 8080
    ports: ["127.0.0.1:${WEB_PORT}:8080"]
    networks: [default, back]
    init: true
    restart: unless-stopped
volumes:
  dbdata:
networks:
  back:
"""


@pytest.mark.slow
@pytest.mark.parametrize(("first", "second"), [("v2", "dockyard"), ("dockyard", "v2")])
def test_an_up_by_the_other_tool_keeps_the_containers(first: str, second: str, daemon: Daemon,
                                                      compose_for: Callable[..., Compose],
                                                      tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(STACK)
    (tmp_path / "db.env").write_text("POSTGRES_USER=netbox\n")
    (tmp_path / ".env").write_text(f"GREETING=howdy\nWEB_PORT={free_port()}\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo built > /built\n")
    (tmp_path / "src").mkdir()
    project = f"h{first}{uuid.uuid4().hex[:6]}"
    # Compose v2 builds with the classic builder only with DOCKER_BUILDKIT=0 (README).
    one, other = (compose_for(kind, tmp_path, {"DOCKER_BUILDKIT": "0"}) for kind in (first, second))
    try:
        one("-p", project, "up", "-d", "--wait")
        before = _ids(daemon, project)
        assert set(before) == {f"{project}-db-1", f"{project}-web-1"}
        again = other("-p", project, "up", "-d", "--wait")
        assert _ids(daemon, project) == before, f"{second} recreated {first}'s containers:\n{again.stderr}"
        assert "Recreate" not in again.stderr and f"Container {project}-web-1  Running" in again.stderr
        # ``ps --format json``: the same objects from both tools.
        outputs = [tool("-p", project, "ps", "--format", "json").stdout for tool in (one, other)]
        listed = [[json.loads(line) for line in out.splitlines()] for out in outputs]
        for row in (*listed[0], *listed[1]):
            # Compose v2 truncates Command and Mounts (not matched yet: see the report).
            for moving in ("RunningFor", "Status", "Command", "Mounts"):
                row.pop(moving)
            for unordered in ("Labels", "Networks"):  # Go map order in Compose v2
                row[unordered] = sorted(row[unordered].split(","))
        for mine, theirs in zip(*listed, strict=True):
            assert {k: v for k, v in mine.items() if theirs.get(k) != v} == {}, theirs
        assert {r["Service"]: r["Health"] for r in listed[0]} == {"db": "healthy", "web": ""}
        # A real change still recreates, whoever made the container.
        (tmp_path / ".env").write_text((tmp_path / ".env").read_text().replace("howdy", "hi"))
        other("-p", project, "up", "-d", "--wait")
        after = _ids(daemon, project)
        assert after[f"{project}-db-1"] == before[f"{project}-db-1"]
        assert after[f"{project}-web-1"] != before[f"{project}-web-1"]
        env = daemon.docker_ok("exec", f"{project}-web-1", "env")
        assert "GREETING=hi" in env and "UNSET" not in env
    finally:
        one("-p", project, "down", "-v", "--rmi", "local", check=False)
