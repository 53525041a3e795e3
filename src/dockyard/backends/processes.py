"""Waiting for processes the daemon did not spawn directly, without polling.

``runc exec --detach`` (TTY and detached exec) leaves the exec'd process behind when runc exits. It
was runc's child (runc's init uses CLONE_PARENT), so the kernel reparents it to the nearest *child
subreaper* among runc's ancestors: the daemon, once it has called PR_SET_CHILD_SUBREAPER. That is the
only way to learn its exit status, the same reason containerd's shim and conmon are subreapers.

A side effect: conmon's daemonised main process (its parent exits at once) is reparented to us too,
so whoever waits on a conmon must reap it (:func:`reap`) or it lingers as a zombie.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
from pathlib import Path

from dockyard.errors import Internal

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Make this process inherit orphaned descendants (idempotent)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise Internal(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(errno)}")


def exit_code_of(status: int) -> int:
    """A wait status as Docker reports it: the exit code, or 128+signal when killed."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def reap(pid: int) -> int | None:
    """Collect ``pid`` if it is our exited child; its exit code, or None if not ours or still running."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return exit_code_of(status) if done == pid else None


async def until_exit(pid: int) -> None:
    """Return once ``pid`` has exited (or no longer exists), through a pidfd: no polling."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, ready)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


async def wait_child(pid: int) -> int:
    """The exit code of ``pid``, a child (or adopted orphan) of this process."""
    await until_exit(pid)
    code = reap(pid)
    if code is None:
        raise Internal(f"exit status of process {pid} is not available: not a child of the daemon")
    return code


def proc_stat(pid: int, proc: Path = Path("/proc")) -> tuple[str, list[str]] | None:
    """``pid``'s command name and the fields of /proc/<pid>/stat after it (the state letter
    first, the start time at index 19); None when there is no such process."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The fields follow the parenthesised command name, which may itself hold spaces.
    return stat[stat.find("(") + 1: stat.rfind(")")], stat[stat.rfind(")") + 2:].split()


def alive(pid: int, *, comm: str | None = None) -> bool:
    """True while ``pid`` runs (zombies count as dead); ``comm`` guards against a reused pid."""
    stat = proc_stat(pid)
    if stat is None:
        return False
    name, fields = stat
    if fields[:1] in (["Z"], ["X"]):
        reap(pid)
        return False
    return comm is None or name == comm


def _children() -> list[int]:
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.extend(int(p) for p in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return pids


def _adopted_zombie(pid: int) -> bool:
    """A zombie that lived in a nested pid namespace: a container process we adopted as subreaper.

    The runtime CLIs and conmon run in our own pid namespace (one NSpid entry), so their exit
    statuses, which asyncio's child watcher collects, are never taken here."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields.get("State", "").strip().startswith("Z") and len(fields.get("NSpid", "").split()) > 1


def reap_adopted_zombies() -> int:
    """Reap exited container processes nobody waits for (a failed exec's child, for one).

    A zombie left in a container's pid namespace keeps the namespace's init from finishing its
    exit, so the container would never stop. Returns how many were reaped."""
    reaped = 0
    for pid in _children():
        if _adopted_zombie(pid) and reap(pid) is not None:
            reaped += 1
    return reaped
