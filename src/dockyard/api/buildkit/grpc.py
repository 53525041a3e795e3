"""gRPC over an :class:`H2Channel`: message framing, status trailers, a method table, client calls.

The wire format (gRPC's PROTOCOL-HTTP2): each message is a 1-byte compressed flag (we never
compress, nor accept compression: we send no ``grpc-accept-encoding``), a 4-byte big-endian length
and the protobuf bytes; a call ends with trailers ``grpc-status`` (0 = OK) and ``grpc-message``
(percent-encoded). A call that fails before any message answers with trailers only.
"""

from __future__ import annotations

import logging
import struct
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from dockyard.api.buildkit.h2conn import H2Channel, H2Stream, HeaderList, StreamClosed
from dockyard.errors import DockyardError, NotFound, Unimplemented

log = logging.getLogger(__name__)

# google.golang.org/grpc/codes
OK, CANCELED, UNKNOWN, INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, UNAVAILABLE = 0, 1, 2, 3, 5, 12, 14
# grpc-message is percent-encoded except printable ASCII other than "%" (gRPC's PROTOCOL-HTTP2).
_MESSAGE_SAFE = " !\"#$&'()*+,-./:;<=>?@[]^_`{|}~"
MAX_MESSAGE = 64 << 20  # BuildKit's own default receive limit (containerd's defaults)


class GrpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def frame(payload: bytes) -> bytes:
    return struct.pack(">BI", 0, len(payload)) + payload


class MessageReader:
    """Whole gRPC messages out of a stream's data chunks."""

    def __init__(self, stream: H2Stream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def read(self) -> bytes | None:
        """The next message's bytes; None when the peer ended its side between messages."""
        while True:
            if len(self._buffer) >= 5:
                flag, length = struct.unpack(">BI", self._buffer[:5])
                if flag:
                    raise GrpcError(UNIMPLEMENTED, "compressed gRPC messages are not supported")
                if length > MAX_MESSAGE:
                    raise GrpcError(INVALID_ARGUMENT, f"gRPC message of {length} bytes is too large")
                if len(self._buffer) >= 5 + length:
                    payload = bytes(self._buffer[5:5 + length])
                    del self._buffer[:5 + length]
                    return payload
            chunk = await self._stream.read()
            if chunk is None:
                if self._buffer:
                    raise GrpcError(INVALID_ARGUMENT, "the stream ended inside a gRPC message")
                return None
            self._buffer += chunk


M = TypeVar("M", bound=Message)


def parse(kind: type[M], payload: bytes) -> M:
    message = kind()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise GrpcError(INVALID_ARGUMENT, f"malformed {kind.__name__}: {exc}") from exc
    return message


def code_for(exc: BaseException) -> int:
    """Our error hierarchy as gRPC codes. A failed build is UNKNOWN, as BuildKit's own: clients
    print its message bare, where other codes get a prefix ("NotFound: …")."""
    if isinstance(exc, GrpcError):
        return exc.code
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, Unimplemented):
        return UNIMPLEMENTED
    return UNKNOWN


class ServerCall:
    """One incoming call: its metadata, the request messages, and our answer."""

    def __init__(self, stream: H2Stream) -> None:
        self.stream = stream
        self.metadata = stream.headers
        self.path = stream.headers.get(":path", "")
        self._reader = MessageReader(stream)
        self._started = False

    async def receive(self, kind: type[M]) -> M | None:
        payload = await self._reader.read()
        return None if payload is None else parse(kind, payload)

    async def send(self, message: Message) -> None:
        if not self._started:
            self._started = True
            await self.stream.send_headers([(":status", "200"), ("content-type", "application/grpc")])
        await self.stream.send_data(frame(message.SerializeToString()))

    async def finish(self, code: int = OK, message: str = "") -> None:
        trailers: HeaderList = [("grpc-status", str(code))]
        if message:
            trailers.append(("grpc-message", urllib.parse.quote(message, safe=_MESSAGE_SAFE)))
        if not self._started:  # trailers-only: the status travels in the only HEADERS frame
            trailers = [(":status", "200"), ("content-type", "application/grpc"), *trailers]
        self._started = True
        await self.stream.send_headers(trailers, end_stream=True)


Method = Callable[[ServerCall], Awaitable[None]]


def unary(kind: type[M], handler: Callable[[M, ServerCall], Awaitable[Message]]) -> Method:
    async def method(call: ServerCall) -> None:
        request = await call.receive(kind) or kind()
        await call.send(await handler(request, call))
    return method


def server_stream(kind: type[M], handler: Callable[[M, ServerCall], AsyncIterator[Message]]) -> Method:
    async def method(call: ServerCall) -> None:
        request = await call.receive(kind) or kind()
        async for reply in handler(request, call):
            await call.send(reply)
    return method


class Server:
    """A table of ``/package.Service/Method`` paths served on every stream of a channel."""

    def __init__(self, methods: dict[str, Method]) -> None:
        self._methods = methods

    async def __call__(self, stream: H2Stream) -> None:
        call = ServerCall(stream)
        method = self._methods.get(call.path)
        log.debug("gRPC call %s", call.path)
        if method is None:
            await call.finish(UNIMPLEMENTED, f"unknown method {call.path.rsplit('/', 1)[-1]} for service "
                                             f"{call.path.strip('/').rsplit('/', 1)[0]}")
            return
        try:
            await method(call)
        except StreamClosed:
            raise
        except (GrpcError, DockyardError) as exc:
            log.info("gRPC %s failed: %s", call.path, exc)
            await call.finish(code_for(exc), str(exc))
            return
        await call.finish()


class ClientCall:
    """A call we make over a channel (the session's services): send, receive, status."""

    def __init__(self, channel: H2Channel, stream: H2Stream) -> None:
        self._channel = channel
        self._stream = stream
        self._reader = MessageReader(stream)

    @classmethod
    async def start(cls, channel: H2Channel, path: str, metadata: HeaderList | None = None) -> ClientCall:
        headers: HeaderList = [(":method", "POST"), (":scheme", "http"), (":path", path),
                               (":authority", "localhost"), ("content-type", "application/grpc"),
                               ("te", "trailers"), *(metadata or [])]
        return cls(channel, await channel.open_stream(headers))

    async def send(self, message: Message) -> None:
        await self._stream.send_data(frame(message.SerializeToString()))

    def close_send(self) -> None:
        self._channel.end_stream(self._stream.id)

    async def receive(self, kind: type[M]) -> M | None:
        """The next reply; None at the end of the call (raises the call's error status)."""
        payload = await self._reader.read()
        if payload is not None:
            return parse(kind, payload)
        self.check_status()
        return None

    def check_status(self) -> None:
        status = self._stream.trailers or self._stream.headers
        code = int(status.get("grpc-status", UNKNOWN if self._stream.reset else OK))
        if code != OK:
            message = urllib.parse.unquote(status.get("grpc-message", ""))
            raise GrpcError(code, message or f"gRPC status {code}")

    def cancel(self) -> None:
        self._stream.cancel()
