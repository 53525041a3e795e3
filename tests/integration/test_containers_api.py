"""The container verbs end to end: a real dockyardd (runc, conmon, overlay) driven by the stock
docker CLI. Root only."""

from __future__ import annotations

import json
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

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


class Dockyard:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sock = root / "d.sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}",
                    "DOCKER_CONFIG": str(root / "cli")}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.root / "d.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard.daemon", "-H", f"unix://{self.sock}",
             "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec")],
            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # readiness is polled, never slept
            if self.sock.exists() and self.docker("version", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("dockyardd did not start: " + (self.root / "d.log").read_text()[-2000:])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
            self.proc = None

    def docker(self, *args: str, check: bool = True, input: bytes | None = None,
               timeout: float = 30) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([DOCKER, *args], env=self.env, capture_output=True, timeout=timeout,
                                input=input.decode() if input is not None else None, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {args}: {result.returncode}: {result.stderr}")
        return result


@pytest.fixture(scope="module")
def dy() -> Iterator[Dockyard]:
    from conformance.images import busybox_rootfs_tar

    root = Path(tempfile.mkdtemp(prefix="dyb2-", dir="/tmp"))
    daemon = Dockyard(root)
    daemon.start()
    try:
        (root / "bb.tar").write_bytes(busybox_rootfs_tar())
        daemon.docker("import", "-c", 'CMD ["sh"]', str(root / "bb.tar"), "busybox:latest")
        yield daemon
    finally:
        ids = daemon.docker("ps", "-aq", check=False).stdout.split()
        if ids:
            daemon.docker("rm", "-f", *ids, check=False)
        daemon.stop()
        subprocess.run(["umount", "-R", str(root / "data")], capture_output=True, timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def test_run_rm_exit_codes_and_streams(dy: Dockyard) -> None:
    assert dy.docker("run", "--rm", "busybox", "echo", "hi").stdout == "hi\n"
    result = dy.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    result = dy.docker("run", "--rm", "busybox", "nosuchcmd", check=False)
    assert result.returncode == 127 and 'exec: "nosuchcmd": executable file not found' in result.stderr
    assert dy.docker("ps", "-aq").stdout == ""


def test_stdin_attach_and_env(dy: Dockyard) -> None:
    assert dy.docker("run", "-i", "--rm", "busybox", "cat", input=b"hi\n").stdout == "hi\n"
    out = dy.docker("run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "busybox",
                    "sh", "-c", "echo $FOO $HOME; pwd; id -u").stdout
    assert out == "bar /home\n/tmp\n65534\n"
    assert dy.docker("run", "--rm", "--entrypoint", "echo", "busybox", "x").stdout == "x\n"
    ps = dy.docker("run", "--rm", "--init", "busybox", "ps", "-o", "args").stdout
    assert "/sbin/docker-init -- ps" in ps


def test_detached_logs_exec_stop_rm(dy: Dockyard) -> None:
    dy.docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
              "echo start; trap 'exit 0' TERM; while true; do sleep 0.1; done")
    deadline = time.monotonic() + 5
    while "start" not in dy.docker("logs", "ticker").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dy.docker("logs", "ticker").stdout == "start\n"
    result = dy.docker("exec", "ticker", "sh", "-c", "echo in; exit 5", check=False)
    assert (result.returncode, result.stdout) == (5, "in\n")
    assert dy.docker("exec", "-i", "ticker", "cat", input=b"data").stdout == "data"
    names = dy.docker("ps", "--filter", "status=running", "--format", "{{.Names}}").stdout.split()
    assert "ticker" in names
    # The loop's shell is alone between two `sleep 0.1`s: a listing may fall in that gap.
    deadline = time.monotonic() + 5
    top = dy.docker("top", "ticker").stdout
    while "sleep" not in top and time.monotonic() < deadline:
        time.sleep(0.05)
        top = dy.docker("top", "ticker").stdout
    assert "PID" in top and "sleep" in top
    dy.docker("pause", "ticker")
    paused = dy.docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "ticker").stdout
    assert paused == "paused true\n"
    dy.docker("unpause", "ticker")
    dy.docker("rename", "ticker", "ticker2")
    dy.docker("stop", "-t", "5", "ticker2")
    state = json.loads(dy.docker("inspect", "ticker2").stdout)[0]
    assert state["State"]["Status"] == "exited" and state["State"]["ExitCode"] == 0
    assert state["Name"] == "/ticker2" and state["HostConfig"]["NetworkMode"] == "bridge"
    assert dy.docker("logs", "-f", "ticker2").stdout == "start\n"
    dy.docker("rm", "ticker2")
    assert "No such container: ticker2" in dy.docker("container", "inspect", "ticker2", check=False).stderr


def test_kill_wait_restart_and_conflicts(dy: Dockyard) -> None:
    dy.docker("run", "-d", "--name", "sleeper", "busybox", "sleep", "100")
    result = dy.docker("run", "-d", "--name", "sleeper", "busybox", "true", check=False)
    assert result.returncode == 125 and 'The container name "/sleeper" is already in use' in result.stderr
    result = dy.docker("rm", "sleeper", check=False)
    assert "container is running: stop the container before removing or force remove" in result.stderr
    dy.docker("restart", "-t", "1", "sleeper")
    assert dy.docker("inspect", "-f", "{{.State.Running}}", "sleeper").stdout == "true\n"
    dy.docker("kill", "sleeper")
    assert dy.docker("wait", "sleeper").stdout == "137\n"
    assert "is not running" in dy.docker("kill", "sleeper", check=False).stderr
    exited = dy.docker("ps", "-a", "--filter", "exited=137", "--format", "{{.Names}}").stdout.split()
    assert exited == ["sleeper"]
    dy.docker("rm", "sleeper")


def test_tty_run(dy: Dockyard) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(DOCKER, ["run", "-it", "--rm", "busybox", "sh"], env=dy.env, timeout=15)
    child.expect(r"[#$] ")
    child.sendline("echo $TERM; exit 4")
    child.expect("xterm")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4


def test_daemon_restart_keeps_running_container(dy: Dockyard) -> None:
    dy.docker("run", "-d", "--name", "survivor", "busybox", "sleep", "100")
    dy.stop()
    dy.start()
    assert dy.docker("inspect", "-f", "{{.State.Status}}", "survivor").stdout == "running\n"
    assert dy.docker("exec", "survivor", "echo", "ok").stdout == "ok\n"
    dy.docker("rm", "-f", "survivor")
