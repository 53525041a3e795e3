"""One layer blob from a registry into the content store: streamed, verified, resumed.

The bytes are hashed as they arrive (blob digest and DiffID in one pass, see :mod:`verify`) and
written to an ingest file; only a blob whose digest matches is renamed into place. A connection
that drops mid-blob is resumed from the last byte received (a Range request), a few times.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass

from dockyard.core.content import BlobWriter, ContentStore
from dockyard.core.distribution.model import Descriptor, Repository
from dockyard.core.distribution.progress import ProgressEvent, ProgressSink, short_id
from dockyard.core.distribution.registry import Registry
from dockyard.core.distribution.verify import LayerHasher
from dockyard.errors import InvalidArgument, Unavailable

log = logging.getLogger(__name__)

ATTEMPTS = 5
_FLUSH = 1 << 20
_REPORT_SECONDS = 0.1


@dataclass
class _Transfer:
    writer: BlobWriter
    hasher: LayerHasher
    last_report: float = 0.0


class Downloader:
    def __init__(self, *, registry: Registry, content: ContentStore, retry_delay: float = 0.5) -> None:
        self._registry = registry
        self._content = content
        self._retry_delay = retry_delay

    async def download(self, repo: Repository, desc: Descriptor, sink: ProgressSink) -> str:
        """Store ``desc``'s blob; return its DiffID. Nothing is stored when it fails."""
        with ExitStack() as stack:
            writer = await asyncio.to_thread(stack.enter_context, self._content.writer(desc.digest))
            transfer = _Transfer(writer, LayerHasher())
            await self._transfer(repo, desc, transfer, sink)
            if transfer.hasher.digest != desc.digest or transfer.hasher.size != desc.size:
                raise InvalidArgument(f"filesystem layer verification failed for digest {desc.digest}")
            sink(ProgressEvent("Verifying Checksum", short_id(desc.digest)))
            # Leaving the block commits the blob (fsync + rename): blocking, so in a thread.
            closing = stack.pop_all()
        commit = asyncio.ensure_future(asyncio.to_thread(closing.close))
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            # The thread renames the blob into place whatever happens to this task (a sibling
            # layer failed): let it finish, so the caller's undo, which runs next, removes it.
            await commit
            raise
        return transfer.hasher.diff_id

    async def _transfer(self, repo: Repository, desc: Descriptor, transfer: _Transfer,
                        sink: ProgressSink) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await self._stream(repo, desc, transfer, sink)
                return
            except Unavailable as exc:
                if attempt == ATTEMPTS:
                    raise
                log.warning("download of %s broke at %d bytes (%s); retrying (attempt %d)",
                            desc.digest, transfer.hasher.size, exc, attempt + 1)
                sink(ProgressEvent(f"Retrying in {attempt} second{'s' if attempt > 1 else ''}",
                                   short_id(desc.digest)))
                await asyncio.sleep(self._retry_delay * attempt)

    async def _stream(self, repo: Repository, desc: Descriptor, transfer: _Transfer,
                      sink: ProgressSink) -> None:
        buffer = bytearray()
        try:
            async for chunk in self._registry.fetch_blob(repo, desc.digest, transfer.hasher.size):
                buffer += chunk
                if transfer.hasher.size + len(buffer) > desc.size:
                    raise InvalidArgument(f"filesystem layer verification failed for digest {desc.digest}")
                if len(buffer) >= _FLUSH:
                    await asyncio.to_thread(_write, transfer, bytes(buffer))
                    buffer.clear()
                    self._report(desc, transfer, sink)
        finally:
            # What arrived before a break is kept: the next attempt resumes after it.
            if buffer:
                await asyncio.to_thread(_write, transfer, bytes(buffer))
        self._report(desc, transfer, sink, force=True)

    def _report(self, desc: Descriptor, transfer: _Transfer, sink: ProgressSink, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - transfer.last_report >= _REPORT_SECONDS:
            transfer.last_report = now
            sink(ProgressEvent("Downloading", short_id(desc.digest), transfer.hasher.size, desc.size))


def _write(transfer: _Transfer, data: bytes) -> None:
    transfer.writer.write(data)
    transfer.hasher.update(data)
