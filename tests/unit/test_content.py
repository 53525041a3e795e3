"""The content store: blobs by digest, and a mismatch that leaves nothing behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dockyard.core.content import ContentStore
from dockyard.errors import InvalidArgument, NotFound


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_write_read_and_layout(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    digest = store.write(b"hello")
    assert digest == _digest(b"hello")
    assert (tmp_path / "blobs" / "sha256" / digest[7:]).read_bytes() == b"hello"
    assert store.read(digest) == b"hello"
    assert store.size(digest) == 5
    assert store.exists(digest)
    assert digest in store.list()
    store.delete(digest)
    assert not store.exists(digest)
    with pytest.raises(NotFound):
        store.read(digest)


def test_mismatch_leaves_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    with pytest.raises(InvalidArgument, match="unexpected commit digest"):
        store.write(b"hello", expected=_digest(b"other"))
    assert _files(tmp_path) == []


def test_writer_failure_leaves_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    with pytest.raises(RuntimeError), store.writer() as w:
        w.write(b"partial")
        raise RuntimeError("client went away")
    assert _files(tmp_path) == []


def test_ingest_file_moves_and_verifies(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "content")
    src = tmp_path / "blob"
    src.write_bytes(b"x" * 3_000_000)
    digest = store.ingest_file(src, _digest(b"x" * 3_000_000))
    assert not src.exists()
    assert store.size(digest) == 3_000_000
    bad = tmp_path / "bad"
    bad.write_bytes(b"y")
    with pytest.raises(InvalidArgument):
        store.ingest_file(bad, _digest(b"z"))
    assert store.list() == [digest]


def test_cleanup_ingest_removes_leftovers(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    (store.ingest_dir / "blob-crashed").write_bytes(b"half")
    ContentStore(tmp_path).cleanup_ingest()
    assert list(store.ingest_dir.iterdir()) == []
