"""BuildKit sessions: the connections clients open with ``POST /session``, and what we ask of them.

On a session connection the build's client is the gRPC *server* (it exposes the services named in
its ``X-Docker-Expose-Session-Grpc-Method`` headers) and the daemon calls them. The one we use is
``moby.filesync.v1.FileSync/DiffCopy``: fsutil's protocol, the client sending, us receiving —

  client → STAT for each entry in walk order (their index is the entry's ID), then an empty STAT;
  us → REQ(ID) for each regular file we want; client → DATA(ID) chunks, an empty DATA at its end;
  us → FIN; client → FIN, and the call ends.

The entries become a tar (the builder's context format), written as the files arrive.
"""

from __future__ import annotations

import asyncio
import logging
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from dockyard.api.buildkit import wire_pb2 as pb
from dockyard.api.buildkit.grpc import NOT_FOUND, ClientCall, GrpcError
from dockyard.api.buildkit.h2conn import H2Channel, HeaderList
from dockyard.errors import InvalidArgument, Unavailable

log = logging.getLogger(__name__)

DIFFCOPY = "/moby.filesync.v1.FileSync/DiffCopy"
GET_SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret"
SESSION_WAIT = 30.0  # how long a Solve waits for its session's connection (BuildKit waits too)
_WINDOW = 32  # file requests in flight at once
_SPOOL = 1 << 20

# Go's os.FileMode bits, as fsutil sends them.
GO_DIR, GO_SYMLINK, GO_DEVICE, GO_PIPE, GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
GO_SETUID, GO_SETGID, GO_CHARDEV, GO_STICKY, GO_IRREGULAR = 1 << 23, 1 << 22, 1 << 21, 1 << 20, 1 << 19


@dataclass
class Session:
    id: str
    channel: H2Channel
    methods: frozenset[str]


@dataclass
class Sessions:
    """The open sessions by ID; a build looks its session up, waiting for it to connect."""

    _open: dict[str, Session] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def add(self, session: Session) -> None:
        async with self._changed:
            self._open[session.id] = session
            self._changed.notify_all()

    async def remove(self, session: Session) -> None:
        async with self._changed:
            if self._open.get(session.id) is session:
                del self._open[session.id]

    def exists(self, session_id: str) -> bool:
        return session_id in self._open

    async def get(self, session_id: str, timeout: float = SESSION_WAIT) -> Session:
        # The ID may carry a prefix ("<prefix>:<id>") that BuildKit strips for lookups.
        session_id = session_id.rsplit(":", 1)[-1]
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: session_id in self._open), timeout)
            except TimeoutError as exc:
                raise Unavailable(f"no active session for {session_id}: context deadline exceeded") from exc
            return self._open[session_id]


def tar_info(stat: pb.Stat, name: str) -> tarfile.TarInfo | None:
    """The tar header of one fsutil entry; None for devices, pipes and sockets (a build context
    never carries them, as the classic builder's tar does not)."""
    mode = stat.mode
    if mode & (GO_DEVICE | GO_PIPE | GO_SOCKET | GO_CHARDEV | GO_IRREGULAR):
        return None
    info = tarfile.TarInfo(name)
    info.mode = (mode & 0o777) | (0o4000 if mode & GO_SETUID else 0) | (0o2000 if mode & GO_SETGID else 0) \
        | (0o1000 if mode & GO_STICKY else 0)
    info.uid, info.gid = stat.uid, stat.gid
    info.mtime = stat.modTime / 1e9
    if mode & GO_DIR:
        info.type = tarfile.DIRTYPE
    elif mode & GO_SYMLINK:
        info.type, info.linkname = tarfile.SYMTYPE, stat.linkname
    elif stat.linkname:  # a regular file that is a hard link to an earlier entry
        info.type, info.linkname = tarfile.LNKTYPE, stat.linkname
    else:
        info.size = stat.size
    return info


def _metadata(dir_name: str, include: Iterable[str], exclude: Iterable[str]) -> HeaderList:
    headers: HeaderList = [("dir-name", dir_name)]
    headers += [("include-patterns", p) for p in include]
    headers += [("exclude-patterns", p) for p in exclude]
    # Non-ASCII patterns would need fsutil's "-encoded" form: refuse them rather than mangle them.
    for _, value in headers:
        if not value.isascii() or any(c in value for c in "\r\n"):
            raise InvalidArgument(f"unsupported character in a local source pattern: {value!r}")
    return headers


async def receive_tar(session: Session, dir_name: str, tar: tarfile.TarFile, *, include: Iterable[str] = (),
                      exclude: Iterable[str] = (), rename: dict[str, str] | None = None) -> list[str]:
    """Copy the client's directory ``dir_name`` (its local source of that name) into ``tar``;
    ``rename`` maps entry paths to other names in the tar. Returns the paths received."""
    if DIFFCOPY.lower() not in session.methods:
        raise InvalidArgument("no local sources enabled: the client's session does not offer file sync")
    call = await ClientCall.start(session.channel, DIFFCOPY, _metadata(dir_name, include, exclude))
    try:
        stats = await _receive_stats(call)
        await _receive_files(call, stats, tar, rename or {})
        await call.send(pb.Packet(type=pb.Packet.PACKET_FIN))
        while (packet := await call.receive(pb.Packet)) is not None:
            if packet.type == pb.Packet.PACKET_FIN:
                break
        call.close_send()
    except BaseException:
        call.cancel()
        raise
    return [s.path for s in stats]


async def _receive_stats(call: ClientCall) -> list[pb.Stat]:
    stats: list[pb.Stat] = []
    while True:
        packet = await call.receive(pb.Packet)
        if packet is None:
            raise InvalidArgument("the client ended the file transfer before listing its files")
        if packet.type == pb.Packet.PACKET_ERR:
            raise InvalidArgument(f"error from sender: {packet.data.decode(errors='replace')}")
        if packet.type == pb.Packet.PACKET_STAT:
            if not packet.HasField("stat"):
                return stats
            if packet.stat.path.startswith("/") or ".." in packet.stat.path.split("/"):
                raise InvalidArgument(f"invalid path from sender: {packet.stat.path!r}")
            stats.append(packet.stat)


_NOT_REGULAR = GO_DIR | GO_SYMLINK | GO_DEVICE | GO_PIPE | GO_SOCKET | GO_CHARDEV | GO_IRREGULAR


def _wanted(stat: pb.Stat) -> bool:
    return not stat.mode & _NOT_REGULAR and not stat.linkname


async def _receive_files(call: ClientCall, stats: list[pb.Stat], tar: tarfile.TarFile,
                         rename: dict[str, str]) -> None:
    """Request the regular files (a window of them at a time), write every entry in order."""
    wanted = [i for i, s in enumerate(stats) if _wanted(s)]
    pending: dict[int, IO[bytes]] = {}
    done: set[int] = set()
    next_request = 0

    async def request_more() -> None:
        nonlocal next_request
        while next_request < len(wanted) and len(pending) - len(done) < _WINDOW:
            index = wanted[next_request]
            pending[index] = tempfile.SpooledTemporaryFile(_SPOOL)  # noqa: SIM115 - closed below
            await call.send(pb.Packet(type=pb.Packet.PACKET_REQ, ID=index))
            next_request += 1

    try:
        await request_more()
        for index, stat in enumerate(stats):
            name = rename.get(stat.path, stat.path)
            info = tar_info(stat, name)
            if info is not None and info.type == tarfile.LNKTYPE:
                info.linkname = rename.get(info.linkname, info.linkname)
            if index in pending:
                while index not in done:
                    await _receive_data(call, pending, done)
                    await request_more()
                body = pending.pop(index)
                done.discard(index)
                body.seek(0)
                assert info is not None
                info.size = _size(body)
                await asyncio.to_thread(tar.addfile, info, body)
                body.close()
                await request_more()
            elif info is not None:
                tar.addfile(info)
    finally:
        for body in pending.values():
            body.close()


async def _receive_data(call: ClientCall, pending: dict[int, IO[bytes]], done: set[int]) -> None:
    packet = await call.receive(pb.Packet)
    if packet is None:
        raise InvalidArgument("the client ended the file transfer before sending every file")
    if packet.type == pb.Packet.PACKET_ERR:
        raise InvalidArgument(f"error from sender: {packet.data.decode(errors='replace')}")
    if packet.type != pb.Packet.PACKET_DATA:
        return
    body = pending.get(packet.ID)
    if body is None or packet.ID in done:
        raise InvalidArgument(f"invalid file request {packet.ID}")
    if packet.data:
        body.write(packet.data)
    else:
        done.add(packet.ID)


def _size(body: IO[bytes]) -> int:
    """The bytes actually received (the file may have changed since the client's stat)."""
    end = body.seek(0, 2)
    body.seek(0)
    return end



async def secrets(session: Session, ids: Iterable[str]) -> dict[str, bytes]:
    """The values of the secrets ``ids`` that the client's session has (``--secret``/compose's
    build secrets); one it does not know is left out (the step that needs it says so)."""
    found: dict[str, bytes] = {}
    if GET_SECRET.lower() not in session.methods:
        return found
    for ident in ids:
        call = await ClientCall.start(session.channel, GET_SECRET)
        await call.send(pb.GetSecretRequest(ID=ident))
        call.close_send()
        try:
            reply = await call.receive(pb.GetSecretResponse)
        except GrpcError as exc:
            if exc.code == NOT_FOUND:
                continue
            raise
        if reply is not None:
            found[ident] = reply.data
            await call.receive(pb.GetSecretResponse)  # the end of the call
    return found
