"""Keeping the kernel's cgroup migration lock warm while a runtime moves processes into cgroups.

Moving a process into a cgroup takes the kernel's host-wide ``cgroup_threadgroup_rwsem`` for
writing. In its default, read-optimised mode, the first writer after a quiet spell waits for an
RCU grace period before it gets the lock (7 ms here, up to 15); a writer that comes within a grace
period of the last one does not wait (0.1 ms). ``runc create`` and ``runc exec`` move their process
into each controller, so every start paid one grace period inside the runtime, on the critical path.

While a start is in flight, :class:`MigrationWarmup` has a thread of the daemon move itself into
the cgroup it is already in, every :data:`PERIOD`: a move that changes nothing, but takes the lock
all the same. Its first move waits out the grace period alongside conmon's and runc's own start-up,
and runc's moves then find the lock ready. The kernel's mode stays the default one (the
``favordynmods`` mount option would make every move cheap, but host-wide and, on Linux 6.18, until
reboot: bench/README.md, fifth pass).

``runc exec`` must find the lock cold. runc 1.1 (built with Go 1.19) moves the exec'd process into
the container's cgroups and then sets its limits from outside (prlimit); the process, still
``runc init``, raises its own soft RLIMIT_NOFILE to the hard limit when the Go runtime starts. With
cold moves the prlimit lands after that and wins; with warm ones it can land before, and the
process runs with the hard limit as its soft one (tests/reliability/test_limits.py). Every move
warms the lock, whoever makes it: the warm-up's, a start's ``runc create``, another exec's. So an
exec, in :meth:`cold`, takes the :class:`MigrationGate` alone (starts, in :meth:`warm`, share
it) and then waits until the last move is :data:`QUIET` old; the warm-up pauses meanwhile. So
that an exec right after a start waits little, a start's warm-up ends as soon as runc has moved
the init into its first cgroup (:meth:`moved_into`): the lock is warm for runc's remaining moves
by then. An exec whose soft NOFILE limit is its hard one cannot come out wrong: it goes in
:meth:`warm` as a start does, and its own moves find the lock warm (``oci_cli.go_may_raise_nofile``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.backends.migration_gate import MigrationGate

log = logging.getLogger(__name__)

# The lock stays warm for 15 ms after a move here (cold again from 20 ms): a move every 5 ms
# keeps it warm while held. Each move takes cgroup_mutex and makes the host's forks wait a few
# microseconds, so not more often than that.
PERIOD = 0.005
# The lock goes back to its read-optimised mode one or two grace periods after its last writer
# (measured on a quiet host: still warm 15 ms after, cold from 20 ms). Grace periods grow while
# containers start and stop beside the exec: with 30 ms, tests/reliability/test_limits.py lost
# NOFILE in about one run out of seven; with 60 ms, in none out of 24.
QUIET = 0.06


class MigrationWarmup:
    """Holds the migration lock warm while any caller is inside :meth:`held` and none inside
    :meth:`cold`; keeps starts and runc execs apart."""

    def __init__(self, target: Path | None, period: float = PERIOD,
                 mounts: _CgroupMounts | None = None) -> None:
        # ``target``: the ``cgroup.threads`` (v2) or ``tasks`` (v1) file of the daemon's own cgroup.
        self._target = target
        self._period = period
        self._holders: list[_Hold] = []
        self._cold = 0
        self._last_warm = 0.0  # time.monotonic() of the last move or hold, warm-up's or runc's
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._mounts = mounts or _CgroupMounts()
        self._gate = MigrationGate()

    @classmethod
    def of_this_process(cls, proc: Path = Path("/proc")) -> MigrationWarmup:
        mounts = _CgroupMounts.read(proc)
        return cls(own_thread_file(proc, mounts), mounts=mounts)

    def moved_into(self, cgroups_path: str) -> Callable[[], bool] | None:
        """Whether some process has been moved into this cgroupfs path (config.json's
        ``cgroupsPath``): its first controller in runc's order (cpuset), or the cgroup2 one."""
        relative = cgroups_path.strip("/")
        if not relative:
            return None
        files = [mount / relative / "cgroup.procs"
                 for mount in (self._mounts.v1.get("cpuset"), self._mounts.v2) if mount is not None]
        if not files:
            return None

        def moved() -> bool:
            for file in files:
                try:
                    if file.read_bytes().strip():
                        return True
                except OSError:
                    continue  # not made yet
            return False
        return moved

    @property
    def enabled(self) -> bool:
        return self._target is not None

    @asynccontextmanager
    async def warm(self, until: Callable[[], bool] | None = None) -> AsyncIterator[None]:
        """A runtime moving processes into cgroups where a warm lock does no harm (a start's
        create, an exec whose limits cannot race): beside each other, after the cold execs before
        it, warm while :meth:`held` says so."""
        async with self._gate.shared():
            with self.held(until):
                yield

    @contextmanager
    def held(self, until: Callable[[], bool] | None = None) -> Iterator[None]:
        """Keep the lock warm for the body, or only until ``until()`` says the moves it is for
        are under way."""
        hold = _Hold(until)
        with self._changed:
            if self._target is not None:
                self._holders.append(hold)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="cgroup-warmup",
                                                    daemon=True)
                    self._thread.start()
                self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                if hold in self._holders:
                    self._holders.remove(hold)
                # The runtime's own moves, inside the body, warm or not.
                self._last_warm = time.monotonic()

    @asynccontextmanager
    async def cold(self) -> AsyncIterator[None]:
        """Alone in the gate, wait until the lock has had time to go cold; keep the warm-up off
        meanwhile."""
        async with self._gate.exclusive():
            with self._changed:
                self._cold += 1
            try:
                while (wait := self._quiet_in()) > 0:
                    await asyncio.sleep(wait)
                yield
            finally:
                with self._changed:
                    self._cold -= 1
                    self._last_warm = time.monotonic()  # the exec's own moves
                    self._changed.notify()

    def _quiet_in(self) -> float:
        with self._changed:
            return self._last_warm + QUIET - time.monotonic()

    def _run(self) -> None:
        assert self._target is not None
        tid = str(threading.get_native_id()).encode()
        try:
            fd = os.open(self._target, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            self._disable(exc)
            return
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(self._wanted)
                    # Stamped before the move as well as after: an exec that starts waiting
                    # while the move blocks must see it.
                    self._last_warm = time.monotonic()
                try:
                    os.write(fd, tid)
                except OSError as exc:
                    # Our cgroup went away or the host refuses: starts work as before, just colder.
                    self._disable(exc)
                    return
                with self._changed:
                    self._last_warm = time.monotonic()
                    waiting = [(hold, hold.until) for hold in self._holders if not hold.done]
                for hold, until in waiting:
                    if until is not None and until():
                        hold.done = True
                time.sleep(self._period)
        finally:
            os.close(fd)

    def _wanted(self) -> bool:
        return not self._cold and any(not hold.done for hold in self._holders)

    def _disable(self, exc: OSError) -> None:
        log.info("cgroup migration warm-up off (%s: %s)", self._target, exc)
        with self._changed:
            self._target = None
            self._thread = None


class _Hold:
    def __init__(self, until: Callable[[], bool] | None) -> None:
        self.until = until
        self.done = False


@dataclass
class _CgroupMounts:
    v2: Path | None = None
    v1: dict[str, Path] = field(default_factory=dict)  # controller or name=… → mount point

    @classmethod
    def read(cls, proc: Path) -> _CgroupMounts:
        found = cls()
        try:
            lines = (proc / "self" / "mounts").read_text().splitlines()
        except OSError:
            return found
        for line in lines:
            fields = line.split()
            if len(fields) < 4:
                continue
            if fields[2] == "cgroup2" and found.v2 is None:
                found.v2 = Path(fields[1])
            elif fields[2] == "cgroup":
                for option in fields[3].split(","):
                    found.v1.setdefault(option, Path(fields[1]))
        return found


def own_thread_file(proc: Path = Path("/proc"), mounts: _CgroupMounts | None = None) -> Path | None:
    """The file a thread of ours writes its id to, to move into the cgroup it is already in:
    ``cgroup.threads`` on the cgroup2 mount, else ``tasks`` of a v1 hierarchy. None when neither
    is there and writable (no cgroups, or not root)."""
    try:
        memberships = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return None
    mounts = mounts or _CgroupMounts.read(proc)
    v2_mount, v1_mounts = mounts.v2, mounts.v1
    candidates: list[Path] = []
    for line in memberships:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        relative = path.lstrip("/")
        if hierarchy == "0" and not controllers and v2_mount is not None:
            candidates.insert(0, v2_mount / relative / "cgroup.threads")
        elif controllers:
            mount = v1_mounts.get(controllers.split(",")[0])
            if mount is not None:
                candidates.append(mount / relative / "tasks")
    for candidate in candidates:
        if os.access(candidate, os.W_OK):
            return candidate
    return None
