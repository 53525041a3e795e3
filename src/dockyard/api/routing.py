"""Route tables: each resource module declares its routes once; app.py mounts them with and
without Docker's ``/vX.Y`` prefix."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dockyard.api import web
from dockyard.core.engine import Engine

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ENGINE_KEY = web.AppKey("engine", Engine)
API_VERSION_KEY = web.RequestKey("api_version", str)


def engine(request: web.Request) -> Engine:
    return request.app[ENGINE_KEY]


def api_version(request: web.Request) -> str:
    """The API version the client asked for (the path prefix), else the newest we speak."""
    return request[API_VERSION_KEY]


def version_at_least(version: str, wanted: str) -> bool:
    """moby's ``versions.GreaterThanOrEqualTo`` for API versions such as ``1.42``."""
    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split(".") if p.isdigit())
    return parts(version) >= parts(wanted)


def api_at_least(request: web.Request, version: str) -> bool:
    """Whether the client speaks ``version`` or newer."""
    return version_at_least(api_version(request), version)


@dataclass
class RouteTable:
    routes: list[tuple[str, str, Handler]] = field(default_factory=list)

    def _add(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, path, handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("GET", path)

    def head(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("HEAD", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("POST", path)

    def put(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("PUT", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("DELETE", path)
