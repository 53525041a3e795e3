"""Deferred removals (core/containers/teardown.py): they finish, failures are only logged, and what a
killed daemon left of one is removed at the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_containers_fakes import FakeMounter

from dockyard.core.containers.teardown import DeferredRemovals, remove_orphans
from dockyard.core.ids import ContainerId
from dockyard.errors import Unavailable


class Recorder:
    def __init__(self) -> None:
        self.forgotten: list[str] = []
        self.left: list[str] = []

    async def forget_orphan(self, container_id: ContainerId) -> None:
        self.forgotten.append(container_id)

    async def leave_orphan(self, container_id: str) -> None:
        self.left.append(container_id)


class Snapshots:
    def __init__(self) -> None:
        self.removed: list[str] = []

    def remove(self, key: str) -> None:
        self.removed.append(key)


async def test_orphans_lose_runtime_state_endpoints_mount_snapshot_and_files(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    (tmp_path / "orphan" / "rootfs").mkdir(parents=True)
    mounter, snapshots, owner = FakeMounter(), Snapshots(), Recorder()
    mounter.mounted.add(tmp_path / "orphan" / "rootfs")
    await remove_orphans(tmp_path, {"kept": object()}, runner=owner, networking=owner,
                         mounter=mounter, snapshotter=snapshots)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert owner.forgotten == ["orphan"] and owner.left == ["orphan"]
    assert snapshots.removed == ["orphan"] and not mounter.mounted


async def test_deferred_removals_finish_and_failures_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    removals, done = DeferredRemovals(), []

    async def work() -> None:
        await asyncio.sleep(0.01)
        done.append("a")

    async def fails() -> None:
        raise Unavailable("netlink: gone")

    removals.start("a" * 64, work)
    removals.start("b" * 64, fails)
    assert removals.pending() == 2
    await removals.settle()
    assert done == ["a"] and removals.pending() == 0
    assert "deferred removal of bbbbbbbbbbbb: netlink: gone" in caplog.text


async def test_an_unexpected_failure_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    removals = DeferredRemovals()

    async def breaks() -> None:
        raise RuntimeError("a bug")

    removals.start("c" * 64, breaks)
    await removals.settle()
    assert removals.pending() == 0
    assert "deferred removal of cccccccccccc" in caplog.text and "RuntimeError: a bug" in caplog.text
