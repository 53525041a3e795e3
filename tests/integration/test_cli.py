"""The ``dockyard`` CLI against a real dockyardd (root: runc, conmon, overlay)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

DOCKYARD = [sys.executable, "-m", "dockyard.cli.main"]


class Cli:
    def __init__(self, sock: Path) -> None:
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*DOCKYARD, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)


def _mounted_under(root: Path) -> bool:
    return any(f" {root}" in line for line in Path("/proc/self/mounts").read_text().splitlines())


@pytest.fixture(scope="module")
def cli() -> Iterator[Cli]:
    root = Path(tempfile.mkdtemp(prefix="dycli-", dir="/tmp"))
    sock = root / "d.sock"
    log = open(root / "dockyardd.log", "wb")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen([sys.executable, "-m", "dockyard.daemon", "-H", f"unix://{sock}",
                             "--data-root", str(root / "data"), "--exec-root", str(root / "exec")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    run = Cli(sock)
    try:
        deadline = time.monotonic() + 30
        while run("version").returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dockyardd did not start: {(root / 'dockyardd.log').read_text()[-2000:]}")
            time.sleep(0.1)
        boot = run("image", "bootstrap", "busybox")
        assert boot.returncode == 0, boot.stderr
        yield run
    finally:
        ids = run("ps", "-aq", "--no-trunc").stdout.split()
        if ids:
            run("rm", "-f", *ids)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if not _mounted_under(root):
            shutil.rmtree(root, ignore_errors=True)


def test_run_prints_the_container_output(cli: Cli) -> None:
    done = cli("run", "--rm", "busybox", "echo", "hello", "from", "dockyard")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello from dockyard\n", "")


def test_exit_code_propagates(cli: Cli) -> None:
    assert cli("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3


def test_missing_command_exits_127(cli: Cli) -> None:
    done = cli("run", "--rm", "busybox", "no-such-command")
    assert done.returncode == 127
    assert "Error response from daemon:" in done.stderr


def test_stdin_reaches_the_container_and_ends_with_eof(cli: Cli) -> None:
    done = subprocess.run([*DOCKYARD, "run", "-i", "--rm", "busybox", "sh", "-c", "cat; exit 4"],
                          input="piped\n", env=cli.env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (4, "piped\n")


def test_ps_inspect_and_rm_of_a_running_container(cli: Cli) -> None:
    started = cli("run", "-d", "--name", "cli-sleeper", "-l", "suite=cli", "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    container_id = started.stdout.strip()
    assert len(container_id) == 64
    try:
        names = cli("ps", "--format", "{{.Names}}").stdout.split()
        assert "cli-sleeper" in names
        labelled = cli("ps", "--filter", "label=suite=cli", "--format", '{{.ID}} {{.Label "suite"}}')
        assert labelled.stdout == f"{container_id[:12]} cli\n"
        status = cli("inspect", "--format", "{{.State.Status}}", "cli-sleeper")
        assert status.stdout == "running\n"
        refused = cli("rm", "cli-sleeper")
        assert refused.returncode == 1
        assert refused.stderr == ('Error response from daemon: cannot remove container "/cli-sleeper": '
                                  "container is running: stop the container before removing or force "
                                  "remove\n")
        execed = cli("exec", "cli-sleeper", "sh", "-c", "echo in-exec; exit 5")
        assert (execed.returncode, execed.stdout) == (5, "in-exec\n")
    finally:
        removed = cli("rm", "-f", "cli-sleeper")
    assert (removed.returncode, removed.stdout) == (0, "cli-sleeper\n")
    assert cli("inspect", "cli-sleeper").returncode == 1


def test_images_lists_busybox(cli: Cli) -> None:
    listed = cli("images")
    assert listed.returncode == 0
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(row.split()[:2] == ["busybox", "latest"] for row in rows)
    assert cli("image", "inspect", "--format", "{{json .Config.Cmd}}", "busybox").stdout == '["sh"]\n'


def test_logs_of_an_exited_container(cli: Cli) -> None:
    created = cli("run", "--name", "cli-logs", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert created.returncode == 0
    logs = cli("logs", "cli-logs")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
    assert cli("rm", "cli-logs").returncode == 0
