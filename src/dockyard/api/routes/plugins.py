"""``/plugins``: Docker's managed-plugin endpoints over core/plugins/managed.py and transfer.py.

Pull, push and upgrade stream JSON progress as image pulls do (api/routes/distribution.py); pull
and upgrade answer ``Docker-Plugin-Name``, which the docker client enables after ``install``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.api import web
from dockyard.api.params import json_response, query_bool, query_filters, query_int, read_bounded
from dockyard.api.routes.distribution import stream_progress
from dockyard.api.routing import RouteTable, engine
from dockyard.api.transfer import body_file
from dockyard.core.distribution.model import AuthConfig, decode_auth_header
from dockyard.core.distribution.progress import ProgressSink
from dockyard.core.plugins.managed import ManagedPlugins
from dockyard.core.plugins.transfer import PluginTransfer, install_name, remote_reference
from dockyard.errors import InvalidArgument, Unimplemented

table = RouteTable()


def _plugins(request: web.Request) -> ManagedPlugins:
    plugins = engine(request).managed_plugins
    if plugins is None:
        raise Unimplemented("this engine was built without managed plugins")
    return plugins


def _transfer(request: web.Request) -> PluginTransfer:
    transfer = engine(request).plugin_transfer
    if transfer is None:
        raise Unimplemented("this engine was built without a registry client for plugins")
    return transfer


def _remote(request: web.Request) -> str:
    remote = request.query.get("remote", "")
    if not remote:
        raise InvalidArgument("invalid reference format: remote is required")
    return remote


async def _json(request: web.Request, default: Any) -> Any:
    raw = await read_bounded(request)
    if not raw.strip():
        return default
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from exc


async def _granted(request: web.Request) -> list[Any]:
    """The privileges the client accepted; none sent is none accepted (moby's ReadJSON)."""
    granted = await _json(request, [])
    if not isinstance(granted, list):
        raise InvalidArgument("invalid privileges: expected a JSON array")
    return granted


Fetch = Callable[[AuthConfig, list[Any], ProgressSink], Awaitable[object]]


async def _stream_fetch(request: web.Request, name: str, fetch: Fetch) -> web.StreamResponse:
    """Pull and upgrade: the privileges the body grants and the header's registry auth go to
    ``fetch``, whose progress streams back under ``Docker-Plugin-Name``."""
    granted = await _granted(request)
    auth = decode_auth_header(request.headers.get("X-Registry-Auth"))

    async def run(sink: ProgressSink) -> None:
        await fetch(auth, granted, sink)
    return await stream_progress(request, run, headers={"Docker-Plugin-Name": name})


@table.get("/plugins")
async def list_plugins(request: web.Request) -> web.StreamResponse:
    plugins = _plugins(request).list(query_filters(request))
    return json_response([p.to_json() for p in plugins])


@table.get("/plugins/privileges")
async def get_privileges(request: web.Request) -> web.StreamResponse:
    auth = decode_auth_header(request.headers.get("X-Registry-Auth"))
    return json_response(await _transfer(request).privileges(_remote(request), auth))


@table.post("/plugins/pull")
async def pull(request: web.Request) -> web.StreamResponse:
    transfer = _transfer(request)
    remote = _remote(request)
    name = install_name(remote_reference(remote), request.query.get("name", ""))
    return await _stream_fetch(request, name, lambda auth, granted, sink: transfer.pull(
        remote, name, auth, granted, sink))


@table.post("/plugins/create")
async def create(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name", "")
    if not name:
        raise InvalidArgument("invalid reference format: name is required")
    plugins = _plugins(request)
    async with body_file(request, "plugin-") as context:
        await plugins.create(name, context)
    return web.Response(status=204)


@table.get("/plugins/{name:.+}/json")
async def inspect(request: web.Request) -> web.StreamResponse:
    return json_response(_plugins(request).inspect(request.match_info["name"]).to_json())


@table.delete("/plugins/{name:.+}")
async def remove(request: web.Request) -> web.StreamResponse:
    await _plugins(request).remove(request.match_info["name"], force=query_bool(request, "force"))
    return web.Response(status=200)


@table.post("/plugins/{name:.+}/enable")
async def enable(request: web.Request) -> web.StreamResponse:
    timeout = query_int(request, "timeout", 0) or 0
    await _plugins(request).enable(request.match_info["name"], timeout)
    return web.Response(status=200)


@table.post("/plugins/{name:.+}/disable")
async def disable(request: web.Request) -> web.StreamResponse:
    await _plugins(request).disable(request.match_info["name"], force=query_bool(request, "force"))
    return web.Response(status=200)


@table.post("/plugins/{name:.+}/upgrade")
async def upgrade(request: web.Request) -> web.StreamResponse:
    transfer = _transfer(request)
    name, remote = request.match_info["name"], _remote(request)
    remote_reference(remote)  # a bad reference is a 400 before anything streams
    return await _stream_fetch(request, name, lambda auth, granted, sink: transfer.upgrade(
        name, remote, auth, granted, sink))


@table.post("/plugins/{name:.+}/push")
async def push(request: web.Request) -> web.StreamResponse:
    transfer = _transfer(request)
    name = request.match_info["name"]
    auth = decode_auth_header(request.headers.get("X-Registry-Auth"))
    _plugins(request).inspect(name)  # unknown: a 404 before anything streams

    async def run(sink: ProgressSink) -> None:
        await transfer.push(name, auth, sink)
    return await stream_progress(request, run)


@table.post("/plugins/{name:.+}/set")
async def set_settings(request: web.Request) -> web.StreamResponse:
    args = await _json(request, [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise InvalidArgument("invalid settings: expected a JSON array of strings")
    await _plugins(request).set(request.match_info["name"], args)
    return web.Response(status=204)

