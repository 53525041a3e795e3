"""Descriptor limits and failed starts.

The daemon raises its own soft RLIMIT_NOFILE to the hard limit, yet containers get the limits the
daemon was started with (as dockerd's do), unless ``--ulimit`` says otherwise. A start that fails
leaves no process, cgroup, mount or network namespace behind.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from .daemons import own_daemon, ready
from .resources import holdings

SOFT = 1024


def _soft_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open files limit")


@pytest.fixture(scope="module")
def d(rootfs_tar: Path) -> Iterator[Daemon]:
    """A daemon started with a low soft limit, as from a login shell with the kernel's default."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= SOFT:
        pytest.skip(f"the hard limit {hard} leaves nothing to raise")
    with own_daemon(rootfs_tar, start=False) as daemon:
        resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT, hard))
        try:
            daemon.start()  # inherits the low soft limit
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        ready(daemon, rootfs_tar)
        yield daemon


def test_daemon_raises_its_own_limit_but_not_its_containers(d: Daemon) -> None:
    assert d.proc is not None
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert _soft_limit(d.proc.pid) == hard
    assert d.docker_ok("run", "--rm", "busybox", "sh", "-c", "ulimit -n").strip() == str(SOFT)
    assert d.docker_ok("run", "--rm", "--ulimit", "nofile=2048:4096", "busybox", "sh", "-c",
                       "ulimit -n").strip() == "2048"
    cid = d.docker_ok("run", "-d", "busybox", "sleep", "60").strip()
    try:
        got = d.docker_ok("exec", cid, "sh", "-c", "ulimit -n").strip()
        if got != str(SOFT) and _migrations_are_cheap():
            pytest.xfail("runc 1.1's exec loses NOFILE where a cgroup migration takes no RCU grace period "
                         "(favordynmods, kept by Linux 6.18 until reboot): its prlimit of the process "
                         "then lands before the Go runtime raises the soft limit (bench/README.md, "
                         "seventh pass)")
        assert got == str(SOFT)
    finally:
        d.docker_ok("rm", "-f", cid)


def test_execs_keep_their_limit_beside_starts(d: Daemon) -> None:
    """Execs right after a start and while other containers start. The daemon keeps the kernel's
    cgroup migration lock warm for starts (backends/cgroup_warmup.py), and runc 1.1's exec loses
    NOFILE where that lock is warm, whoever warmed it: the warm-up, a start's runc create or another
    exec (backends/migration_gate.py)."""
    cid = d.docker_ok("run", "-d", "busybox", "sleep", "60").strip()
    # Soft and hard alike: its execs cannot lose the limit, so they take the warm path beside
    # starts, and must not warm the lock under the others' (backends/oci_cli.go_may_raise_nofile).
    equal = d.docker_ok("run", "-d", "--ulimit", "nofile=4096:4096", "busybox", "sleep", "60").strip()
    stop = threading.Event()

    def start_containers() -> None:
        while not stop.is_set():
            d.docker("run", "--rm", "busybox", "true")

    starter = threading.Thread(target=start_containers)
    starter.start()
    try:
        got = [d.docker_ok("exec", cid, "sh", "-c", "ulimit -n").strip() for _ in range(12)]
        right_after = []
        for _ in range(4):
            other = d.docker_ok("run", "-d", "busybox", "sleep", "60").strip()
            right_after.append(d.docker_ok("exec", other, "sh", "-c", "ulimit -n").strip())
            d.docker_ok("rm", "-f", other)
        # Execs at once: each one's moves would warm the lock under the others'.
        together: list[str] = []
        warm: list[str] = []
        execs = [threading.Thread(target=lambda: together.append(
            d.docker_ok("exec", cid, "sh", "-c", "ulimit -n").strip())) for _ in range(6)]
        execs += [threading.Thread(target=lambda: warm.append(
            d.docker_ok("exec", equal, "sh", "-c", "ulimit -n").strip())) for _ in range(6)]
        for thread in execs:
            thread.start()
        for thread in execs:
            thread.join()
    finally:
        stop.set()
        starter.join()
        d.docker_ok("rm", "-f", cid, equal)
    assert got == [str(SOFT)] * len(got)
    assert right_after == [str(SOFT)] * len(right_after)
    assert together == [str(SOFT)] * 6
    assert warm == ["4096"] * 6


def _migrations_are_cheap() -> bool:
    """Whether moving a fresh process into a cgroup skips the RCU grace period (about 6-20 ms
    otherwise here): the kernel's favordynmods mode, which a reboot undoes."""
    parent = Path("/sys/fs/cgroup/pids")
    if not (parent / "cgroup.procs").exists():
        return False
    probe = parent / f"dyc-migration-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    proc = subprocess.Popen(["sleep", "5"])
    try:
        time.sleep(0.2)  # past any grace period another migration started
        began = time.perf_counter()
        (probe / "cgroup.procs").write_text(str(proc.pid))
        took = time.perf_counter() - began
    finally:
        proc.kill()
        proc.wait()
        for _ in range(50):
            try:
                probe.rmdir()
                break
            except OSError:
                time.sleep(0.02)
    return took < 0.001


def _cgroups_of(cid: str) -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").glob(f"*/dockyard/{cid}") if p.exists()] + \
        [p for p in Path("/sys/fs/cgroup").glob(f"dockyard/{cid}") if p.exists()]


def _runc_inits_under(root: Path) -> list[int]:
    """``runc init`` processes whose root or cwd is under ``root``."""
    found: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"runc" not in (proc / "cmdline").read_bytes():
                continue
            where = [str((proc / "cwd").readlink()), str((proc / "root").readlink())]
        except OSError:
            continue
        if any(w.startswith(str(root)) for w in where):
            found.append(int(proc.name))
    return found


def test_failed_starts_leave_nothing(d: Daemon) -> None:
    d.docker_ok("run", "--rm", "-p", "127.0.0.1::80", "busybox", "true")  # bridge made, baseline
    before = holdings(d)
    for command in (["/no/such/binary"], ["/etc/passwd"]):
        cid = d.docker_ok("create", "-p", "127.0.0.1::80", "busybox", *command).strip()
        code, _, err = d.docker("start", cid)
        assert code != 0 and err.strip(), "the start must fail with the runtime's reason"
        assert d.docker_ok("inspect", "-f", "{{.State.Status}}", cid).strip() in ("created", "exited")
        assert _cgroups_of(cid) == []
        d.docker_ok("rm", cid)
    assert _runc_inits_under(d.root) == []
    assert holdings(d).leaks_against(before) == {}
