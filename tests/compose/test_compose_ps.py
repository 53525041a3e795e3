"""``compose ps`` (and ``compose volumes``) of one project through Compose v2 and dockyard
compose: the same lines, field by field — ``--format json`` (cut Command and Mounts, Publishers,
Health, ExitCode…), ``--no-trunc``, ``--status``, the table and a Go template."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

from conformance.daemon import Daemon
from conformance.polling import wait_for

from .conftest import Compose, free_port

PROJECT = """
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo 'a \\"quoted\\" word & <b>' > /tmp/x; exec httpd -f -p 8080 -h /tmp"]
    ports: ["127.0.0.1:{port}:8080", "8081"]
    expose: ["9000", "7000/udp"]
    volumes: [data:/data, ./site:/site, /anonymous]
    healthcheck: {{test: ["CMD", "true"], interval: 1s}}
    stop_signal: SIGKILL
  job:
    image: busybox
    command: sh -c 'exit 3'
    labels: {{a: b}}
volumes:
  data: {{}}
"""
# Go map order (random in Compose v2): compared as sets.
UNORDERED = ("Labels", "Networks")
# Relative times tick between the two tools' calls (ours starts slower): compared as a word.
RELATIVE = re.compile(r"Less than a second|\d+ seconds?|About a minute")


def _objects(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def _normal(obj: dict[str, object]) -> dict[str, object]:
    return {k: sorted(str(v).split(",")) if k in UNORDERED else
            RELATIVE.sub("<t>", v) if isinstance(v, str) else v for k, v in obj.items()}


def _same(v2: Compose, ours: Compose, *args: str) -> None:
    """The two outputs agree: keys in the same order, every value equal."""
    theirs, mine = v2(*args).stdout, ours(*args).stdout
    if args[-2:] != ("--format", "json"):
        assert RELATIVE.sub("<t>", theirs) == RELATIVE.sub("<t>", mine), f"v2:\n{theirs}\nours:\n{mine}"
        return
    a, b = _objects(theirs), _objects(mine)
    assert [list(o) for o in a] == [list(o) for o in b], (a, b)
    assert [_normal(o) for o in a] == [_normal(o) for o in b], f"v2:\n{theirs}\nours:\n{mine}"


def test_ps_prints_what_compose_v2_prints(daemon: Daemon, compose_for: Callable[..., Compose],
                                          tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "compose.yaml").write_text(PROJECT.format(port=free_port()))
    project = f"dy{uuid.uuid4().hex[:6]}"
    v2 = compose_for("v2", tmp_path)
    ours = compose_for("dockyard", tmp_path)
    try:
        v2("-p", project, "up", "-d")
        wait_for(lambda: '"Health":"healthy"' in v2("-p", project, "ps", "--format", "json", "web").stdout,
                 60, "web healthy")
        wait_for(lambda: '"ExitCode":3' in v2("-p", project, "ps", "-a", "--format", "json", "job").stdout,
                 60, "job exited")
        listing = _objects(ours("-p", project, "ps", "-a", "--format", "json").stdout)
        web = next(o for o in listing if o["Service"] == "web")
        command = json.loads(str(web["Command"]))  # quoted as Go's strconv.Quote (JSON's rules here)
        assert command.endswith("…") and len(command) == 20, command
        assert "…" in str(web["Mounts"]) and web["Health"] == "healthy"
        assert [p["TargetPort"] for p in web["Publishers"]] == [7000, 8080, 8081, 9000]  # type: ignore
        for args in (("-a",), (), ("-a", "--no-trunc"), ("--status", "exited"), ("-a", "web")):
            _same(v2, ours, "-p", project, "ps", *args, "--format", "json")
        _same(v2, ours, "-p", project, "ps", "-a", "--format",
              "{{.Name}} {{.Service}} {{.ExitCode}} {{.Health}} {{.Ports}} {{json .Publishers}}")
        _same(v2, ours, "-p", project, "ps", "-a", "--format", "table {{.Name}}\t{{.Command}}\t{{.Ports}}")
        _same(v2, ours, "-p", project, "ps", "-a", "-q")
        _same(v2, ours, "-p", project, "ps", "--services", "--status", "running")
        # compose volumes: the project's (or the named services') volumes, docker's volume fields.
        for args in ((), ("web",), ("job",), ("-q",), ("--format", "json")):
            _same(v2, ours, "-p", project, "volumes", *args)
        assert ours("-p", project, "volumes", "-q", "web").stdout == f"{project}_data\n"
    finally:
        v2("-p", project, "down", "-v", "-t", "0", check=False)
