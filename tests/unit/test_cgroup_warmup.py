"""The cgroup migration warm-up (backends/cgroup_warmup.py) against a plain file: when its thread
moves, when it pauses for an exec, and which cgroup file it picks."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from dockyard.backends import cgroup_warmup
from dockyard.backends.cgroup_warmup import MigrationWarmup, own_thread_file
from dockyard.backends.oci_cli import go_may_raise_nofile


def _moves(target: Path) -> int:
    return target.stat().st_size


def test_the_thread_moves_only_while_held(tmp_path: Path) -> None:
    target = tmp_path / "cgroup.threads"
    target.touch()
    warmup = MigrationWarmup(target, period=0.001)
    with warmup.held():
        time.sleep(0.05)
        assert _moves(target) > 0
    time.sleep(0.01)  # a move under way when the hold ended
    after = _moves(target)
    time.sleep(0.05)
    assert _moves(target) == after
    # What it writes is its own thread id, again and again (the kernel reads each write whole).
    assert re.fullmatch(r"(\d+)\1*", target.read_text())
    with warmup.held():
        time.sleep(0.02)
    assert _moves(target) > after  # woken again by the next hold


def test_an_exec_waits_for_the_start_before_it_and_quiet(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroup_warmup, "QUIET", 0.04)
    target = tmp_path / "tasks"
    target.touch()
    warmup = MigrationWarmup(target, period=0.001)

    async def exec_during_a_start() -> tuple[float, float, int, int]:
        async def start() -> float:
            async with warmup.warm():
                await asyncio.sleep(0.05)
            return time.monotonic()

        started = asyncio.create_task(start())
        await asyncio.sleep(0.01)
        async with warmup.cold():
            inside = time.monotonic()
            before = _moves(target)
            await asyncio.sleep(0.03)
            during = _moves(target) - before
        start_ended = await started
        async with warmup.warm():
            await asyncio.sleep(0.02)
        return start_ended, inside, during, _moves(target) - before - during

    start_ended, inside, during, resumed = asyncio.run(exec_during_a_start())
    assert inside - start_ended >= 0.035  # the start's own moves, then quiet
    assert during == 0
    assert resumed > 0


def test_a_start_after_an_exec_waits_for_it(tmp_path: Path) -> None:
    """Its runc create would warm the lock under the exec's runc."""
    warmup = MigrationWarmup(None)

    async def start_during_an_exec() -> list[str]:
        events: list[str] = []

        async def exec_() -> None:
            async with warmup.cold():
                events.append("exec in")
                await asyncio.sleep(0.03)
                events.append("exec out")

        async def start() -> None:
            await asyncio.sleep(0.01)
            async with warmup.warm():
                events.append("start in")

        await asyncio.gather(exec_(), start())
        return events

    assert asyncio.run(start_during_an_exec()) == ["exec in", "exec out", "start in"]


def test_execs_go_one_at_a_time_and_first_come_first_served(tmp_path: Path) -> None:
    """Starts share the gate; an exec waits for the starts before it, and the start after it
    waits for the exec, so that a stream of starts cannot keep an exec out."""
    warmup = MigrationWarmup(None)

    async def mixed() -> list[str]:
        events: list[str] = []

        async def start(name: str, delay: float, length: float) -> None:
            await asyncio.sleep(delay)
            async with warmup.warm():
                events.append(f"{name} in")
                await asyncio.sleep(length)
                events.append(f"{name} out")

        async def exec_(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            async with warmup.cold():
                events.append(f"{name} in")
                await asyncio.sleep(0.01)
                events.append(f"{name} out")

        await asyncio.gather(start("s1", 0, 0.03), start("s2", 0.005, 0.01), exec_("e1", 0.01),
                             exec_("e2", 0.015), start("s3", 0.02, 0.01))
        return events

    events = asyncio.run(mixed())
    assert events.index("s2 in") < events.index("s1 out")  # starts share
    assert events.index("e1 in") > max(events.index("s1 out"), events.index("s2 out"))
    assert events.index("e2 in") > events.index("e1 out")
    assert events.index("s3 in") > events.index("e2 out")


def test_an_exec_long_after_the_last_start_does_not_wait(tmp_path: Path) -> None:
    target = tmp_path / "tasks"
    target.touch()
    warmup = MigrationWarmup(target)

    async def exec_alone() -> float:
        asked = time.monotonic()
        async with warmup.cold():
            return time.monotonic() - asked

    assert asyncio.run(exec_alone()) < cgroup_warmup.QUIET


def test_a_refused_move_turns_the_warm_up_off(tmp_path: Path) -> None:
    warmup = MigrationWarmup(tmp_path)  # a directory: the open fails as the kernel's refusal would
    with warmup.held():
        time.sleep(0.02)
    assert not warmup.enabled
    with warmup.held():  # and holding it goes on working
        pass


def _fake_proc(tmp_path: Path, mounts: str, cgroup: str) -> Path:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mounts").write_text(mounts)
    (proc / "self" / "cgroup").write_text(cgroup)
    return proc


def test_the_cgroup2_threads_file_comes_first(tmp_path: Path) -> None:
    (tmp_path / "unified" / "user.slice").mkdir(parents=True)
    (tmp_path / "unified" / "user.slice" / "cgroup.threads").touch()
    (tmp_path / "pids" / "user.slice").mkdir(parents=True)
    (tmp_path / "pids" / "user.slice" / "tasks").touch()
    proc = _fake_proc(tmp_path,
                      f"cgroup {tmp_path}/pids cgroup rw,relatime,pids 0 0\n"
                      f"cgroup2 {tmp_path}/unified cgroup2 rw,relatime 0 0\n",
                      "3:pids:/user.slice\n0::/user.slice\n")
    assert own_thread_file(proc) == tmp_path / "unified" / "user.slice" / "cgroup.threads"


def test_a_v1_tasks_file_without_cgroup2(tmp_path: Path) -> None:
    (tmp_path / "systemd" / "a").mkdir(parents=True)
    (tmp_path / "systemd" / "a" / "tasks").touch()
    proc = _fake_proc(tmp_path, f"cgroup {tmp_path}/systemd cgroup rw,xattr,name=systemd 0 0\n",
                      "1:name=systemd:/a\n")
    assert own_thread_file(proc) == tmp_path / "systemd" / "a" / "tasks"


def test_no_cgroups_no_warm_up(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, "proc /proc proc rw 0 0\n", "0::/\n")
    assert own_thread_file(proc) is None
    assert not MigrationWarmup.of_this_process(proc).enabled


def test_a_hold_ends_once_the_runtime_has_moved_a_process(tmp_path: Path) -> None:
    (tmp_path / "cpuset" / "dockyard" / "c1").mkdir(parents=True)
    procs = tmp_path / "cpuset" / "dockyard" / "c1" / "cgroup.procs"
    proc = _fake_proc(tmp_path, f"cgroup {tmp_path}/cpuset cgroup rw,cpuset 0 0\n", "1:cpuset:/\n")
    (tmp_path / "cpuset" / "tasks").touch()
    warmup = MigrationWarmup.of_this_process(proc)
    target = tmp_path / "cpuset" / "tasks"
    moved = warmup.moved_into("/dockyard/c1")
    assert moved is not None and not moved()  # no cgroup yet, as before runc makes it
    with warmup.held(until=moved):
        time.sleep(0.02)
        assert _moves(target) > 0
        procs.write_text("4242\n")  # runc's first move
        time.sleep(0.02)
        after = _moves(target)
        time.sleep(0.03)
        assert _moves(target) == after  # the hold is still open, yet the warm-up is done with it
    assert warmup.moved_into("") is None


@pytest.mark.parametrize(("rlimits", "races"), [
    ([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 20000}], True),
    ([{"type": "RLIMIT_NPROC", "soft": 10, "hard": 20},
      {"type": "RLIMIT_NOFILE", "soft": 20000, "hard": 20000}], False),
    ([{"type": "RLIMIT_NPROC", "soft": 10, "hard": 20}], False),
    ([], False),
])
def test_only_an_exec_whose_soft_nofile_is_below_its_hard_one_waits_for_cold(
        rlimits: list[dict[str, object]], races: bool) -> None:
    # Go's start-up raise of the soft limit to the hard one changes nothing when they are equal,
    # and runc sets no NOFILE it was not given: those execs skip the gate and its quiet wait.
    assert go_may_raise_nofile({"args": ["true"], "rlimits": rlimits}) is races
