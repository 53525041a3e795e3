"""After a daemon restart, a Compose project's containers come back in depends_on order, each
waiting for what it depends on to be healthy where the file asks (moby#11777)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from conformance.daemon import Daemon

PROJECT = """
services:
  db:
    image: busybox
    restart: always
    command: sh -c 'rm -f /tmp/ready; sleep 2; touch /tmp/ready; exec sleep 300'
    healthcheck: {test: [CMD, test, -f, /tmp/ready], interval: 500ms, retries: 60}
  web:
    image: busybox
    restart: always
    command: sleep 300
    depends_on:
      db: {condition: service_healthy}
"""


def _when(text: str) -> datetime:
    # Docker's RFC 3339 with nanoseconds: keep microseconds for fromisoformat.
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


@pytest.mark.slow
def test_restart_policies_come_back_in_depends_on_order(daemon_factory: Callable[..., Daemon],
                                                        tmp_path: Path) -> None:
    d = daemon_factory()
    (tmp_path / "compose.yaml").write_text(PROJECT)
    argv = [sys.executable, "-m", "dockyard.cli.main", "compose", "-p", "boot"]
    subprocess.run([*argv, "up", "-d", "--wait"], cwd=tmp_path, env=d.env(), check=True,
                   capture_output=True, timeout=120)
    d.docker_ok("stop", "-t", "1", "boot-web-1", "boot-db-1")
    d.stop()
    d.start()
    deadline = time.monotonic() + 60
    while d.docker("inspect", "-f", "{{.State.Status}}", "boot-web-1")[1].strip() != "running":
        assert time.monotonic() < deadline, d.log_tail()
        time.sleep(0.3)
    web_started = _when(d.docker_ok("inspect", "-f", "{{.State.StartedAt}}", "boot-web-1").strip())
    db_started = _when(d.docker_ok("inspect", "-f", "{{.State.StartedAt}}", "boot-db-1").strip())
    # db sleeps 2 s (its marker file removed first) before its healthcheck can pass: web waited.
    assert (web_started - db_started).total_seconds() >= 1.5
    assert d.docker_ok("inspect", "-f", "{{.State.Health.Status}}", "boot-db-1").strip() == "healthy"
