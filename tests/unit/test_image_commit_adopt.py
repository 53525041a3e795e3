"""A build step's snapshot becomes its layer's snapshot (no second unpack), and a commit whose
layer tar is a temporary file moves it into the store; both leave nothing behind on failure."""

from __future__ import annotations

import asyncio
import os
import tarfile
from pathlib import Path

import pytest
from test_images_service import make_service, small_tar, store_state

from dockyard.core.images.commit import CommitOptions
from dockyard.core.images.service import ImageService
from dockyard.core.layers.diff import write_layer
from dockyard.errors import InvalidArgument


@pytest.fixture
def svc(tmp_path: Path):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path / "root")
    asyncio.run(service.open())
    yield service
    asyncio.run(service.close())


def _base(svc: ImageService, tmp_path: Path):  # type: ignore[no-untyped-def]
    base = small_tar(tmp_path / "base.tar", {"etc/base": "base\n", "gone": "x"})
    return asyncio.run(svc.import_(base, repo="base", tag="1", changes=[], message="", platform=None))


def test_step_snapshot_is_adopted_as_the_layer(svc: ImageService, tmp_path: Path) -> None:
    parent = _base(svc, tmp_path)
    snapshotter = svc._snapshotter  # noqa: SLF001 - the store's own snapshotter, as the builder uses it
    snapshotter.prepare("build-adopt1", parent.top_layer)
    upper = snapshotter.upper_dir("build-adopt1")
    (upper / "app").mkdir()
    (upper / "app" / "f").write_text("hello\n")
    marker = os.stat(upper / "app" / "f").st_ino
    layer = tmp_path / "root" / "tmp" / "layer.tar"
    write_layer(upper, snapshotter.parent_dirs("build-adopt1"), layer, full_tree=True)
    image = asyncio.run(svc.commit(parent, layer, CommitOptions(config={}), snapshot="build-adopt1"))
    assert not snapshotter.exists("build-adopt1")  # renamed, not copied
    assert not layer.exists()  # the temporary tar was moved into the content store
    key = "run-check"
    snapshotter.prepare(key, image.top_layer)
    lower = snapshotter.parent_dirs(key)[0]
    assert (lower / "app" / "f").read_text() == "hello\n"
    assert os.stat(lower / "app" / "f").st_ino == marker
    with tarfile.open(svc._content.path(image.config["rootfs"]["diff_ids"][-1])) as tar:  # noqa: SLF001
        assert "app/f" in tar.getnames()
    snapshotter.remove(key)


def test_a_stored_layer_leaves_the_step_snapshot_to_the_caller(svc: ImageService, tmp_path: Path) -> None:
    parent = _base(svc, tmp_path)
    snapshotter = svc._snapshotter  # noqa: SLF001
    layers = []
    for key in ("build-a", "build-b"):
        snapshotter.prepare(key, parent.top_layer)
        (snapshotter.upper_dir(key) / "same").write_text("same\n")
        os.utime(snapshotter.upper_dir(key) / "same", (1, 1))
        dest = tmp_path / "root" / "tmp" / f"{key}.tar"
        write_layer(snapshotter.upper_dir(key), snapshotter.parent_dirs(key), dest, full_tree=True)
        layers.append(asyncio.run(svc.commit(parent, dest, CommitOptions(config={}), snapshot=key)))
    assert layers[0].top_layer == layers[1].top_layer
    assert not snapshotter.exists("build-a")
    assert snapshotter.exists("build-b")  # the layer existed: the caller discards its snapshot
    snapshotter.remove("build-b")


def test_failed_commit_leaves_the_store_as_it_was(svc: ImageService, tmp_path: Path) -> None:
    parent = _base(svc, tmp_path)
    before = store_state(tmp_path / "root")
    bad = tmp_path / "root" / "tmp" / "bad.tar"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InvalidArgument):
        asyncio.run(svc.commit(parent, bad, CommitOptions(config={})))
    assert store_state(tmp_path / "root") == before
