"""The start path's shortcuts are invisible to users: a ``--rm`` container's teardown finishes after
its removal is answered (core/containers/teardown.py), yet its name and published port can be taken
again at once, and nothing of it is left once the teardown is done."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.daemon import Daemon
from conformance.polling import settled
from conformance.registries import free_port


def _names(path: Path) -> list[str]:
    return [p.name for p in path.iterdir()] if path.is_dir() else []


def _leftovers(d: Daemon) -> list[str]:
    """Container directories and sandboxes of containers that are gone (none, once background
    removals have finished)."""
    # Listed before the live containers, so one created meanwhile is never counted as left over.
    found = [f"containers/{x}" for x in _names(d.data_root / "containers")] + [
        f"netns/{x}" for x in _names(d.exec_root / "netns")]
    live = set(d.docker_ok("ps", "-aq", "--no-trunc").split())
    return [x for x in found if x.split("/")[1] not in live]


def test_name_of_a_removed_container_is_free_at_once(daemon: Daemon) -> None:
    for _ in range(3):
        out = daemon.docker_ok("run", "--rm", "--name", "reused-at-once", "busybox", "echo", "hi")
        assert out == "hi\n"
    cid = daemon.docker_ok("run", "-d", "--name", "reused-at-once", "busybox", "true").strip()
    assert daemon.docker_ok("wait", cid).strip() == "0"
    daemon.docker_ok("rm", cid)
    assert settled(lambda: _leftovers(daemon), 20) == []


def test_published_port_of_a_removed_container_is_free_at_once(daemon: Daemon) -> None:
    port = free_port()
    daemon.docker_ok("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    cid = daemon.docker_ok("run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox",
                           "httpd", "-f", "-p", "80").strip()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    assert sock.recv(64).startswith(b"HTTP/1.")
                    break
            except OSError:
                assert time.monotonic() < deadline, "the published port never answered"
                time.sleep(0.1)
    finally:
        daemon.docker_ok("rm", "-f", cid)


def test_rm_containers_on_the_default_bridge_leave_nothing(daemon: Daemon) -> None:
    for _ in range(4):
        daemon.docker_ok("run", "--rm", "busybox", "true")
    daemon.docker_ok("run", "--rm", "--network", "none", "busybox", "true")
    assert settled(lambda: _leftovers(daemon), 20) == []
    live = set(daemon.docker_ok("ps", "-aq", "--no-trunc").split())
    prefix = str(daemon.data_root / "containers") + "/"
    mounted = {line.split()[4][len(prefix):].split("/")[0]
               for line in Path("/proc/self/mountinfo").read_text().splitlines()
               if line.split()[4].startswith(prefix)}
    assert mounted <= live


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


# A regression guard, not the target (40 MB, bench/run_latency.py): a fresh daemon measured 66-70 MB
# idle here after the lazy imports and the malloc arena cap, 82-85 MB before them.
IDLE_RSS_BOUND_MB = 80
GROWTH_BOUND_MB = 12


@pytest.mark.slow
def test_daemon_memory_idle_and_with_running_containers(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory()
    assert d.proc is not None
    d.docker_ok("run", "--rm", "busybox", "true")  # the start path's modules are loaded
    idle = _rss_mb(d.proc.pid)
    assert idle < IDLE_RSS_BOUND_MB, f"idle dockyardd holds {idle:.1f} MB"
    ids = [d.docker_ok("run", "-d", "busybox", "sleep", "600").strip() for _ in range(10)]
    try:
        loaded = _rss_mb(d.proc.pid)
        assert loaded - idle < GROWTH_BOUND_MB, f"{idle:.1f} MB idle, {loaded:.1f} MB with 10 running"
    finally:
        d.docker_ok("rm", "-f", *ids)


def test_a_started_container_is_running_for_runc_itself(daemon: Daemon) -> None:
    """``runc start`` is replaced by a release through runc's exec fifo (backends/runc_fifo.py):
    runc must still see the container as running, and a stop and a second start behave."""
    cid = daemon.docker_ok("run", "-d", "busybox", "sleep", "600").strip()
    try:
        root = daemon.exec_root / "runtime" / "runc"
        state = subprocess.run(["runc", "--root", str(root), "state", cid],
                               capture_output=True, text=True, check=True)
        assert json.loads(state.stdout)["status"] == "running"
        assert not (root / cid / "exec.fifo").exists()
        assert daemon.docker_ok("exec", cid, "echo", "in") == "in\n"
        daemon.docker_ok("stop", "-t", "0", cid)
        daemon.docker_ok("start", cid)
        assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"
    finally:
        daemon.docker_ok("rm", "-f", cid)
