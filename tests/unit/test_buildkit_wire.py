"""The BuildKit adapter's parts without a daemon: generated protos, gRPC over h2, file sync, progress."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import socket
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest
from google.protobuf.message import Message

from dockyard.api.buildkit import wire_pb2 as pb
from dockyard.api.buildkit.control import BuildKit
from dockyard.api.buildkit.frontend import options_for
from dockyard.api.buildkit.grpc import (
    UNIMPLEMENTED,
    ClientCall,
    GrpcError,
    MessageReader,
    Server,
    ServerCall,
    frame,
    server_stream,
    unary,
)
from dockyard.api.buildkit.h2conn import H2Channel
from dockyard.api.buildkit.progress import BuildStatus
from dockyard.api.buildkit.session import DIFFCOPY, GO_DIR, GO_SYMLINK, Session, receive_tar
from dockyard.errors import Unimplemented

ROOT = Path(__file__).resolve().parents[2]
M = TypeVar("M", bound=Message)


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="grpcio-tools not installed")
def test_generated_modules_are_current(tmp_path: Path) -> None:
    src = ROOT / "src"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(src), f"--python_out={tmp_path}",
                    f"--pyi_out={tmp_path}", str(src / "dockyard/api/buildkit/wire.proto")], check=True)
    for name in ("wire_pb2.py", "wire_pb2.pyi"):
        fresh = (tmp_path / "dockyard/api/buildkit" / name).read_text()
        assert fresh == (src / "dockyard/api/buildkit" / name).read_text(), \
            f"{name} is stale: run scripts/gen_buildkit_proto.sh"


def test_field_numbers_match_buildkit() -> None:
    # fsutil's Packet{type=1, stat=2, ID=3, data=4} and Stat{path=1, mode=2}: bytes as Go encodes them.
    packet = pb.Packet(type=pb.Packet.PACKET_DATA, ID=7, data=b"xy", stat=pb.Stat(path="a", mode=0o644))
    assert packet.SerializeToString() == b"\x08\x02\x12\x06\n\x01a\x10\xa4\x03\x18\x07\"\x02xy"
    # control.SolveRequest: Ref=1, Session=5, Frontend=6.
    assert pb.SolveRequest(Ref="r", Session="s", Frontend="f").SerializeToString() == \
        b"\n\x01r*\x01s2\x01f"


class _Chunks:
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)

    async def read(self) -> bytes | None:
        return self._chunks.pop(0) if self._chunks else None


async def test_message_reader_joins_and_splits_chunks() -> None:
    data = frame(b"hello") + frame(b"") + frame(b"x" * 70000)
    reader = MessageReader(_Chunks([data[:3], data[3:12], data[12:]]))  # type: ignore[arg-type]
    assert await reader.read() == b"hello"
    assert await reader.read() == b""
    assert await reader.read() == b"x" * 70000
    assert await reader.read() is None


async def test_message_reader_refuses_compressed_and_truncated() -> None:
    with pytest.raises(GrpcError):
        await MessageReader(_Chunks([b"\x01\x00\x00\x00\x01a"])).read()  # type: ignore[arg-type]
    with pytest.raises(GrpcError):
        await MessageReader(_Chunks([frame(b"abc")[:6]])).read()  # type: ignore[arg-type]


async def _pair(server: Server) -> tuple[H2Channel, H2Channel]:
    """A client channel and a serving channel over a socketpair, as after the 101."""
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    client = H2Channel(client_side=True)
    served = H2Channel(client_side=False, on_request=server)
    ta, _ = await loop.create_unix_connection(asyncio.Protocol, sock=a)
    tb, _ = await loop.create_unix_connection(asyncio.Protocol, sock=b)
    client.start(ta)
    served.start(tb)
    return client, served


async def test_unary_stream_and_unknown_methods_over_h2() -> None:
    async def info(request: pb.InfoRequest, call: ServerCall) -> pb.InfoResponse:
        return pb.InfoResponse(buildkitVersion=pb.BuildkitVersion(version="v" * 100000))  # > one window

    async def status(request: pb.StatusRequest, call: ServerCall) -> AsyncIterator[pb.StatusResponse]:
        for i in range(3):
            yield pb.StatusResponse(vertexes=[pb.Vertex(name=f"{request.Ref}{i}")])

    async def fails(request: pb.InfoRequest, call: ServerCall) -> pb.InfoResponse:
        raise Unimplemented("not here")

    client, served = await _pair(Server({"/x.C/Info": unary(pb.InfoRequest, info),
                                         "/x.C/Status": server_stream(pb.StatusRequest, status),
                                         "/x.C/Fails": unary(pb.InfoRequest, fails)}))
    try:
        call = await ClientCall.start(client, "/x.C/Info")
        await call.send(pb.InfoRequest())
        call.close_send()
        reply = await call.receive(pb.InfoResponse)
        assert reply is not None and len(reply.buildkitVersion.version) == 100000
        assert await call.receive(pb.InfoResponse) is None

        call = await ClientCall.start(client, "/x.C/Status")
        await call.send(pb.StatusRequest(Ref="v"))
        call.close_send()
        names = []
        while (update := await call.receive(pb.StatusResponse)) is not None:
            names.append(update.vertexes[0].name)
        assert names == ["v0", "v1", "v2"]

        for path, text in (("/x.C/Nope", "unknown method Nope"), ("/x.C/Fails", "not here")):
            call = await ClientCall.start(client, path)
            await call.send(pb.InfoRequest())
            call.close_send()
            with pytest.raises(GrpcError) as caught:
                await call.receive(pb.InfoResponse)
            assert caught.value.code == UNIMPLEMENTED and text in caught.value.message
    finally:
        client.close()
        served.close()


def _sender(files: list[tuple[pb.Stat, bytes]]) -> Server:
    """fsutil's sending side of DiffCopy, as a client's session serves it."""
    async def diffcopy(call: ServerCall) -> None:
        assert call.metadata["dir-name"] == "context"
        for stat, _ in files:
            await call.send(pb.Packet(type=pb.Packet.PACKET_STAT, stat=stat))
        await call.send(pb.Packet(type=pb.Packet.PACKET_STAT))
        while (packet := await call.receive(pb.Packet)) is not None:
            if packet.type == pb.Packet.PACKET_REQ:
                data = files[packet.ID][1]
                for i in range(0, len(data), 30000):
                    chunk = data[i:i + 30000]
                    await call.send(pb.Packet(type=pb.Packet.PACKET_DATA, ID=packet.ID, data=chunk))
                await call.send(pb.Packet(type=pb.Packet.PACKET_DATA, ID=packet.ID))
            elif packet.type == pb.Packet.PACKET_FIN:
                await call.send(pb.Packet(type=pb.Packet.PACKET_FIN))
                return
    return Server({DIFFCOPY: diffcopy})


async def test_diffcopy_becomes_a_tar() -> None:
    big = bytes(range(256)) * 1000
    files = [(pb.Stat(path="sub", mode=GO_DIR | 0o755), b""),
             (pb.Stat(path="sub/big.bin", mode=0o640, size=len(big), uid=1, gid=2), big),
             (pb.Stat(path="sub/hard", mode=0o640, linkname="sub/big.bin"), b""),
             (pb.Stat(path="link", mode=GO_SYMLINK | 0o777, linkname="sub/big.bin"), b""),
             (pb.Stat(path="run.sh", mode=0o755, size=3), b"#!\n")]
    # The daemon is the HTTP/2 client of the session; the build's client serves the files.
    ours, theirs = await _pair(_sender(files))
    try:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            got = await receive_tar(Session("s", ours, frozenset({DIFFCOPY.lower()})), "context", tar)
        assert got == ["sub", "sub/big.bin", "sub/hard", "link", "run.sh"]
    finally:
        ours.close()
        theirs.close()
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["sub"].isdir() and members["sub"].mode == 0o755
        body = tar.extractfile("sub/big.bin")
        assert body is not None and body.read() == big
        big_member = members["sub/big.bin"]
        assert (big_member.uid, big_member.gid, big_member.mode) == (1, 2, 0o640)
        assert members["sub/hard"].islnk() and members["sub/hard"].linkname == "sub/big.bin"
        assert members["link"].issym() and members["link"].linkname == "sub/big.bin"
        assert members["run.sh"].mode == 0o755


async def test_a_session_without_file_sync_is_refused() -> None:
    with pytest.raises(Exception, match="no local sources enabled"):
        await receive_tar(Session("s", H2Channel(client_side=True), frozenset()), "context",
                          tarfile.open(fileobj=io.BytesIO(), mode="w"))


async def test_classic_stream_text_becomes_vertexes() -> None:
    status = BuildStatus("ref")
    for text in ("Step 1/3 : FROM busybox\n", " ---> 0123456789ab\n", "Step 2/3 : RUN echo hi\n",
                 " ---> Running in 0123456789ab\n", "hi\npartial", " line\n", "Step 3/3 : RUN true\n",
                 " ---> Using cache\n"):
        await status.emit(text)
    await status.close()
    vertexes: dict[str, pb.Vertex] = {}
    logs: list[tuple[str, bytes]] = []
    async for update in status.updates():
        for vertex in update.vertexes:
            vertexes[vertex.digest] = vertex
        logs += [(log.vertex, log.msg) for log in update.logs]
    names = {v.name: v for v in vertexes.values()}
    assert list(names) == ["[1/3] FROM busybox", "[2/3] RUN echo hi", "[3/3] RUN true"]
    assert all(v.HasField("completed") for v in names.values())
    assert names["[3/3] RUN true"].cached and not names["[2/3] RUN echo hi"].cached
    assert logs == [(names["[2/3] RUN echo hi"].digest, b"hi\n"), (names["[2/3] RUN echo hi"].digest,
                                                                   b"partial line\n")]


def test_frontend_options() -> None:
    options = options_for({"filename": "app.Dockerfile", "target": "stage", "build-arg:A": "1",
                           "label:z": "2", "label:a": "3", "image-resolve-mode": "local",
                           "attest:provenance": "mode=min", "add-hosts": "db=10.0.0.2"})
    assert (options.dockerfile, options.target, options.build_args) == ("app.Dockerfile", "stage", {"A": "1"})
    assert list(options.labels) == ["a", "z"], "sorted: the LABEL step's cache key is stable"
    assert options.run_host["ExtraHosts"] == ["db:10.0.0.2"]
    with pytest.raises(Unimplemented, match="--pull"):
        options_for({"image-resolve-mode": "pull"})
    with pytest.raises(Unimplemented, match="'bogus'"):
        options_for({"bogus": "1"})
    with pytest.raises(Unimplemented, match="multi-platform"):
        options_for({"platform": "linux/amd64,linux/arm64"})


class _FakeBuilder:
    async def prune(self) -> tuple[list[str], int]:
        return ["sha256:a", "cache-mounts"], 4096


async def _call(channel: H2Channel, path: str, request: Message, reply: type[M],
                metadata: list[tuple[str, str]] | None = None) -> list[M]:
    call = await ClientCall.start(channel, path, metadata)
    await call.send(request)
    call.close_send()
    out = []
    while (message := await call.receive(reply)) is not None:
        out.append(message)
    return out


async def test_control_probe_build_prune_and_refusals(tmp_path: Path) -> None:
    buildkit = BuildKit(lambda: _FakeBuilder(), tmp_path)  # type: ignore[arg-type,return-value]
    client, served = await _pair(Server(buildkit.methods()))
    control, bridge = "/moby.buildkit.v1.Control/", "/moby.buildkit.v1.frontend.LLBBridge/"
    try:
        workers = await _call(client, control + "ListWorkers", pb.ListWorkersRequest(),
                              pb.ListWorkersResponse)
        assert workers[0].record[0].platforms[0].OS == "linux"
        # buildx's probe: a Solve with no frontend whose gateway pings and returns nothing.
        solve = asyncio.ensure_future(_call(client, control + "Solve", pb.SolveRequest(Ref="r1"),
                                            pb.SolveResponse))
        status = asyncio.ensure_future(_call(client, control + "Status", pb.StatusRequest(Ref="r1"),
                                             pb.StatusResponse))
        meta = [("buildkit-controlapi-buildid", "r1")]
        while "r1" not in buildkit._builds:
            await asyncio.sleep(0.01)
        pong = await _call(client, bridge + "Ping", pb.PingRequest(), pb.PongResponse, meta)
        assert "return" in {cap.ID for cap in pong[0].FrontendAPICaps}
        await _call(client, bridge + "Return", pb.ReturnRequest(), pb.ReturnResponse, meta)
        assert [dict(r.ExporterResponse) for r in await solve] == [{}]
        assert await status == []
        records = await _call(client, control + "Prune", pb.PruneRequest(all=True), pb.UsageRecord)
        assert [(r.ID, r.Size) for r in records] == [("sha256:a", 0), ("cache-mounts", 4096)]
        with pytest.raises(GrpcError, match="exporter 'local' is not supported"):
            await _call(client, control + "Solve", pb.SolveRequest(
                Ref="r2", Exporters=[pb.Exporter(Type="local")]), pb.SolveResponse)
        with pytest.raises(GrpcError, match="LLB definitions are not supported"):
            await _call(client, control + "Solve", pb.SolveRequest(Ref="r3", Definition=b"\n\x00"),
                        pb.SolveResponse)
    finally:
        client.close()
        served.close()
