"""kill -9 of the daemon while ``--rm`` containers are still being torn down after their removal
was answered (core/containers/teardown.py): the next daemon removes what is left of them (runtime
and monitor state, endpoints and sandbox, mount, snapshot, files) and the names are free. The spare
sandboxes never outnumber their slots and go with the daemon."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from .daemons import own_daemon


@pytest.fixture(scope="module")
def d(rootfs_tar: Path) -> Iterator[Daemon]:
    with own_daemon(rootfs_tar) as daemon:
        yield daemon


def _leftovers(d: Daemon) -> dict[str, list[str]]:
    def names(path: Path) -> list[str]:
        return sorted(p.name for p in path.iterdir()) if path.is_dir() else []

    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith((f"{d.data_root}/containers/", f"{d.exec_root}/netns/"))]
    return {"containers": names(d.data_root / "containers"), "netns": names(d.exec_root / "netns"),
            "monitors": names(d.exec_root / "c"), "runc": names(d.exec_root / "runtime" / "runc"),
            "crun": names(d.exec_root / "runtime" / "crun"), "mounts": mounts}


def test_kill_9_during_deferred_teardowns_leaves_nothing(d: Daemon) -> None:
    for index in range(3):
        d.docker_ok("run", "--rm", "--name", f"deferred-{index}", "busybox", "true")
    assert d.proc is not None
    d.proc.kill()  # the last removals' teardowns are most likely still running
    d.proc.wait(10)
    d.start()
    deadline = time.monotonic() + 20
    empty: dict[str, list[str]] = {k: [] for k in ("containers", "netns", "monitors", "runc", "crun",
                                                   "mounts")}
    while _leftovers(d) != empty and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(d) == empty
    assert d.docker_ok("run", "--rm", "--name", "deferred-0", "busybox", "echo", "ok") == "ok\n"


def _spare_mounts(d: Daemon) -> list[str]:
    spare = f"{d.exec_root}/netns-spare/"
    return sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if line.split()[4].startswith(spare))


def test_spare_sandboxes_never_leak_on_kill_9_or_stop(d: Daemon) -> None:
    d.docker_ok("run", "--rm", "busybox", "true")  # takes a spare; the refill makes another
    before = _spare_mounts(d)
    assert len(before) == 2, before
    assert d.proc is not None
    d.proc.kill()
    d.proc.wait(10)
    d.start()  # the killed daemon's spares are removed and made afresh: never more than two
    deadline = time.monotonic() + 10
    while len(_spare_mounts(d)) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _spare_mounts(d) == before
    assert sorted(p.name for p in (d.exec_root / "netns-spare").iterdir()) == ["spare-0", "spare-1"]
    d.stop()
    assert _spare_mounts(d) == [] and list((d.exec_root / "netns-spare").iterdir()) == []
    d.start()


def _links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=10).stdout


def test_sigterm_during_deferred_teardowns_finishes_or_recovers_them(d: Daemon, tmp_path: Path) -> None:
    """SIGTERM while ``--rm`` teardowns are pending: those already answered finish before the
    daemon exits; exits the daemon had not recorded yet are recovered by the next one."""
    answered = []
    for index in range(3):
        cidfile = tmp_path / f"answered-{index}"
        d.docker_ok("run", "--rm", "--cidfile", str(cidfile), "busybox", "true")
        answered.append(cidfile.read_text().strip())
    for _ in range(3):  # exits being recorded (or not yet seen) when the signal comes
        d.docker_ok("run", "-d", "--rm", "busybox", "true")
    assert d.stop(signal.SIGTERM) == 0
    left = _leftovers(d)
    for cid in answered:
        assert cid not in left["netns"] and cid not in left["containers"], left
        assert not any(cid in mount for mount in left["mounts"]), left
    d.start()
    empty: dict[str, list[str]] = {k: [] for k in ("containers", "netns", "monitors", "runc", "crun",
                                                   "mounts")}
    deadline = time.monotonic() + 20
    while (_leftovers(d) != empty or d.docker_ok("ps", "-aq")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(d) == empty
    assert d.docker_ok("ps", "-aq") == ""
    bridge = json.loads(d.docker_ok("network", "inspect", "bridge"))[0]["Options"][
        "com.docker.network.bridge.name"]
    assert f"master {bridge} " not in _links()  # no container runs: no veth on our bridge
