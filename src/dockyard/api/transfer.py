"""Large bodies in and out: tars are spooled to the daemon's tmp dir, never held in memory."""

from __future__ import annotations

import asyncio
import errno
import logging
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Protocol

from dockyard.api import web
from dockyard.api.routing import engine
from dockyard.errors import NoSpace

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


@contextmanager
def scratch_dir(request: web.Request, prefix: str) -> Iterator[Path]:
    """A private directory under the daemon's tmp dir, removed afterwards."""
    tmp = engine(request).config.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=prefix, dir=tmp) as path:
        yield Path(path)


@asynccontextmanager
async def body_file(request: web.Request, prefix: str = "upload-",
                    digest: Hasher | None = None) -> AsyncIterator[Path]:
    """The request body streamed into a temporary file, removed afterwards; ``digest`` (a hashlib
    object) is fed every byte on the way, in the writing thread."""
    with scratch_dir(request, prefix) as tmp:
        path = tmp / "body.tar"
        try:
            with path.open("wb") as out:

                def write(chunk: bytes) -> None:
                    out.write(chunk)
                    if digest is not None:
                        digest.update(chunk)  # hashlib lets go of the GIL for a chunk this size

                async for chunk in request.content.iter_chunked(CHUNK):
                    await asyncio.to_thread(write, chunk)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # A full disk is the host's state, not a bug: a clean 500 as dockerd's (Go's path error
            # text), no traceback, and the partial spool freed at once for whatever runs next.
            path.unlink(missing_ok=True)
            raise NoSpace(f"write {path}: no space left on device") from exc
        yield path


async def send_file(request: web.Request, path: Path, headers: dict[str, str] | None = None,
                    content_type: str = "application/x-tar") -> web.StreamResponse:
    """Stream ``path`` as the response body."""
    response = web.StreamResponse(status=200, headers={"Content-Type": content_type, **(headers or {})})
    await response.prepare(request)
    try:
        with path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                await response.write(chunk)
        await response.write_eof()
    except ConnectionResetError:
        # The client stopped reading (the docker CLI closes once it has the tar's last entry):
        # nothing is wrong with the daemon. The server's own write_eof of a returned response
        # meets the closed transport again and treats it as a disconnect, without a traceback.
        log.info("%s %s: client went away (499)", request.method, request.path)
    return response
