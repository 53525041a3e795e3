"""Unpacked build contexts kept between builds, keyed by the digest of the tar the client sent.

The docker CLI's classic build sends the whole context every time, but an unchanged context is the
same tar byte for byte (moby's archive writer drops atime/ctime and truncates mtimes), so a
rebuild of unchanged sources can skip unpacking, ``.dockerignore`` and the content digests of its
COPY sources: it costs the transfer and one sha256 of the stream, taken while it is spooled.

An entry is immutable once made: builds only read the context (COPY reads it by descriptors,
``RUN --mount=type=bind`` binds it read-only and copies it for ``rw``). Entries in use are never
removed; the least recently used idle ones go when more than :data:`MAX_ENTRIES` are kept, and a
context larger than :data:`MAX_BYTES` is not kept at all. They live under the daemon's tmp dir,
which the daemon empties when it starts, and ``docker builder prune`` drops the idle ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.core.builder.context import Context

log = logging.getLogger(__name__)

MAX_ENTRIES = 2
ENTRY_PREFIX = "context-"  # of each kept context's directory
MAX_BYTES = 512 << 20  # of the context tar: bigger contexts are unpacked for their build only

# Fills a new context directory and returns the Dockerfile's text; raises when the context is bad.
Fill = Callable[[Path], Awaitable[str]]


@dataclass
class Unpacked:
    root: Path
    context: Context
    dockerfile_text: str
    users: int = 0
    kept: bool = field(default=False)


class ContextCache:
    def __init__(self, parent: Path) -> None:
        self._parent = parent
        self._entries: OrderedDict[tuple[str, str], Unpacked] = OrderedDict()
        self._removals: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def use(self, key: tuple[str, str] | None, size: int, fill: Fill) -> AsyncIterator[Unpacked]:
        """The unpacked context of ``key`` (tar digest, Dockerfile name): the kept one, or one that
        ``fill`` makes now (kept afterwards when ``key`` is given and the tar is small enough).
        A ``fill`` that fails leaves nothing behind."""
        entry = self._entries.get(key) if key is not None else None
        if entry is not None:
            self._entries.move_to_end(key)  # type: ignore[arg-type]  # not None when entry is
        else:
            entry = await self._make(fill)
            if key is not None and size <= MAX_BYTES and key not in self._entries:
                entry.kept = True
                self._entries[key] = entry
                self._evict()
        entry.users += 1
        try:
            yield entry
        finally:
            entry.users -= 1
            if not entry.kept and entry.users == 0:
                self._remove(entry)

    async def _make(self, fill: Fill) -> Unpacked:
        self._parent.mkdir(parents=True, exist_ok=True)
        root = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=ENTRY_PREFIX, dir=self._parent))
        try:
            text = await fill(root)
        except BaseException:
            self._remove_dir(root)
            raise
        return Unpacked(root, Context(root), text)

    def _evict(self) -> None:
        idle = [k for k, e in self._entries.items() if e.users == 0]  # oldest first
        for key in idle[:max(0, len(self._entries) - MAX_ENTRIES)]:
            entry = self._entries.pop(key)
            entry.kept = False
            self._remove(entry)

    def clear(self) -> None:
        """Drop every idle entry (``docker builder prune``); entries in use go when their build ends."""
        for key, entry in list(self._entries.items()):
            self._entries.pop(key)
            entry.kept = False
            if entry.users == 0:
                self._remove(entry)

    def _remove(self, entry: Unpacked) -> None:
        self._remove_dir(entry.root)

    def _remove_dir(self, root: Path) -> None:
        # A deep context takes a while to delete: after the reply, in a worker thread.
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(shutil.rmtree, root, ignore_errors=True))
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)

    async def drain(self) -> None:
        """Wait for the deletions under way (tests; shutdown)."""
        if self._removals:
            await asyncio.gather(*self._removals, return_exceptions=True)
