"""A long Dockerfile's metadata and build time must grow with its length, not its square (issue 9).

Every build step is an image whose config repeats the whole history (and diff IDs, Env, Labels);
stored in full, in ``dockyard.db`` and as a content blob, twice the steps cost four times the bytes
(250 LABEL steps: 4 MB, 500: 16 MB; 10,000: 12.8 GB). A step's config is stored as a delta against
its parent's (core/images/delta.py), so each step costs what it adds.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from conformance.daemon import Daemon


def _metadata_bytes(d: Daemon) -> int:
    blobs = sum(p.stat().st_size for p in (d.data_root / "content").rglob("*") if p.is_file())
    conn = sqlite3.connect(f"file:{d.data_root / 'dockyard.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT COALESCE(SUM(LENGTH(config)), 0) FROM images").fetchone()[0]
    finally:
        conn.close()
    return int(blobs) + int(rows)


def _build_cost(d: Daemon, tmp: Path, steps: int) -> float:
    context = tmp / f"ctx{steps}"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\n" + "".join(f"LABEL step{steps}_{i}=value\n" for i in range(steps)))
    before = _metadata_bytes(d)
    d.docker_ok("build", "-q", "-t", f"long{steps}", str(context), timeout=600)
    return (_metadata_bytes(d) - before) / steps


def test_metadata_per_step_does_not_grow_with_the_dockerfile(daemon_factory: object, tmp_path: Path) -> None:
    d = daemon_factory()  # type: ignore[operator]
    short, long = _build_cost(d, tmp_path, 150), _build_cost(d, tmp_path, 300)
    assert long / short < 1.4, f"{short:.0f} bytes a step for 150 steps, {long:.0f} for 300"


def _build_seconds(d: Daemon, tmp: Path, steps: int) -> float:
    context = tmp / f"time{steps}"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\n" + "".join(
        f"ENV T{steps}_{i}=v\n" if i % 2 else f"LABEL t{steps}_{i}=v\n" for i in range(steps)))
    started = _daemon_cpu(d)
    d.docker_ok("build", "-q", "-t", f"time{steps}", str(context), timeout=900)
    return _daemon_cpu(d) - started


def _daemon_cpu(d: Daemon) -> float:
    """The daemon's CPU seconds (its own and its reaped children's): unlike wall time, other load
    on the machine hardly moves it, so the ratio below measures the build's growth alone."""
    assert d.proc is not None
    fields = Path(f"/proc/{d.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_build_time_per_step_does_not_grow_with_the_dockerfile(daemon_factory: object,
                                                                tmp_path: Path) -> None:
    d = daemon_factory()  # type: ignore[operator]
    short, long = _build_seconds(d, tmp_path, 200), _build_seconds(d, tmp_path, 2000)
    # Linear is 10 times, quadratic 100. Each step still writes its whole config once (the image ID is
    # its digest), a cost that grows with the depth but is small next to a step's own: ~40 measured.
    assert long / short < 60, f"{short:.2f} CPU s for 200 steps, {long:.2f} for 2000"
    # What users see of the long build is whole: its history, each step's row naming that step's
    # image (found through the parent index, no parent's config read), and cache hits on a rebuild.
    history = d.docker_ok("history", "-q", "--no-trunc", "time2000").split()
    base = d.docker_ok("history", "-q", "--no-trunc", "busybox").split()
    assert len(history) == 2000 + len(base)
    assert "<missing>" not in history[:2000] and len(set(history[:2000])) == 2000
    rebuilt = d.docker_ok("build", "-t", "again2000", str(tmp_path / "time2000"), timeout=900)
    assert rebuilt.count("Using cache") == 2000
    ids = {d.docker_ok("inspect", "-f", "{{.Id}}", name) for name in ("again2000", "time2000")}
    assert len(ids) == 1
