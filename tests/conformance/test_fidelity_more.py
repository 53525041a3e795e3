"""Issue 10's fidelity sweep, second pass: what dockerd 20.10 (the oracle) shows, through the stock
CLI: the build's step echo of ``--label``, history's intermediate image IDs, a default container's
HostConfig, and the exec terminal's size."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from .daemon import Daemon

Name = Callable[[str], str]
Run = Callable[..., str]


def test_build_labels_are_one_step_each_echoed_as_given(daemon: Daemon, tmp_path: Path,
                                                         name: Name) -> None:
    """dockerd 20.10: ``Step 3/4 : LABEL a=2`` then ``Step 4/4 : LABEL z=$HOME``, keys sorted,
    values literal (no expansion)."""
    tag = name("labels")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nENV HOME=/x\n")
    out = daemon.docker_ok("build", "--label", "z=$HOME", "--label", "a=2", "-t", tag, str(tmp_path))
    try:
        steps = [line for line in out.splitlines() if line.startswith("Step ")]
        assert steps == ["Step 1/4 : FROM busybox", "Step 2/4 : ENV HOME=/x", "Step 3/4 : LABEL a=2",
                         "Step 4/4 : LABEL z=$HOME"]
        labels = json.loads(daemon.docker_ok("inspect", "-f", "{{json .Config.Labels}}", tag))
        assert labels == {"a": "2", "z": "$HOME"}
    finally:
        daemon.docker("rmi", "-f", tag)


def _on_a_terminal(argv: list[str], env: dict[str, str], rows: int, cols: int) -> str:
    """Run the stock CLI on a fresh pty of ``rows``×``cols``; its output, as the terminal got it."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: size its terminal first, so the CLI reads it at once
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvpe(argv[0], argv, env)
    out = b""
    try:
        while select.select([fd], [], [], 30)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return out.decode(errors="replace")


def test_the_terminal_has_the_clients_size_from_the_start(daemon: Daemon, container: Run) -> None:
    """``stty size`` as the first thing the process does: the size comes from create's
    HostConfig.ConsoleSize (run) and exec start's ConsoleSize, not from a resize that may come late.
    (dockerd 20.10 speaks API 1.41, without ConsoleSize: its ``run -it … stty size`` loses that race
    and prints ``stty: standard input``; newer dockerd applies it.)"""
    from .daemon import DOCKER

    cid = container("busybox", "sleep", "60")
    env = {**os.environ, **daemon.env()}
    for argv in (["exec", "-t", cid, "stty", "size"], ["exec", "-it", cid, "stty", "size"],
                 ["run", "--rm", "-it", "--network", "none", "busybox", "stty", "size"],
                 ["run", "--rm", "-t", "--network", "none", "busybox", "stty", "size"]):
        out = _on_a_terminal([DOCKER, *argv], env, 37, 121)
        assert out.split() == ["37", "121"], (argv, out)


def test_a_default_containers_host_config_is_dockerds(daemon: Daemon, name: Name) -> None:
    """``docker create busybox`` then inspect, field by field against dockerd 20.10: the values
    dockerd fills in are there, and our own daemon-wide bound on json-file is not written into the
    container's LogConfig (it still applies: test_logging_daemon, test_logdrivers)."""
    plain, privileged = name("hc"), name("hcp")
    daemon.docker_ok("create", "--name", plain, "--network", "none", "busybox", "true")
    daemon.docker_ok("create", "--name", privileged, "--privileged", "--pids-limit", "5",
                     "--network", "none", "busybox", "true")
    try:
        host = json.loads(daemon.docker_ok("inspect", "-f", "{{json .HostConfig}}", plain))
        assert host["IpcMode"] == "private"
        assert host["PidsLimit"] is None
        assert host["LogConfig"] == {"Type": "json-file", "Config": {}}
        assert {"/proc/kcore", "/proc/keys", "/sys/firmware"} <= set(host["MaskedPaths"])
        assert host["ReadonlyPaths"] == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                         "/proc/sysrq-trigger"]
        assert host["ShmSize"] == 67108864
        other = json.loads(daemon.docker_ok("inspect", "-f", "{{json .HostConfig}}", privileged))
        assert other["MaskedPaths"] is None and other["ReadonlyPaths"] is None
        assert other["PidsLimit"] == 5
    finally:
        daemon.docker("rm", "-f", plain, privileged)


def test_history_names_local_parents(daemon: Daemon, tmp_path: Path, name: Name) -> None:
    """dockerd 20.10: each step of a local build is an image, and ``docker history`` shows their
    IDs (the base's too when it is local); ``<missing>`` only where no local image ends there."""
    tag = name("hist")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nENV A=1\nRUN echo x > /x\nLABEL l=1\n")
    daemon.docker_ok("build", "-t", tag, str(tmp_path))
    try:
        rows = [line.split(" ", 1) for line in daemon.docker_ok(
            "history", "--no-trunc", "--format", "{{.ID}} {{.CreatedBy}}", tag).splitlines()]
        image = daemon.docker_ok("inspect", "-f", "{{.Id}}", tag).strip()
        assert rows[0][0] == image
        steps = [row[0] for row in rows[:3]]
        assert "<missing>" not in steps and len(set(steps)) == 3, rows
        assert "ENV A=1" in rows[2][1] and "LABEL l=1" in rows[0][1]
        listed = set(daemon.docker_ok("images", "-a", "-q", "--no-trunc").split())
        assert set(steps) <= listed
        busybox = daemon.docker_ok("inspect", "-f", "{{.Id}}", "busybox").strip()
        base_rows = [row[0] for row in rows[3:]]
        assert base_rows[0] == busybox, rows
        assert all(r == "<missing>" for r in base_rows[1:]), rows
    finally:
        daemon.docker("rmi", "-f", tag)
