"""A full disk while an upload is spooled (issue 9): dockerd's clean 500, no traceback, no leftovers."""

from __future__ import annotations

import errno
import logging
import pathlib
from pathlib import Path
from typing import Any

import pytest
from app_client import AppClient

from dockyard.api.app import build_app
from dockyard.config import DaemonConfig
from dockyard.core.engine import Engine
from dockyard.core.system import SystemService


class _FullDisk:
    """A spool file that takes one chunk, then finds the disk full (as a small tmpfs would)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.chunks = 0

    def write(self, data: bytes) -> int:
        self.chunks += 1
        if self.chunks > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return int(self._real.write(data))

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._real.close()


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    spooled: list[Path] = []
    real_open = pathlib.Path.open

    def fake_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, mode, *args, **kwargs)
        if self.name == "body.tar" and "w" in mode:
            spooled.append(self)
            return _FullDisk(handle)
        return handle

    monkeypatch.setattr(pathlib.Path, "open", fake_open)
    return spooled


async def test_a_full_disk_while_spooling_an_upload_is_a_clean_500(
        tmp_path: Path, full_disk: list[Path], caplog: pytest.LogCaptureFixture) -> None:
    config = DaemonConfig(data_root=tmp_path / "root", exec_root=tmp_path / "run")
    unused: Any = None
    engine = Engine(config=config, images=unused, containers=unused, system=SystemService(config),
                    volumes=unused)
    caplog.set_level(logging.INFO)
    async with AppClient(build_app(engine)) as client:
        resp = await client.post("/v1.50/images/load", data=b"x" * (3 << 20),
                                 headers={"Content-Type": "application/x-tar"})
        body = await resp.json()
    assert resp.status == 500
    assert body["message"].endswith("body.tar: no space left on device"), body
    assert full_disk and not full_disk[0].exists(), "the partial spool file was left behind"
    assert not list(config.tmp_dir.iterdir())
    assert not [r for r in caplog.records if r.exc_info], "logged with a traceback"
    assert any("no space left on device" in r.getMessage() for r in caplog.records)
