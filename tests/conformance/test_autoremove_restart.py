"""``docker restart`` of a ``--rm`` container keeps it (moby turns AutoRemove off for the stop);
the next stop removes it."""

from __future__ import annotations

import time

from .daemon import Daemon


def _gone(daemon: Daemon, name: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if daemon.docker("inspect", name)[0] != 0:
            return True
        time.sleep(0.1)
    return False


def test_restart_keeps_a_rm_container_and_the_next_stop_removes_it(daemon: Daemon) -> None:
    name = "rm-restarted"
    daemon.docker_ok("run", "-d", "--rm", "--name", name, "busybox", "sleep", "600")
    try:
        for _ in range(3):
            before = daemon.docker_ok("inspect", "-f", "{{.State.Pid}}", name).strip()
            daemon.docker_ok("restart", "-t", "0", name)
            state = daemon.docker_ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", name).split()
            assert state[0] == "running" and state[1] != before, state
            time.sleep(0.3)  # an auto-remove racing the start would have struck by now
            assert daemon.docker_ok("inspect", "-f", "{{.State.Status}}", name).strip() == "running"
        daemon.docker_ok("stop", "-t", "0", name)
        assert _gone(daemon, name, time.monotonic() + 15), "the --rm container outlived its stop"
    finally:
        daemon.docker("rm", "-f", name)
