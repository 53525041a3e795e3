"""The UI's asynchronous Engine API client: one per environment, version negotiated at ``/_ping``.

aiohttp's client rather than httpx (which the CLI uses): engines send a log as one HTTP chunk per
line, and aiohttp's C parser hands over whatever arrived in one piece, where h11 parses each of
100,000 chunks in Python (12 s against 2 s for a 100,000-line log here).

Errors are :class:`EngineError` carrying the engine's status and ``{"message"}`` so the UI's own API
can pass Docker's text through unchanged.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from dockyard.cli.client import negotiated_version, split_json_objects
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
        self._base = environment.base_url()
        self._session: aiohttp.ClientSession | None = None
        self._version: str | None = None

    @property
    def _http(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the running loop, which the app's
        # construction precedes.
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=self.environment.transport.connector(),
                                                  timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def version(self) -> str:
        if self._version is None:
            try:
                async with self._http.get(f"{self._base}/_ping",
                                          timeout=aiohttp.ClientTimeout(total=10)) as response:
                    header = response.headers.get("Api-Version")
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise self._unreachable() from exc
            self._version = negotiated_version(header)
        return self._version

    def _unreachable(self) -> EngineError:
        return EngineError(503, f"Cannot connect to the engine at {self.environment.endpoint}")

    async def _url(self, path: str) -> str:
        return f"/v{await self.version()}{path}"

    @asynccontextmanager
    async def stream(self, method: str, path: str, *, params: Params | None = None, body: Any = None,
                     content: bytes | None = None,
                     headers: Mapping[str, str] | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response with its body unread; an error status raises :class:`EngineError`."""
        hdrs = dict(headers or {})
        if body is not None:
            content = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        url = self._base + await self._url(path)
        try:
            response = await self._http.request(method, url, params=params, data=content, headers=hdrs)
        except (aiohttp.ClientError, OSError) as exc:
            raise self._unreachable() from exc
        try:
            if response.status >= 400:
                raise EngineError(response.status, _message(await response.read(), response.status))
            yield response
        finally:
            response.release()

    async def request(self, method: str, path: str, *, params: Params | None = None, body: Any = None,
                      content: bytes | None = None, headers: Mapping[str, str] | None = None) -> bytes:
        async with self.stream(method, path, params=params, body=body, content=content,
                               headers=headers) as response:
            return await response.read()

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


async def iter_json(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """Concatenated JSON objects of a progress or event stream, one at a time."""
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    buffer = ""
    async for chunk in response.content.iter_any():
        objects, buffer = split_json_objects(buffer + text.decode(chunk))
        for obj in objects:
            yield obj


async def iter_output(response: aiohttp.ClientResponse, tty: bool) -> AsyncIterator[bytes]:
    """Log output with the frame headers removed, one piece per read from the engine: a log of
    100,000 short lines is a few hundred writes to the browser, not 100,000."""
    if tty:
        async for chunk in response.content.iter_any():
            yield chunk
        return
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        out: list[bytes] = []
        start = 0
        while len(buffer) - start >= 8:
            size = int.from_bytes(buffer[start + 4:start + 8], "big")
            if len(buffer) - start < 8 + size:
                break
            out.append(buffer[start + 8:start + 8 + size])
            start += 8 + size
        buffer = buffer[start:]
        if out:
            yield b"".join(out)
