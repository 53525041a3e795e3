"""The Engine API application served in the test's own loop on 127.0.0.1, with an aiohttp client
session for it: ``await client.get("/_ping")`` as against a daemon, without one."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp

from dockyard.api import web


class AppClient:
    def __init__(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        self._session: aiohttp.ClientSession | None = None
        self.host = "127.0.0.1"
        self.port = 0

    async def start_server(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(site.addresses[0][1])  # type: ignore[index]
        self._session = aiohttp.ClientSession(f"http://{self.host}:{self.port}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self._runner.cleanup()

    async def __aenter__(self) -> AppClient:
        await self.start_server()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self._session is not None, "start_server() first"
        return self._session.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Any:
        return self.request("HEAD", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)
