"""The Engine API application: version negotiation, error mapping, and every resource's routes."""

from __future__ import annotations

import logging
import re

from dockyard import API_VERSION, MIN_API_VERSION
from dockyard.api import web
from dockyard.api.errors import error_middleware
from dockyard.api.routing import API_VERSION_KEY, ENGINE_KEY, Handler, RouteTable
from dockyard.api.web import Middleware
from dockyard.core.engine import Engine
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

_VERSION_PREFIX = r"/v(?P<api_version>[0-9]+(?:\.[0-9]+)?)"  # Docker's /vX.Y before any route
_VERSION_RE = re.compile(r"^(\d+)(?:\.(\d+))?$")


def _version_tuple(version: str) -> tuple[int, int]:
    match = _VERSION_RE.match(version)
    if not match:
        raise InvalidArgument(f"invalid API version {version!r}")
    return int(match.group(1)), int(match.group(2) or 0)


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    requested = request.match_info.get("api_version")
    if requested is not None:
        wanted = _version_tuple(requested)
        if wanted > _version_tuple(API_VERSION):
            raise InvalidArgument(
                f"client version {requested} is too new. "
                f"Maximum supported API version is {API_VERSION}"
            )
        if wanted < _version_tuple(MIN_API_VERSION):
            raise InvalidArgument(
                f"client version {requested} is too old. Minimum supported API version is "
                f"{MIN_API_VERSION}, please upgrade your client to a newer version"
            )
    request[API_VERSION_KEY] = requested or API_VERSION
    response = await handler(request)
    if not response.prepared:
        _stamp(response)
    return response


def _stamp(response: web.StreamResponse) -> None:
    response.headers.setdefault("Api-Version", API_VERSION)
    response.headers.setdefault("Docker-Experimental", "false")
    response.headers.setdefault("Ostype", "linux")
    response.headers.setdefault("Server", "Dockyard (linux)")


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    _stamp(response)


def _tables() -> list[RouteTable]:
    from dockyard.api.routes import archive, containers, distribution, execs, images, system, volumes
    from dockyard.api.routes import build as build_routes
    from dockyard.api.routes import buildkit as buildkit_routes
    from dockyard.api.routes import events as event_routes
    from dockyard.api.routes import networks as network_routes
    from dockyard.api.routes import plugins as plugin_routes
    from dockyard.api.routes import resources as resource_routes
    from dockyard.api.routes import secrets as secret_routes
    from dockyard.api.routes import services as service_routes
    from dockyard.api.routes import swarm as swarm_routes

    return [system.table, containers.table, execs.table, images.table, volumes.table, archive.table,
            distribution.table, build_routes.table, network_routes.table,
            resource_routes.table, event_routes.table,
            swarm_routes.table, service_routes.table, secret_routes.table,
            buildkit_routes.table, plugin_routes.table]


def build_app(engine: Engine, extra_middlewares: tuple[Middleware, ...] = ()) -> web.Application:
    # The error middleware is outermost so version errors are mapped too; extra ones (metrics
    # timing) sit outside it and see every request's whole duration.
    from dockyard.api.authz import engine_middlewares

    # Authorization plugins see every request inside the error mapping, as moby's outermost one.
    app = web.Application(middlewares=[*extra_middlewares, error_middleware, *engine_middlewares(engine),
                                       version_middleware])
    app[ENGINE_KEY] = engine
    app.on_response_prepare.append(_on_prepare)
    from dockyard.api.routes import buildkit as buildkit_routes

    buildkit_routes.install(app, engine)
    app.router.allow_prefix(_VERSION_PREFIX)
    for table in _tables():
        for method, path, handler in table.routes:
            app.router.add_route(method, path, handler)
    return app
