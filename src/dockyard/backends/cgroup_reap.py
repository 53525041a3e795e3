"""Killing what a failed start left in a container's cgroup, then removing the cgroup.

A start that fails between the runtime's ``create`` and its state file (a monitor killed, a
timeout) leaves ``runc init`` blocked on its sync pipe, holding the container's netns and mounted
rootfs, and the runtime no longer knows the container: ``delete --force`` finds nothing. The cgroup
still does: every process in it is ours to kill, and the empty directories ours to remove, in each
v1 hierarchy or the one v2 tree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_EMPTY_DEADLINE_SECONDS = 2.0


def _cgroup_dirs(cgroups_path: str, root: Path) -> list[Path]:
    relative = cgroups_path.strip("/")
    if not relative or ".." in relative.split("/"):
        return []
    if (root / "cgroup.controllers").exists():
        candidates = [root / relative]
    else:
        candidates = [hierarchy / relative for hierarchy in root.iterdir() if hierarchy.is_dir()]
        unified = root / "unified" / relative
        candidates += [unified] if unified not in candidates else []
    return [c for c in candidates if c.is_dir() and not c.is_symlink()]


def _pids(directory: Path) -> set[int]:
    pids: set[int] = set()
    for procs in directory.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(line) for line in procs.read_text().split())
    return pids


def reap_cgroup(cgroups_path: str, root: Path = CGROUP_ROOT) -> int:
    """SIGKILL every process under ``cgroups_path`` and remove its directories (deepest first).
    Returns how many processes were killed; a cgroup that does not exist is nothing to do."""
    dirs = _cgroup_dirs(cgroups_path, root)
    killed: set[int] = set()
    deadline = time.monotonic() + _EMPTY_DEADLINE_SECONDS
    while dirs and time.monotonic() < deadline:
        pids = set().union(*(_pids(d) for d in dirs))
        if not pids:
            break
        for pid in pids - killed:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed |= pids
        time.sleep(0.02)
    for directory in dirs:
        for sub in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            directory.rmdir()
    if killed:
        log.info("killed %d leftover processes in cgroup %s", len(killed), cgroups_path)
    return len(killed)
