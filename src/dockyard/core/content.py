"""The content store: blobs named by their digest (containerd's ``core/content``).

Every blob is written to a temporary file under ``ingest/`` while it is hashed, fsynced, then
renamed to ``blobs/sha256/<hex>``. A reader therefore never sees a partial blob, and a digest
mismatch leaves nothing behind. Everything here is blocking: services call it through
``asyncio.to_thread`` for anything large.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from dockyard.core.ids import Digest, hex_of, parse_digest
from dockyard.errors import InvalidArgument, NotFound

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class BlobWriter:
    """An open ingest: bytes written are hashed as they go; see :meth:`ContentStore.writer`."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._file = fileobj
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    @property
    def digest(self) -> Digest:
        return Digest("sha256:" + self._hash.hexdigest())


class ContentStore:
    """Content-addressed blobs under ``<root>/blobs/sha256``."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._blobs = root / "blobs" / "sha256"
        self._ingest = root / "ingest"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._ingest.mkdir(parents=True, exist_ok=True)

    @property
    def ingest_dir(self) -> Path:
        """Where temporary files live: same filesystem as the blobs, so commit is a rename."""
        return self._ingest

    def path(self, digest: str) -> Path:
        return self._blobs / hex_of(parse_digest(digest))

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise NotFound(f"content digest {digest}: not found") from exc

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"content digest {digest}: not found") from exc

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def list(self) -> list[Digest]:
        return [Digest("sha256:" + p.name) for p in self._blobs.iterdir() if len(p.name) == 64]

    def cleanup_ingest(self) -> None:
        """Remove temporary files left by a crash; called when the daemon opens the store."""
        for leftover in self._ingest.iterdir():
            log.info("removing leftover ingest %s", leftover.name)
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    @contextmanager
    def writer(self, expected: str | None = None) -> Iterator[BlobWriter]:
        """Stream a blob in; it is committed when the block ends without error."""
        fd, tmp_name = tempfile.mkstemp(dir=self._ingest, prefix="blob-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                writer = BlobWriter(f)
                yield writer
                f.flush()
                os.fsync(f.fileno())
            self._commit(tmp, writer.digest, expected)
        finally:
            tmp.unlink(missing_ok=True)

    def write(self, data: bytes, expected: str | None = None) -> Digest:
        with self.writer(expected) as w:
            w.write(data)
        return w.digest

    def ingest_file(self, path: Path, expected: str | None = None, *, move: bool = True,
                    known: str | None = None) -> Digest:
        """Hash ``path`` (unless the daemon wrote it and ``known`` is the sha256 it took on the
        way) and bring it in: renamed when ``move`` and on the same filesystem."""
        digest = Digest(known) if known is not None else _hash_file(path)
        _verify(digest, expected)
        if self.exists(digest):
            if move:
                path.unlink(missing_ok=True)
            return digest
        if move:
            try:
                os.replace(path, self.path(digest))
                return digest
            except OSError:
                pass  # another filesystem: copy below, then drop the source
        with self.writer(digest) as w, path.open("rb") as src:
            while chunk := src.read(_CHUNK):
                w.write(chunk)
        if move:
            path.unlink(missing_ok=True)
        return digest

    def _commit(self, tmp: Path, digest: Digest, expected: str | None) -> None:
        _verify(digest, expected)
        target = self.path(digest)
        if target.exists():
            return  # same digest, same bytes: nothing to do
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)


def _verify(digest: Digest, expected: str | None) -> None:
    if expected is not None and digest != expected:
        raise InvalidArgument(f"unexpected commit digest {digest}, expected {expected}: failed precondition")


def _hash_file(path: Path) -> Digest:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return Digest("sha256:" + h.hexdigest())
