"""Daemon-level behaviour: containers outlive a daemon restart; daemons on separate roots are separate."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable

import pytest

from .daemon import Daemon


def _state(daemon: Daemon, ref: str) -> dict:
    return json.loads(daemon.docker_ok("container", "inspect", ref))[0]["State"]


@pytest.mark.slow
def test_containers_survive_a_daemon_restart(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory()
    d.docker_ok("run", "-d", "--name", "sleeper", "busybox", "sh", "-c",
                "echo before-restart; exec sleep 100")
    d.docker_ok("run", "-d", "-i", "--name", "reader", "busybox", "sh", "-c", "read line; echo got $line")
    deadline = time.monotonic() + 10
    while "before-restart" not in d.docker_ok("logs", "sleeper") and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = _state(d, "sleeper")["Pid"]

    assert d.stop(signal.SIGTERM) is not None
    os.kill(pid, 0)  # the container process is still alive without a daemon
    d.start()

    up = d.docker_ok("ps", "--format", "{{.Names}} {{.Status}}").splitlines()
    assert any(line.startswith("sleeper Up") for line in up), up
    assert any(line.startswith("reader Up") for line in up), up
    assert _state(d, "sleeper")["Pid"] == pid
    assert d.docker_ok("logs", "sleeper") == "before-restart\n"
    assert d.attach_and_send("reader", "after\n") == (0, "got after\n")
    assert d.docker("stop", "-t", "1", "sleeper", timeout=30)[0] == 0
    state = _state(d, "sleeper")
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.slow
def test_container_that_exits_while_the_daemon_is_down(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory()
    d.docker_ok("run", "-d", "--name", "quick", "busybox", "sh", "-c", "sleep 2; echo done; exit 5")
    d.stop(signal.SIGTERM)
    time.sleep(3)  # the container's own sleep must end while no daemon runs
    d.start()
    assert d.docker_ok("wait", "quick").strip() == "5"
    state = _state(d, "quick")
    assert (state["Status"], state["ExitCode"]) == ("exited", 5)
    assert state["FinishedAt"] > state["StartedAt"]


def test_two_daemons_side_by_side(daemon_factory: Callable[..., Daemon]) -> None:
    one, two = daemon_factory(), daemon_factory()
    a = one.docker_ok("run", "-d", "--name", "same-name", "busybox", "sleep", "100").strip()
    b = two.docker_ok("run", "-d", "--name", "same-name", "busybox", "sleep", "100").strip()
    assert a != b
    assert one.docker_ok("ps", "-q", "--no-trunc").split() == [a]
    assert two.docker_ok("ps", "-q", "--no-trunc").split() == [b]
    code, _, err = one.docker("container", "inspect", b)
    assert code == 1 and f"No such container: {b}" in err
    assert one.docker("exec", "same-name", "true")[0] == 0
    assert one.docker("rm", "-f", "same-name")[0] == 0
    assert two.docker_ok("inspect", "-f", "{{.State.Running}}", "same-name").strip() == "true"
