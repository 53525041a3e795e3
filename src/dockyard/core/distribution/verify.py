"""Digest verification while a layer streams in: the blob digest and the DiffID in one pass.

Bytes arrive compressed (gzip, zstd) or not; the writer hashes them as stored (the registry's
*digest*) and hashes their decompressed form (the *DiffID* the image config names). A multi-member
gzip stream and multi-frame zstd are decompressed whole.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    import zstandard
else:
    from dockyard.imports import lazy

    zstandard = lazy("zstandard")  # on first use: an idle daemon need not hold it (dockyard/imports.py)

_CHUNK = 1 << 20


class _Decompressor(Protocol):
    def feed(self, data: bytes) -> bytes: ...


class _Gzip:
    def __init__(self) -> None:
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        out = b""
        while data:
            out += self._obj.decompress(data)
            data = self._obj.unused_data
            if data:  # a new gzip member starts
                self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return out


class _Zstd:
    def __init__(self) -> None:
        self._obj = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)

    def feed(self, data: bytes) -> bytes:
        return self._obj.decompress(data)


class _Plain:
    def feed(self, data: bytes) -> bytes:
        return data


def _sniff(head: bytes) -> _Decompressor:
    if head.startswith(b"\x1f\x8b"):
        return _Gzip()
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return _Zstd()
    return _Plain()


class LayerHasher:
    """Feed the stored bytes; read ``digest`` and ``diff_id`` at the end.

    The compression is sniffed from the first bytes, as Docker does, rather than trusted from the
    media type: registries in the wild mislabel layers.
    """

    def __init__(self) -> None:
        self._blob = hashlib.sha256()
        self._diff = hashlib.sha256()
        self._decompressor: _Decompressor | None = None
        self._head = b""
        self._error: InvalidArgument | None = None
        self.size = 0

    def update(self, data: bytes) -> None:
        self._blob.update(data)
        self.size += len(data)
        if self._decompressor is None:
            self._head += data
            if len(self._head) < 4:
                return
            self._decompressor = _sniff(self._head)
            data, self._head = self._head, b""
        if self._error is not None:
            return
        try:
            self._diff.update(self._decompressor.feed(data))
        except (zlib.error, zstandard.ZstdError) as exc:
            # Kept for later: a blob that does not match its digest is reported as that first.
            self._error = InvalidArgument(f"invalid compressed layer: {exc}")

    @property
    def digest(self) -> str:
        return "sha256:" + self._blob.hexdigest()

    @property
    def diff_id(self) -> str:
        if self._error is not None:
            raise self._error
        if self._decompressor is None and self._head:
            self._diff.update(self._head)
            self._head = b""
        return "sha256:" + self._diff.hexdigest()


def hash_layer_file(path: Path) -> tuple[str, str]:
    """(digest, DiffID) of a stored layer blob; blocking."""
    hasher = LayerHasher()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.digest, hasher.diff_id
