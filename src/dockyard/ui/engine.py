"""The UI's asynchronous Engine API client: one per environment, version negotiated at ``/_ping``.

Errors are :class:`EngineError` carrying the engine's status and ``{"message"}`` so the UI's own API
can pass Docker's text through unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from dockyard.cli.client import negotiated_version
from dockyard.ui.environments import Environment

log = logging.getLogger(__name__)

Params = dict[str, str] | list[tuple[str, str]]


class EngineError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _message(body: bytes, status: int) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return str(payload["message"])
    return body.decode(errors="replace").strip() or f"engine answered {status}"


class Engine:
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self._http = httpx.AsyncClient(transport=environment.transport.http(),
                                       base_url=environment.base_url(), timeout=None)
        self._version: str | None = None

    async def close(self) -> None:
        await self._http.aclose()

    async def version(self) -> str:
        if self._version is None:
            try:
                response = await self._http.get("/_ping", timeout=10)
            except httpx.TransportError as exc:
                raise self._unreachable() from exc
            self._version = negotiated_version(response.headers.get("Api-Version"))
        return self._version

    def _unreachable(self) -> EngineError:
        return EngineError(503, f"Cannot connect to the engine at {self.environment.endpoint}")

    async def _url(self, path: str) -> str:
        return f"/v{await self.version()}{path}"

    @asynccontextmanager
    async def stream(self, method: str, path: str, *, params: Params | None = None, body: Any = None,
                     content: bytes | None = None,
                     headers: Mapping[str, str] | None = None) -> AsyncIterator[httpx.Response]:
        """The response with its body unread; an error status raises :class:`EngineError`."""
        hdrs = dict(headers or {})
        if body is not None:
            content = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        query: Any = params
        request = self._http.build_request(method, await self._url(path), params=query, content=content,
                                           headers=hdrs)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._unreachable() from exc
        try:
            if response.status_code >= 400:
                status = response.status_code
                raise EngineError(status, _message(await response.aread(), status))
            yield response
        finally:
            await response.aclose()

    async def request(self, method: str, path: str, *, params: Params | None = None, body: Any = None,
                      content: bytes | None = None, headers: Mapping[str, str] | None = None) -> bytes:
        async with self.stream(method, path, params=params, body=body, content=content,
                               headers=headers) as response:
            return await response.aread()

    async def get_json(self, path: str, params: Params | None = None) -> Any:
        return json.loads(await self.request("GET", path, params=params))

    async def post_json(self, path: str, params: Params | None = None, body: Any = None) -> Any:
        raw = await self.request("POST", path, params=params, body=body)
        return json.loads(raw) if raw.strip() else None

    async def hijack(self, path: str, body: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """POST ``path`` with ``Upgrade: tcp`` and return the raw stream after ``101 UPGRADED``."""
        url = await self._url(path)
        reader, writer = await self.environment.transport.open_stream()
        payload = json.dumps(body).encode()
        head = (f"POST {url} HTTP/1.1\r\nHost: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
        writer.write(head + payload)
        await writer.drain()
        raw = await reader.readuntil(b"\r\n\r\n")
        status_line = raw.split(b"\r\n", 1)[0].decode(errors="replace")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 500
        if status not in (101, 200):
            rest = await asyncio.wait_for(reader.read(65536), 5)
            writer.close()
            raise EngineError(status, _message(rest.split(b"\r\n\r\n")[-1], status))
        return reader, writer


async def iter_json(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Concatenated JSON objects of a progress or event stream, one at a time."""
    decoder = json.JSONDecoder()
    buffer = ""
    async for chunk in response.aiter_text():
        buffer += chunk
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                obj, end = decoder.raw_decode(buffer)
            except ValueError:
                break
            buffer = buffer[end:]
            if isinstance(obj, dict):
                yield obj


async def iter_frames(response: httpx.Response, tty: bool) -> AsyncIterator[tuple[int, bytes]]:
    """Log/attach output as (stream, bytes): 8-byte frame headers without a TTY, raw with one."""
    if tty:
        async for chunk in response.aiter_bytes():
            yield 1, chunk
        return
    buffer = b""
    async for chunk in response.aiter_bytes():
        buffer += chunk
        while len(buffer) >= 8:
            size = int.from_bytes(buffer[4:8], "big")
            if len(buffer) < 8 + size:
                break
            yield buffer[0], buffer[8:8 + size]
            buffer = buffer[8 + size:]
