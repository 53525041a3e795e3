"""``POST /session`` and ``POST /grpc``: the hijacked h2c connections of BuildKit's clients.

buildx (the docker CLI's builder, and Compose v2's) takes an engine for a "docker" driver builder
when ``POST /grpc`` upgrades; otherwise it boots a BuildKit container from Docker Hub. Both
endpoints answer ``101 Switching Protocols`` with ``Upgrade: h2c``, as moby's session and grpc
routers do, and then speak HTTP/2 on the raw connection (the transport is taken over before
anything else is written, as for attach: see api/hijack.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from dockyard.api import web
from dockyard.api.hijack import HijackedResponse
from dockyard.api.routing import RouteTable
from dockyard.core.engine import Engine
from dockyard.errors import AlreadyExists, InvalidArgument

if TYPE_CHECKING:
    from dockyard.api.buildkit.control import BuildKit
    from dockyard.api.buildkit.h2conn import H2Channel

log = logging.getLogger(__name__)

table = RouteTable()



class LazyBuildKit:
    """The BuildKit service, made on the first ``/grpc`` or ``/session``: its h2, gRPC and protobuf
    modules (about 3 MB) stay out of an idle daemon that never sees a BuildKit client."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._buildkit: BuildKit | None = None

    def get(self) -> BuildKit:
        if self._buildkit is None:
            from dockyard.api.buildkit.control import BuildKit

            engine = self._engine
            self._buildkit = BuildKit(lambda: engine.builder.get() if engine.builder else None,
                                      engine.config.tmp_dir)
        return self._buildkit


BUILDKIT_KEY = web.AppKey("buildkit", LazyBuildKit)
SESSION_ID = "X-Docker-Expose-Session-Uuid"
SESSION_METHOD = "X-Docker-Expose-Session-Grpc-Method"


def install(app: web.Application, engine: Engine) -> None:
    app[BUILDKIT_KEY] = LazyBuildKit(engine)


def _upgrade(request: web.Request, channel: H2Channel) -> None:
    """Answer 101 and hand the connection to ``channel``; errors before that are plain HTTP."""
    proto = request.headers.get("Upgrade", "")
    if not proto:
        raise InvalidArgument("no upgrade proto in request")
    if proto.lower() != "h2c":
        raise InvalidArgument(f"protocol {proto} not supported")
    transport = request.transport
    if not isinstance(transport, asyncio.Transport) or transport.is_closing():
        raise ConnectionResetError("client went away")
    tail = request.hand_over()  # what the client sent right after the request head: its HTTP/2 preface
    transport.pause_reading()
    transport.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    channel.start(transport, tail)


@table.post("/grpc")
async def grpc(request: web.Request) -> web.StreamResponse:
    from dockyard.api.buildkit.grpc import Server
    from dockyard.api.buildkit.h2conn import H2Channel

    buildkit = request.app[BUILDKIT_KEY].get()
    channel = H2Channel(client_side=False, on_request=Server(buildkit.methods()))
    _upgrade(request, channel)
    await channel.closed.wait()
    return HijackedResponse()


@table.post("/session")
async def session(request: web.Request) -> web.StreamResponse:
    from dockyard.api.buildkit.h2conn import H2Channel
    from dockyard.api.buildkit.session import Session

    buildkit = request.app[BUILDKIT_KEY].get()
    session_id = request.headers.get(SESSION_ID, "")
    if buildkit.sessions.exists(session_id):
        raise AlreadyExists(f"session {session_id} already exists")
    methods = frozenset(m.lower() for m in request.headers.getall(SESSION_METHOD, []))
    channel = H2Channel(client_side=True)
    _upgrade(request, channel)
    opened = Session(session_id, channel, methods)
    await buildkit.sessions.add(opened)
    try:
        await channel.closed.wait()
    finally:
        await buildkit.sessions.remove(opened)
        channel.close()
    return HijackedResponse()
