"""``dockyard compose create``, ``attach``, ``stats``, ``commit`` and ``export``: Compose v2's verbs
on a service's containers, against our engine."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from conformance.daemon import Daemon

from .conftest import Compose, argv_for

PROJECT = """
services:
  app:
    image: busybox
    command: sh -c 'echo made > /made; read line; echo "got $$line"; sleep 300'
    stdin_open: true
    stop_signal: SIGKILL
"""


def _attach_and_send(daemon: Daemon, workdir: Path, project: str, line: str) -> str:
    """``compose attach app`` with ``line`` typed; the first line that comes back (stdin kept open:
    an attach ends at stdin's end, as docker's does)."""
    proc = subprocess.Popen([*argv_for("dockyard"), "-p", project, "attach", "--no-sig-proxy", "app"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=workdir,
                            env=daemon.env())
    timer = threading.Timer(30, proc.kill)
    timer.start()
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(line)
        proc.stdin.flush()
        return proc.stdout.readline().strip()
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()


def test_create_then_the_container_verbs(daemon: Daemon, compose_for: Callable[..., Compose],
                                         tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(PROJECT)
    project = f"dy{uuid.uuid4().hex[:6]}"
    compose = compose_for("dockyard", tmp_path)
    image = f"{project}-snap:1"
    try:
        # create: the container exists, labelled, not started; start starts it.
        compose("-p", project, "create")
        info = json.loads(daemon.docker_ok("inspect", f"{project}-app-1"))[0]
        assert info["State"]["Status"] == "created"
        assert info["Config"]["Labels"]["com.docker.compose.service"] == "app"
        compose("-p", project, "start")
        # attach: our stdin reaches the service's process, its answer comes back.
        assert _attach_and_send(daemon, tmp_path, project, "hello\n") == "got hello"
        # stats: one line for the service's container, by name.
        stats = compose("-p", project, "stats", "--no-stream").stdout.splitlines()
        assert stats[0].startswith("CONTAINER ID") and [line.split()[1] for line in stats[1:]] == [
            f"{project}-app-1"]
        # commit: an image holding the file the service wrote.
        compose("-p", project, "commit", "app", image)
        assert daemon.docker_ok("run", "--rm", image, "cat", "/made") == "made\n"
        # export: the container's filesystem as a tar.
        out = tmp_path / "fs.tar"
        compose("-p", project, "export", "-o", str(out), "app")
        with tarfile.open(fileobj=io.BytesIO(out.read_bytes())) as tar:
            assert tar.extractfile("made").read() == b"made\n"  # type: ignore[union-attr]
        # An unknown service is refused by name.
        proc = compose("-p", project, "export", "nosuch", check=False)
        assert proc.returncode != 0 and "no such service: nosuch" in proc.stderr
    finally:
        compose("-p", project, "down", "-t", "0", check=False)
        daemon.docker("rmi", image)
