"""``dockyard compose`` on its own: --wait, run --rm, scale, secrets and configs as files, bad input."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from .conftest import Compose, free_port

APP = """
services:
  app:
    image: busybox
    command: sh -c 'touch /tmp/ready; exec sleep 300'
    healthcheck: {test: [CMD, test, -f, /tmp/ready], interval: 1s, retries: 30}
    secrets: [token, {source: inline, target: /etc/inline.txt}]
    configs: [{source: settings, target: /etc/settings.conf}]
    environment: [FROM_SHELL]
  worker:
    image: busybox
    command: sleep 300
secrets:
  token: {file: ./token.txt}
  inline: {environment: INLINE_SECRET}
configs:
  settings: {content: "mode=${MODE:-prod}"}
"""


def _labels(daemon: Daemon, project: str) -> list[str]:
    out = daemon.docker_ok("ps", "-a", "--format", "{{.Names}}",
                           "--filter", f"label=com.docker.compose.project={project}")
    return sorted(out.split())


@pytest.mark.slow
def test_wait_secrets_run_rm_and_scale(daemon: Daemon, compose_for: Callable[..., Compose],
                                       tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(APP)
    (tmp_path / "token.txt").write_text("s3cret\n")
    project = f"dy{uuid.uuid4().hex[:6]}"
    compose = compose_for("dockyard", tmp_path, {"INLINE_SECRET": "from-env", "FROM_SHELL": "shell"})
    try:
        compose("-p", project, "up", "-d", "--wait")
        status = daemon.docker_ok("inspect", "-f", "{{.State.Health.Status}}", f"{project}-app-1").strip()
        assert status == "healthy", "--wait returns once the healthcheck passes"
        app = f"{project}-app-1"
        assert daemon.docker_ok("exec", app, "cat", "/run/secrets/token") == "s3cret\n"
        assert daemon.docker_ok("exec", app, "cat", "/etc/inline.txt") == "from-env"
        assert daemon.docker_ok("exec", app, "cat", "/etc/settings.conf") == "mode=prod"
        assert "FROM_SHELL=shell" in daemon.docker_ok("exec", app, "env")

        ran = compose("-p", project, "run", "--rm", "-T", "worker", "echo", "one-off")
        assert "one-off" in ran.stdout
        assert _labels(daemon, project) == [app, f"{project}-worker-1"], "run --rm leaves nothing"

        compose("-p", project, "scale", "worker=3")
        assert _labels(daemon, project) == [app, *[f"{project}-worker-{i}" for i in (1, 2, 3)]]
        compose("-p", project, "up", "-d", "--scale", "worker=1")
        assert _labels(daemon, project) == [app, f"{project}-worker-1"]
        # Unchanged configuration: nothing is recreated.
        before = daemon.docker_ok("inspect", "-f", "{{.Id}}", app)
        compose("-p", project, "up", "-d")
        assert daemon.docker_ok("inspect", "-f", "{{.Id}}", app) == before
        assert "app" in compose("-p", project, "config", "--services").stdout
    finally:
        compose("-p", project, "down", check=False)
    assert _labels(daemon, project) == []


def test_bad_input_is_one_line_and_creates_nothing(daemon: Daemon, compose_for: Callable[..., Compose],
                                                   tmp_path: Path) -> None:
    project = f"bad{uuid.uuid4().hex[:6]}"
    compose = compose_for("dockyard", tmp_path)
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: busybox\n    nonsense: 1\n")
    proc = compose("-p", project, "up", "-d", check=False)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    assert "compose.yaml:4" in proc.stderr and "services.a.nonsense" in proc.stderr

    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: ${IMG:?set IMG please}\n")
    proc = compose("-p", project, "up", "-d", check=False)
    assert proc.returncode != 0 and "set IMG please" in proc.stderr and "services.a.image" in proc.stderr

    (tmp_path / "compose.yaml").write_text("services:\n  a: {image: busybox, depends_on: [b]}\n"
                                           "  b: {image: busybox, depends_on: [a]}\n")
    proc = compose("-p", project, "up", "-d", check=False)
    assert proc.returncode != 0 and "dependency cycle detected" in proc.stderr

    (tmp_path / "compose.yaml").write_text("services:\n  a: {image: busybox, command: sleep 30}\n")
    proc = compose("-p", project, "up", "-d", "nope", check=False)
    assert proc.returncode != 0 and proc.stderr.strip() == "no such service: nope"
    assert _labels(daemon, project) == []
    assert daemon.docker("network", "inspect", f"{project}_default")[0] != 0


def test_port_in_use_fails_and_leaves_only_labelled_containers(
        daemon: Daemon, compose_for: Callable[..., Compose], tmp_path: Path) -> None:
    port = free_port()
    project = f"port{uuid.uuid4().hex[:6]}"
    compose = compose_for("dockyard", tmp_path)
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  a:\n    image: busybox\n    command: sleep 30\n    ports: ['127.0.0.1:{port}:80']\n")
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        try:
            proc = compose("-p", project, "up", "-d", check=False)
            assert proc.returncode != 0
            assert len(proc.stderr.strip().splitlines()[-1:]) == 1 and "Error" in proc.stderr
            # As Compose: what was created stays listed by ps (labelled), nothing runs.
            listed = compose("-p", project, "ps", "-a", "-q").stdout.split()
            unlabelled = daemon.docker_ok("ps", "-aq", "--filter", f"name={project}").split()
            assert len(unlabelled) == len(listed) <= 1
            assert compose("-p", project, "ps", "-q").stdout.strip() == ""
        finally:
            compose("-p", project, "down", check=False)
    assert free_port() > 0


def test_attached_up_prefixes_logs_and_returns_the_exit_code(daemon: Daemon,
                                                            compose_for: Callable[..., Compose],
                                                            tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    command: sh -c 'echo hello from a; sleep 1; exit 3'\n"
        "  b:\n    image: busybox\n    command: sleep 60\n    stop_grace_period: 1s\n")
    project = f"att{uuid.uuid4().hex[:6]}"
    compose = compose_for("dockyard", tmp_path)
    try:
        proc = compose("-p", project, "up", "--exit-code-from", "a", check=False)
        assert proc.returncode == 3, proc.stderr
        assert f"{project}-a-1  | hello from a" in proc.stdout
        assert compose("-p", project, "ps", "-q").stdout.strip() == "", "the others were stopped"
    finally:
        compose("-p", project, "down", "-t", "1", check=False)


@pytest.mark.slow
def test_watch_syncs_changed_and_deleted_files_into_the_container(daemon: Daemon, tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "app.txt").write_text("v1\n")
    (tmp_path / "src" / "sub" / "a.txt").write_text("a\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox\n    command: sleep 300\n    init: true\n"
        "    develop:\n      watch:\n"
        "        - {action: sync, path: ./src, target: /app, ignore: [tmp/]}\n"
        "        - {action: sync+exec, path: ./conf, target: /conf, exec: {command: touch /tmp/reloaded}}\n")
    project = f"w{uuid.uuid4().hex[:6]}"
    app = f"{project}-app-1"
    argv = [sys.executable, "-m", "dockyard.cli.main", "compose", "-p", project]
    watcher = subprocess.Popen([*argv, "watch"], cwd=tmp_path, env=daemon.env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)

    def ok(*args: str) -> bool:
        return daemon.docker("exec", app, *args)[0] == 0

    def until(check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 30
        while not check():
            assert time.monotonic() < deadline and watcher.poll() is None, what
            time.sleep(0.3)

    try:
        until(lambda: ok("true"), "watch did not start the service")
        time.sleep(1.0)  # the watcher's first scan
        (tmp_path / "src" / "app.txt").write_text("v2\n")
        (tmp_path / "src" / "sub" / "a.txt").write_text("a2\n")
        until(lambda: ok("grep", "-q", "v2", "/app/app.txt"), "the change was not synced")
        until(lambda: ok("grep", "-q", "a2", "/app/sub/a.txt"), "sub was not synced")
        (tmp_path / "src" / "app.txt").unlink()
        (tmp_path / "src" / "sub" / "a.txt").unlink()
        (tmp_path / "src" / "sub").rmdir()
        until(lambda: not ok("test", "-e", "/app/app.txt"),
              "a file deleted on the host stays in the container")
        until(lambda: not ok("test", "-e", "/app/sub"),
              "a deleted directory stays in the container")
        (tmp_path / "conf" / "c.ini").write_text("x=1\n")
        until(lambda: ok("test", "-f", "/tmp/reloaded"), "sync+exec did not run")
        assert daemon.docker("exec", app, "cat", "/conf/c.ini")[1] == "x=1\n"
        (tmp_path / "src" / "tmp").mkdir()
        (tmp_path / "src" / "tmp" / "scratch").write_text("no\n")
        (tmp_path / "src" / "after.txt").write_text("yes\n")
        until(lambda: ok("test", "-f", "/app/after.txt"), "after.txt not synced")
        assert daemon.docker("exec", app, "test", "-e", "/app/tmp")[0] != 0, "ignored paths are not synced"
    finally:
        watcher.terminate()
        watcher.wait(10)
        subprocess.run([*argv, "down", "-t", "1"], cwd=tmp_path, env=daemon.env(), capture_output=True,
                       timeout=120)


@pytest.mark.slow
def test_lifecycle_verbs(daemon: Daemon, compose_for: Callable[..., Compose], tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox\n    init: true\n"
        "    command: sh -c 'echo started; exec sleep 300'\n"
        f"    ports: ['127.0.0.1:{port}:80']\n")
    project = f"lv{uuid.uuid4().hex[:6]}"
    compose = compose_for("dockyard", tmp_path)
    app = f"{project}-app-1"

    def state() -> str:
        return daemon.docker_ok("inspect", "-f", "{{.State.Status}}", app).strip()

    try:
        compose("-p", project, "up", "-d")
        assert compose("-p", project, "port", "app", "80").stdout.strip() == f"127.0.0.1:{port}"
        assert "started" in compose("-p", project, "logs", "--no-log-prefix", "app").stdout
        assert "sleep 300" in compose("-p", project, "top").stdout
        assert "busybox" in compose("-p", project, "images").stdout
        compose("-p", project, "pause")
        assert state() == "paused"
        compose("-p", project, "unpause")
        assert state() == "running"
        compose("-p", project, "stop", "-t", "1")
        assert state() == "exited" and compose("-p", project, "ps", "-q").stdout.strip() == ""
        compose("-p", project, "start")
        assert state() == "running"
        compose("-p", project, "kill")
        assert state() == "exited"
        compose("-p", project, "rm", "-f")
        assert compose("-p", project, "ps", "-a", "-q").stdout.strip() == ""
        assert compose("version", "--short").stdout.strip()
    finally:
        compose("-p", project, "down", "-t", "1", check=False)
