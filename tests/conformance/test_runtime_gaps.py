"""Runtime-control gaps closed after issue 6: OOMKilled across a restart, exec under userns-remap."""

from __future__ import annotations

import json
from typing import Any

from .daemon import Daemon


def _state(d: Daemon, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(d.docker_ok("container", "inspect", ref))[0]["State"]
    return data


def test_oom_killed_is_cleared_when_the_container_starts_again(daemon: Daemon) -> None:
    name = "g6-oom-restart"
    # The first run is OOM-killed; a second run finds /oomed and sleeps instead.
    script = "if [ ! -e /oomed ]; then touch /oomed; x=a; while :; do x=$x$x; done; fi; sleep 300"
    try:
        code, _, _ = daemon.docker("run", "--name", name, "-m", "32m", "busybox", "sh", "-c", script,
                                   timeout=60)
        assert code == 137
        assert _state(daemon, name)["OOMKilled"] is True
        daemon.docker_ok("start", name)
        state = _state(daemon, name)
        assert (state["Status"], state["OOMKilled"], state["ExitCode"]) == ("running", False, 0)
    finally:
        daemon.docker("rm", "-f", name)
