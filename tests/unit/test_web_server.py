"""The API's HTTP/1.1 server (dockyard/api/web) on a real socket: framing both ways, keep-alive
and pipelining, refused heads, bodies read under flow control, upgrades and websockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from dockyard.api import web
from dockyard.api.web.headers import Headers, MultiDict
from dockyard.api.web.websocket import accept

pytestmark = pytest.mark.unit


def test_headers_match_names_without_case_and_keep_every_value() -> None:
    headers = Headers([("X-A", "1"), ("x-a", "2"), ("Host", "h")])
    assert headers["x-A"] == "1" and headers.getall("X-a") == ["1", "2"] and "HOST" in headers
    headers["X-A"] = "3"
    assert headers.getall("x-a") == ["3"] and headers.items() == [("Host", "h"), ("X-A", "3")]
    assert headers.setdefault("host", "other") == "h" and headers.pop("nope") is None
    query = MultiDict([("filter", "a"), ("filter", "b"), ("Filter", "c")])
    assert query.getall("filter") == ["a", "b"] and query["Filter"] == "c"
    assert query.getall("none", []) == []


def test_the_router_matches_templates_under_an_optional_prefix() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response()

    router = web.Router()
    router.allow_prefix(r"/v(?P<api_version>[0-9]+(?:\.[0-9]+)?)")
    router.add_route("GET", "/containers/{id}/json", handler)
    router.add_route("POST", "/containers/{id}/start", handler)
    router.add_route("GET", "/images/{name:.*}/json", handler)
    found = router.resolve("GET", "/v1.41/containers/abc/json")
    assert dict(found) == {"id": "abc", "api_version": "1.41"}
    assert found.template == "/containers/{id}/json"
    assert dict(router.resolve("GET", "/images/library/busybox:1/json")) == {"name": "library/busybox:1"}
    assert router.resolve("GET", "/containers/a/b/json").template is None  # {id} is one segment
    assert router.resolve("GET", "/containers/abc/start").template is None


async def _body_size(request: web.Request) -> web.StreamResponse:
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        await asyncio.sleep(0)
    return web.json_response({"size": size, "query": request.query.getall("q", [])})


async def _stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    for i in range(3):
        await response.write(f"line {i}\n".encode())
    await response.write_eof()
    return response


async def _refuse_early(request: web.Request) -> web.StreamResponse:
    return web.Response(status=400, text="too large")  # the body is never read


async def _upgrade(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    assert transport is not None
    tail = request.hand_over()
    transport.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + b"tail:" + tail)
    transport.close()
    return web.StreamResponse()


async def _upgrade_body(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    transport = request.transport
    assert transport is not None
    await asyncio.sleep(0.05)  # the client's first stdin bytes arrive meanwhile
    tail = request.hand_over()
    transport.write(b"HTTP/1.1 101 UPGRADED\r\n\r\nbody:" + body + b" tail:" + tail)
    transport.close()
    return web.StreamResponse()


async def _echo_ws(request: web.Request) -> web.StreamResponse:
    ws = accept(request)
    while (message := await ws.incoming.get()) is not None:
        await ws.send_bytes(message.upper())
    return web.StreamResponse()


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    app = web.Application()
    app.router.add_route("POST", "/size", _body_size)
    app.router.add_route("GET", "/size", _body_size)
    app.router.add_route("GET", "/stream", _stream)
    app.router.add_route("HEAD", "/stream", _stream)
    app.router.add_route("POST", "/refuse", _refuse_early)
    app.router.add_route("POST", "/upgrade", _upgrade)
    app.router.add_route("POST", "/upgrade-body", _upgrade_body)
    app.router.add_route("GET", "/ws", _echo_ws)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = site.addresses[0][:2]  # type: ignore[index]
    yield str(host), int(port)
    await runner.cleanup()


async def _exchange(address: tuple[str, int], data: bytes, *, until: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    await writer.drain()
    out = b""
    try:
        while not (until and until in out):
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            if not chunk:
                break
            out += chunk
    finally:
        writer.close()
    return out


async def test_keep_alive_and_pipelined_requests_answer_in_order(server: tuple[str, int]) -> None:
    one = b"GET /size?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    two = b"POST /size?q=2&q=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    out = await _exchange(server, one + two, until=b'"query": ["2", "3"]}')
    assert out.count(b"HTTP/1.1 200 OK") == 2
    assert out.index(b'"query": ["1"]') < out.index(b'"size": 5')
    assert b"Connection: close" not in out


async def test_chunked_bodies_both_ways(server: tuple[str, int]) -> None:
    body = b"".join(b"%x\r\n%s\r\n" % (n, b"a" * n) for n in (1, 300, 70000)) + b"0\r\n\r\n"
    head = b"POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    out = await _exchange(server, head + body, until=b"}")
    assert b'"size": 70301' in out
    out = await _exchange(server, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", until=b"0\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in out and out.endswith(b"7\r\nline 2\n\r\n0\r\n\r\n")
    head = await _exchange(server, b"HEAD /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")  # no body for HEAD


async def test_http_1_0_without_a_length_ends_with_the_connection(server: tuple[str, int]) -> None:
    out = await _exchange(server, b"GET /stream HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 200 OK") and b"Connection: close" in out
    assert out.endswith(b"line 0\nline 1\nline 2\n")


async def test_a_large_body_is_read_whole_under_flow_control(server: tuple[str, int]) -> None:
    size = 24 << 20  # twelve times HIGH_WATER: reading pauses and resumes many times
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://{server[0]}:{server[1]}/size", data=b"z" * size) as resp:
            assert (await resp.json())["size"] == size


async def test_an_answer_before_the_body_was_read_reaches_the_client(server: tuple[str, int]) -> None:
    """The client writes all of its body before it reads (as Go's does): the connection must
    take the rest, not reset, after the early answer."""
    size = 8 << 20
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    for _ in range(size // 65536):
        await asyncio.sleep(0)
        writer.write(b"y" * 65536)
        await writer.drain()
    out = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert out.startswith(b"HTTP/1.1 400 Bad Request") and out.endswith(b"too large")


@pytest.mark.parametrize(("head", "status"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
    (b"NOT HTTP\r\n\r\n", 400),
])
async def test_a_refused_head_gets_a_docker_style_error(server: tuple[str, int], head: bytes,
                                                         status: int) -> None:
    out = await _exchange(server, head)
    assert out.startswith(f"HTTP/1.1 {status} ".encode())
    assert "message" in json.loads(out.split(b"\r\n\r\n", 1)[1])


async def test_unknown_paths_and_methods(server: tuple[str, int]) -> None:
    out = await _exchange(server, b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 404 Not Found")
    out = await _exchange(server, b"DELETE /size HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 405 Method Not Allowed") and b"Allow: GET,POST" in out


async def test_expect_100_continue_is_answered_before_the_handler(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"abc")
    assert b'"size": 3' in await asyncio.wait_for(reader.readuntil(b"}"), 5)
    writer.close()


async def test_an_upgrade_hands_over_the_bytes_after_the_head(server: tuple[str, int]) -> None:
    out = await _exchange(server, b"POST /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                  b"Upgrade: tcp\r\n\r\nearly bytes")
    assert out == b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\ntail:early bytes"


async def test_a_websocket_round_trip(server: tuple[str, int]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://{server[0]}:{server[1]}/ws") as ws:
            await ws.send_bytes(b"hello")
            assert (await ws.receive_bytes(timeout=5)) == b"HELLO"
            await ws.send_str("text too")
            assert (await ws.receive_bytes(timeout=5)) == b"TEXT TOO"
    out = await _exchange(server, b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request")


async def test_a_gzip_body_is_undone_and_a_broken_one_refused(server: tuple[str, int]) -> None:
    import gzip

    packed = gzip.compress(b"q" * 100000)
    head = b"POST /size HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
    out = await _exchange(server, head % len(packed) + packed, until=b"}")
    assert b'"size": 100000' in out
    out = await _exchange(server, head % 9 + b"not gzip!", until=b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request")


async def test_an_upgrade_request_keeps_its_own_body(server: tuple[str, int]) -> None:
    """exec start: a JSON body under ``Upgrade: tcp``; llhttp passes it on as upgraded bytes."""
    body = b'{"Detach": false, "Tty": false}'
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"POST /upgrade-body HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body[:10]))
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(body[10:] + b"stdin")
    out = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert out.endswith(b"body:" + body + b" tail:stdin")
