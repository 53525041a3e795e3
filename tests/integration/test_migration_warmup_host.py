"""The cgroup migration warm-up on this host's real cgroups: the kernel takes its moves, and they
leave every thread where it was."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dockyard.backends.cgroup_warmup import MigrationWarmup, own_thread_file

pytestmark = pytest.mark.root


def _memberships() -> dict[str, str]:
    return {task.name: (task / "cgroup").read_text() for task in Path("/proc/self/task").iterdir()}


def test_the_warm_up_moves_its_thread_where_it_already_is() -> None:
    target = own_thread_file()
    if target is None:
        pytest.skip("no writable cgroup file for this process")
    before = _memberships()
    warmup = MigrationWarmup(target)
    with warmup.held():
        time.sleep(0.05)
        during = _memberships()
    assert warmup.enabled  # every move was accepted
    assert len(during) == len(before) + 1  # its thread, in the process's cgroups
    for tid, membership in during.items():
        assert membership == next(iter(before.values())), tid
    for tid, membership in _memberships().items():
        assert membership == before.get(tid, membership), tid
