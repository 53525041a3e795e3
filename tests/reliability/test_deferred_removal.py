"""kill -9 of the daemon while ``--rm`` containers are still being torn down after their removal
was answered (core/containers/teardown.py): the next daemon removes what is left of them (runtime
and monitor state, endpoints and sandbox, mount, snapshot, files) and the names are free. The spare
sandboxes never outnumber their slots and go with the daemon."""

from __future__ import annotations

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
