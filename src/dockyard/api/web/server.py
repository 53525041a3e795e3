"""Serving an application on UNIX sockets and tcp (with TLS), and stopping it."""

from __future__ import annotations

import asyncio
import logging
import ssl

from dockyard.api.web.app import Application
from dockyard.api.web.protocol import HttpProtocol

log = logging.getLogger(__name__)

BACKLOG = 1024  # dockerd's listeners take the kernel's somaxconn; bursts of clients queue here


class Server:
    """The application and the connections it serves."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.connections: set[HttpProtocol] = set()
        self.answered = 0  # requests answered so far (hijacked ones included)

    @property
    def busy(self) -> bool:
        """Whether a request is being answered (hijacked connections no longer count)."""
        return any(conn.busy for conn in self.connections)

    def protocol(self) -> HttpProtocol:
        return HttpProtocol(self)

    async def shutdown(self, timeout: float) -> None:
        """Close idle connections, give requests in progress ``timeout`` seconds, then stop the rest."""
        for conn in list(self.connections):
            if not conn.busy:
                conn.close()
        deadline = asyncio.get_running_loop().time() + timeout
        while any(conn.busy for conn in self.connections):
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.abort()


class AppRunner:
    def __init__(self, app: Application, *, shutdown_timeout: float = 60.0) -> None:
        self.app = app
        self.server = Server(app)
        self.shutdown_timeout = shutdown_timeout
        self.sites: list[BaseSite] = []

    async def setup(self) -> None:
        for hook in self.app.on_startup:
            await hook(self.app)

    async def cleanup(self) -> None:
        for site in self.sites:
            await site.stop()
        await self.server.shutdown(self.shutdown_timeout)
        for hook in self.app.on_cleanup:
            await hook(self.app)


class BaseSite:
    def __init__(self, runner: AppRunner, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._runner = runner
        self._ssl = ssl_context
        self._listener: asyncio.Server | None = None
        runner.sites.append(self)

    async def _listen(self) -> asyncio.Server:
        raise NotImplementedError

    async def start(self) -> None:
        self._listener = await self._listen()

    @property
    def addresses(self) -> list[object]:
        """Where the site listens (``getsockname`` of each socket): the port a site on port 0 got."""
        sockets = self._listener.sockets if self._listener is not None else ()
        return [sock.getsockname() for sock in sockets]

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


class TCPSite(BaseSite):
    def __init__(self, runner: AppRunner, host: str | None = None, port: int = 0, *,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self.host, self.port = host, port

    async def _listen(self) -> asyncio.Server:
        return await asyncio.get_running_loop().create_server(
            self._runner.server.protocol, self.host, self.port, ssl=self._ssl, backlog=BACKLOG,
            reuse_address=True)


class UnixSite(BaseSite):
    def __init__(self, runner: AppRunner, path: str, *, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self.path = path

    async def _listen(self) -> asyncio.Server:
        return await asyncio.get_running_loop().create_unix_server(
            self._runner.server.protocol, self.path, ssl=self._ssl, backlog=BACKLOG)
