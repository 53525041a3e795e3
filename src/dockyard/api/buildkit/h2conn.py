"""HTTP/2 without TLS (h2c) over a hijacked Engine API connection, either side of it.

BuildKit's clients upgrade ``POST /grpc`` (they are the HTTP/2 client, we serve) and ``POST
/session`` (we are the HTTP/2 client of the services the build's client serves) to h2c after a
``101 Switching Protocols``. hyper-h2 does the framing, HPACK and flow control; this module feeds it
the socket's bytes, writes what it wants sent, and hands each stream's data to a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

import h2.config
import h2.connection
import h2.events
import h2.exceptions

log = logging.getLogger(__name__)

Headers = dict[str, str]
HeaderList = list[tuple[str, str]]  # what we send: gRPC metadata may repeat a key


class StreamClosed(Exception):
    """The peer reset the stream or the connection went away."""


class H2Stream:
    """One HTTP/2 stream: the peer's headers, data chunks (None at its end) and trailers."""

    def __init__(self, conn: H2Channel, stream_id: int) -> None:
        self.conn = conn
        self.id = stream_id
        self.headers: Headers = {}
        self.trailers: Headers = {}
        self.headers_ready = asyncio.Event()
        self.reset = False
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def read(self) -> bytes | None:
        """The peer's next data; None at the end of its half of the stream."""
        chunk = await self.chunks.get()
        if chunk is None:
            self.chunks.put_nowait(None)  # later reads see the end too
            if self.reset:
                raise StreamClosed(f"stream {self.id} was reset")
        return chunk

    async def send_headers(self, headers: HeaderList, *, end_stream: bool = False) -> None:
        self.conn.send_headers(self.id, headers, end_stream=end_stream)

    async def send_data(self, data: bytes, *, end_stream: bool = False) -> None:
        await self.conn.send_data(self.id, data, end_stream=end_stream)

    def cancel(self) -> None:
        self.conn.reset_stream(self.id)


RequestHandler = Callable[[H2Stream], Awaitable[None]]


class H2Channel(asyncio.Protocol):
    """The protocol of a hijacked transport, speaking HTTP/2 as a client or as a server.

    As a server, ``on_request`` runs (as a task) for each stream the peer opens, once its headers
    arrived. ``closed`` is set when the connection ends either way.
    """

    def __init__(self, *, client_side: bool, on_request: RequestHandler | None = None) -> None:
        config = h2.config.H2Configuration(client_side=client_side, header_encoding="utf-8")
        self._h2 = h2.connection.H2Connection(config=config)
        self._client_side = client_side
        self._on_request = on_request
        self._transport: asyncio.Transport | None = None
        self._streams: dict[int, H2Stream] = {}
        self._window_open = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()

    def start(self, transport: asyncio.Transport, already_read: bytes = b"") -> None:
        """Take ``transport`` over (its protocol becomes this one) and send our preface."""
        self._transport = transport
        transport.set_protocol(self)
        self._h2.initiate_connection()
        self._flush()
        if already_read:
            self.data_received(already_read)
        transport.resume_reading()

    # ---- asyncio.Protocol ----
    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.info("HTTP/2 protocol error from the build client: %s", exc)
            self.close()
            return
        for event in events:
            self._handle(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        # The client went away (Ctrl-C): its calls, and the builds they run, end with it.
        for task in list(self._tasks):
            task.cancel()
        self._end_all()

    def eof_received(self) -> bool:
        self._end_all()
        return False

    # ---- events ----
    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived | h2.events.ResponseReceived):
            request = isinstance(event, h2.events.RequestReceived)
            self._on_headers(event.stream_id, _headers(event.headers or []), request=request)
        elif isinstance(event, h2.events.TrailersReceived):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.trailers = _headers(event.headers or [])
        elif isinstance(event, h2.events.DataReceived):
            stream = self._streams.get(event.stream_id)
            # Flow control: the data is ours now (queued), so the peer may send more.
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream is not None and event.data:
                stream.chunks.put_nowait(event.data)
        elif isinstance(event, h2.events.StreamEnded):
            self._finish(event.stream_id, reset=False)
        elif isinstance(event, h2.events.StreamReset):
            self._finish(event.stream_id, reset=True)
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._window_open.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.close()

    def _on_headers(self, stream_id: int, headers: Headers, *, request: bool) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            stream = self._streams[stream_id] = H2Stream(self, stream_id)
        stream.headers = headers
        stream.headers_ready.set()
        if request and self._on_request is not None:
            task = asyncio.get_running_loop().create_task(self._serve(stream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, stream: H2Stream) -> None:
        assert self._on_request is not None
        try:
            await self._on_request(stream)
        except StreamClosed:
            log.debug("stream %d closed by the build client", stream.id)
        except Exception:
            log.exception("gRPC handler for %s failed", stream.headers.get(":path"))
            self.reset_stream(stream.id)

    def _finish(self, stream_id: int, *, reset: bool) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.reset = stream.reset or reset
        stream.headers_ready.set()
        stream.chunks.put_nowait(None)
        self._window_open.set()

    def _end_all(self) -> None:
        for stream_id in list(self._streams):
            self._finish(stream_id, reset=True)
        self.closed.set()
        self._window_open.set()

    # ---- sending ----
    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    async def open_stream(self, headers: HeaderList, *, end_stream: bool = False) -> H2Stream:
        """A new stream of ours (client side), its request headers sent."""
        if self.closed.is_set():
            raise StreamClosed("the session connection is closed")
        stream_id = self._h2.get_next_available_stream_id()
        stream = self._streams[stream_id] = H2Stream(self, stream_id)
        self.send_headers(stream_id, headers, end_stream=end_stream)
        return stream

    def send_headers(self, stream_id: int, headers: HeaderList, *, end_stream: bool = False) -> None:
        if self.closed.is_set():
            raise StreamClosed("connection closed")
        try:
            self._h2.send_headers(stream_id, headers, end_stream=end_stream)
        except h2.exceptions.StreamClosedError as exc:
            raise StreamClosed(str(exc)) from exc
        self._flush()

    async def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """Send ``data`` as the peer's windows allow, waiting for WINDOW_UPDATEs in between."""
        view = memoryview(data)
        while True:
            if self.closed.is_set():
                raise StreamClosed("connection closed")
            try:
                window = self._h2.local_flow_control_window(stream_id)
            except h2.exceptions.StreamClosedError as exc:
                raise StreamClosed(str(exc)) from exc
            size = min(window, self._h2.max_outbound_frame_size, len(view))
            if size > 0 or not view:
                last = size == len(view)
                self._h2.send_data(stream_id, bytes(view[:size]), end_stream=end_stream and last)
                self._flush()
                view = view[size:]
                if last:
                    return
                continue
            self._window_open.clear()
            await self._window_open.wait()

    def end_stream(self, stream_id: int) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self._h2.end_stream(stream_id)
            self._flush()

    def reset_stream(self, stream_id: int) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self._h2.reset_stream(stream_id)
            self._flush()
        self._streams.pop(stream_id, None)

    def forget(self, stream_id: int) -> None:
        """Drop a finished stream's record (its queue was read to the end)."""
        self._streams.pop(stream_id, None)

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.close_connection()
                self._flush()
            self._transport.close()
        for task in list(self._tasks):
            task.cancel()
        self._end_all()


def _headers(raw: Iterable[tuple[str | bytes, str | bytes]]) -> Headers:
    out: Headers = {}
    for name, value in raw:
        key = name.decode() if isinstance(name, bytes) else name
        text = value.decode() if isinstance(value, bytes) else value
        # gRPC metadata may repeat a key (e.g. include-patterns): keep every value, comma-joined
        # as HTTP allows; readers that need the list split it.
        out[key] = f"{out[key]},{text}" if key in out else text
    return out
