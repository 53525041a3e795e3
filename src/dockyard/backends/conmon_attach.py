"""conmon's attach socket as a :class:`dockyard.core.runtime.backend.StdioStream`.

conmon listens on ``<bundle>/attach``, an AF_UNIX SOCK_SEQPACKET socket. Each packet it sends is one
read of the container's output prefixed by one byte naming the pipe (conmon's ``stdpipe_t``:
2 stdout, 3 stderr; with a TTY everything arrives as stdout). What we send is written raw to the
container's stdin; our SHUT_WR makes conmon close that stdin unless it runs with
``--leave-stdin-open``. When the container exits conmon closes every attached socket.

``sun_path`` holds only 108 bytes and bundles can live deep under a data root, so we connect
through ``/proc/self/fd/<dirfd>/attach`` (the trick conmon itself uses to bind the socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from pathlib import Path

from dockyard.errors import NotFound, WrongState

log = logging.getLogger(__name__)

_CONMON_STDOUT, _CONMON_STDERR = 2, 3
_PACKET = 64 * 1024
# conmon reads stdin packets into a 32 KiB buffer; smaller packets never get cut.
_STDIN_PACKET = 8 * 1024


def connect_attach(bundle: Path, container_id: str) -> socket.socket:
    """A connected, non-blocking socket to the container's attach endpoint."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        dirfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError as exc:
        sock.close()
        raise NotFound(f"No such container: {container_id}") from exc
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/attach")
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        sock.close()
        raise WrongState(f"Container {container_id} is not running") from exc
    finally:
        os.close(dirfd)
    sock.setblocking(False)
    return sock


class ConmonAttach:
    """One client attached to a container through conmon."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._ended = False
        self._closed = False

    async def read(self) -> tuple[int, bytes] | None:
        loop = asyncio.get_running_loop()
        while not self._ended and not self._closed:
            try:
                packet = await loop.sock_recv(self._sock, _PACKET)
            except OSError as exc:
                log.debug("attach socket read: %s", exc)
                packet = b""
            if not packet:
                self._ended = True
                break
            pipe, data = packet[0], packet[1:]
            if not data:
                continue
            return (2 if pipe == _CONMON_STDERR else 1), data
        return None

    async def write(self, data: bytes) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        for start in range(0, len(data), _STDIN_PACKET):
            try:
                await loop.sock_sendall(self._sock, data[start:start + _STDIN_PACKET])
            except OSError as exc:
                log.debug("attach socket write: %s", exc)
                return

    async def close_stdin(self) -> None:
        if not self._closed:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._sock.close()
