"""Unpacked contexts kept between classic builds (core/builder/contexts.py), through the docker CLI:
a rebuild of the same context reuses it, and any changed byte, Dockerfile name or prune is seen."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from .daemon import Daemon


def _kept(daemon: Daemon) -> Path:
    return daemon.data_root / "tmp" / "build-contexts"


def _build(daemon: Daemon, ctx: Path, *args: str) -> str:
    return daemon.docker_ok("build", *args, str(ctx), timeout=120)


def _image_id(daemon: Daemon, ref: str) -> str:
    return json.loads(daemon.docker_ok("image", "inspect", ref))[0]["Id"]


def test_a_same_size_same_mtime_change_is_built_not_taken_from_the_kept_context(
        daemon: Daemon, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY data /data\n")
    data = ctx / "data"
    data.write_text(f"aaaa-{uuid.uuid4().hex}")
    tag = f"kept-{uuid.uuid4().hex[:8]}"
    _build(daemon, ctx, "-t", tag)
    first = _image_id(daemon, tag)
    assert any((d / "data").is_file() and (d / "data").read_text() == data.read_text()
               for d in _kept(daemon).iterdir())
    again = _build(daemon, ctx, "-t", tag)
    assert "Using cache" in again and _image_id(daemon, tag) == first
    stamp = data.stat()
    changed = "b" * len(data.read_text())
    data.write_text(changed)
    os.utime(data, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    _build(daemon, ctx, "-t", tag)
    assert _image_id(daemon, tag) != first
    assert daemon.docker_ok("run", "--rm", tag, "cat", "/data") == changed


def test_each_dockerfile_name_reads_its_own_file_from_the_same_context(
        daemon: Daemon, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    marker = uuid.uuid4().hex
    for which in "ab":
        (ctx / f"{which}.Dockerfile").write_text(f"FROM busybox\nLABEL which={which} marker={marker}\n")
    for which in "abab":  # one tar for all four builds; the second round finds it kept
        tag = f"kept-{which}-{marker[:8]}"
        _build(daemon, ctx, "-f", str(ctx / f"{which}.Dockerfile"), "-t", tag)
        labels = json.loads(daemon.docker_ok("image", "inspect", tag))[0]["Config"]["Labels"]
        assert labels == {"which": which, "marker": marker}


def test_builder_prune_drops_the_kept_contexts(daemon: Daemon, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM busybox\nLABEL x={uuid.uuid4().hex}\n")
    _build(daemon, ctx)
    assert any(_kept(daemon).iterdir())
    daemon.docker_ok("builder", "prune", "-f")
    deadline = time.monotonic() + 10  # deleted in a worker thread after the reply
    while any(_kept(daemon).iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_kept(daemon).iterdir())
