"""``depends_on: {db: {restart: true}}``: restarting or recreating ``db`` restarts its dependents,
the other dependents are left alone (the same through Compose v2, as the oracle)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from .conftest import Compose

STACK = """
x-quick: &quick
  image: busybox
  command: sleep 300
  stop_signal: SIGKILL   # sleep as PID 1 ignores SIGTERM: no 10 s stops
services:
  db:
    <<: *quick
    environment: {VERSION: "${VERSION:-1}"}
  app:
    <<: *quick
    depends_on: {db: {condition: service_started, restart: true}}
  report:
    <<: *quick
    depends_on: {app: {condition: service_started, restart: true}}
  other:
    <<: *quick
    depends_on: [db]
"""


def _started(daemon: Daemon, project: str) -> dict[str, tuple[str, str]]:
    """service → (container ID, State.StartedAt)."""
    out = daemon.docker_ok("ps", "-aq", "--no-trunc",
                           "--filter", f"label=com.docker.compose.project={project}")
    lines = daemon.docker_ok("inspect", "-f", '{{index .Config.Labels "com.docker.compose.service"}} {{.Id}} '
                             "{{.State.StartedAt}} {{.State.Running}}", *out.split())
    found = {}
    for line in lines.splitlines():
        service, cid, started, running = line.split()
        assert running == "true", f"{service} is not running"
        found[service] = (cid, started)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dockyard", "v2"])
def test_restart_true_dependents_follow_their_dependency(kind: str, daemon: Daemon,
                                                         compose_for: Callable[..., Compose],
                                                         tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(STACK)
    project = f"dep{kind}{uuid.uuid4().hex[:6]}"
    compose = compose_for(kind, tmp_path)
    try:
        compose("-p", project, "up", "-d")
        first = _started(daemon, project)

        compose("-p", project, "restart", "db")
        restarted = _started(daemon, project)
        assert {s: restarted[s][0] for s in restarted} == {s: first[s][0] for s in first}
        changed = {s for s in first if restarted[s][1] != first[s][1]}
        assert changed == {"db", "app", "report"}, "app (and report, through app) restart with db"

        (tmp_path / ".env").write_text("VERSION=2\n")
        up = compose("-p", project, "up", "-d")
        recreated = _started(daemon, project)
        assert recreated["db"][0] != first["db"][0], "db's config changed"
        assert {s for s in first if s != "db" and recreated[s][0] != first[s][0]} == set(), up.stderr
        changed = {s for s in ("app", "report", "other") if recreated[s][1] != restarted[s][1]}
        assert changed == {"app"}, f"only the direct restart: true dependent restarts:\n{up.stderr}"
    finally:
        compose("-p", project, "down", "-t", "0", check=False)
