"""A data root that fills up while a request body is spooled: a clear error, nothing kept.

The daemon's roots live on a small tmpfs the test mounts; a ``docker load`` bigger than the
space left must fail with ``no space left on device`` (no traceback in the daemon's log), leave
the spool removed, and the daemon serving.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon


@pytest.fixture
def small_daemon() -> Iterator[Daemon]:
    mount = Path(tempfile.mkdtemp(prefix="dyfull-", dir="/tmp"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True, timeout=30)
    (mount / "d").mkdir()
    d = Daemon(root=mount / "d")
    try:
        d.start()
        yield d
    finally:
        d.cleanup()
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=30)
        os.rmdir(mount)


def test_a_full_disk_while_spooling_an_upload_is_a_clean_error(small_daemon: Daemon, tmp_path: Path) -> None:
    d = small_daemon
    big = tmp_path / "big.tar"
    with big.open("wb") as out:
        out.write(os.urandom(24 << 20))
    code, _, err = d.docker("load", "-i", str(big), timeout=120)
    assert code != 0 and "no space left on device" in err, err
    log = d.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    tmp = d.data_root / "tmp"
    spooled = [p for p in tmp.rglob("*") if p.is_file()] if tmp.exists() else []
    assert spooled == [], spooled
    assert d.docker_ok("version", "--format", "{{.Server.Version}}").strip()
