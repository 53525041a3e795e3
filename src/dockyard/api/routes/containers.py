"""``/containers/...``: Docker's container endpoints over the container service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from dockyard.api import web, wire
from dockyard.api.hijack import (
    Duplex,
    Hijacked,
    HijackedResponse,
    frame,
    hijack,
    parse_detach_keys,
    pump,
    stream_content_type,
)
from dockyard.api.params import json_body, json_response, query_bool, query_filters, query_int
from dockyard.api.routing import RouteTable, api_at_least, api_version, engine
from dockyard.api.websocket import WebSocketDuplex
from dockyard.core.containers.logs import LogEntry, LogOptions, parse_unix_ns
from dockyard.core.containers.model import Container
from dockyard.core.containers.mounts import volume_driver_warning
from dockyard.core.containers.service import ContainerService
from dockyard.core.runtime.backend import StdioStream
from dockyard.errors import InvalidArgument, NotFound, Unimplemented

log = logging.getLogger(__name__)
table = RouteTable()


def _service(request: web.Request) -> ContainerService:
    return engine(request).containers


def _no_content() -> web.Response:
    return web.Response(status=204)


@table.post("/containers/create")
async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, allow_empty=False)
    create_request = wire.create_request(
        body, name=request.query.get("name", ""), platform=request.query.get("platform", ""),
        default_runtime=engine(request).config.default_runtime)
    container = await _service(request).create(create_request)
    warning = volume_driver_warning(create_request.host.raw) if api_at_least(request, "1.48") else ""
    return json_response({"Id": container.id, "Warnings": [warning] if warning else []}, status=201)


@table.get("/containers/json")
async def list_containers(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    containers = await service.list(all=query_bool(request, "all"), limit=query_int(request, "limit"),
                                    filters=query_filters(request))
    with_size = query_bool(request, "size")
    result = []
    for container in containers:
        size = await service.files.size(container) if with_size else None
        result.append(wire.summary_json(container, size))
    return json_response(result)


@table.get("/containers/{id}/json")
async def inspect(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    container = await service.inspect(request.match_info["id"])
    data = wire.inspect_json(container, paths=service.paths(container),
                             exec_ids=service.exec_ids(container),
                             graph_data=await service.files.graph_data(container))
    if query_bool(request, "size"):
        data["SizeRw"], data["SizeRootFs"] = await service.files.size(container)
    data["LogPath"] = service.logging.log_path(container, service.paths(container).root)
    return json_response(data)


@table.post("/containers/{id}/start")
async def start(request: web.Request) -> web.StreamResponse:
    await _service(request).start(request.match_info["id"])
    return _no_content()


@table.post("/containers/{id}/stop")
async def stop(request: web.Request) -> web.StreamResponse:
    await _service(request).stop(request.match_info["id"], timeout=query_int(request, "t"),
                                 signal=request.query.get("signal") or None)
    return _no_content()


@table.post("/containers/{id}/restart")
async def restart(request: web.Request) -> web.StreamResponse:
    await _service(request).restart(request.match_info["id"], timeout=query_int(request, "t"),
                                    signal=request.query.get("signal") or None)
    return _no_content()


@table.post("/containers/{id}/kill")
async def kill(request: web.Request) -> web.StreamResponse:
    await _service(request).kill(request.match_info["id"], signal=request.query.get("signal") or None)
    return _no_content()


@table.post("/containers/{id}/wait")
async def wait(request: web.Request) -> web.StreamResponse:
    # Headers go out as soon as the waiter is registered: the CLI starts the container only
    # after its wait request has been answered that far (moby flushes them the same way).
    task = _service(request).wait(request.match_info["id"], request.query.get("condition", ""))
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    try:
        await response.prepare(request)
        while not task.done():
            # The server does not cancel a handler whose client left: look now and then, so a
            # waiter whose client went away (docker run killed with ^C) does not linger.
            await asyncio.wait({task}, timeout=1.0)
            if request.transport is None or request.transport.is_closing():
                log.debug("wait %s: client went away", request.match_info["id"])
                return response
        result = task.result()
    finally:
        task.cancel()
    body: dict[str, object] = {"StatusCode": result.status_code}
    if result.error:
        body["Error"] = {"Message": result.error}
    with contextlib.suppress(ConnectionError):
        await response.write(json.dumps(body).encode() + b"\n")
        await response.write_eof()
    return response


@table.post("/containers/{id}/pause")
async def pause(request: web.Request) -> web.StreamResponse:
    await _service(request).pause(request.match_info["id"])
    return _no_content()


@table.post("/containers/{id}/unpause")
async def unpause(request: web.Request) -> web.StreamResponse:
    await _service(request).unpause(request.match_info["id"])
    return _no_content()


@table.post("/containers/{id}/rename")
async def rename(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name", "")
    if not name:
        raise InvalidArgument("Neither old nor new names may be empty")
    await _service(request).rename(request.match_info["id"], name)
    return _no_content()


@table.post("/containers/{id}/resize")
async def resize(request: web.Request) -> web.StreamResponse:
    await _service(request).resize(request.match_info["id"], height=query_int(request, "h", 0) or 0,
                                   width=query_int(request, "w", 0) or 0)
    return web.Response(status=200)


@table.delete("/containers/{id}")
async def remove(request: web.Request) -> web.StreamResponse:
    if query_bool(request, "link"):
        raise InvalidArgument("Conflict, cannot remove the default link name of the container")
    await _service(request).remove(request.match_info["id"], force=query_bool(request, "force"),
                                   volumes=query_bool(request, "v"))
    return _no_content()


@table.delete("/containers/{parent:.+}/{alias}")
async def remove_link(request: web.Request) -> web.StreamResponse:
    """``docker rm --link /parent/alias``: the name of a link has the parent's name before a slash."""
    name = f"{request.match_info['parent']}/{request.match_info['alias']}"
    if not query_bool(request, "link"):
        raise NotFound(f"No such container: {name}")
    _service(request).remove_link(name)
    return _no_content()


@table.post("/containers/prune")
async def prune(request: web.Request) -> web.StreamResponse:
    report = await _service(request).prune(query_filters(request))
    return json_response({"ContainersDeleted": report.deleted or None,
                          "SpaceReclaimed": report.space_reclaimed})


@table.get("/containers/{id}/top")
async def top(request: web.Request) -> web.StreamResponse:
    table_ = await _service(request).top(request.match_info["id"], request.query.get("ps_args", ""))
    return json_response({"Titles": table_.titles, "Processes": table_.processes})


@table.get("/containers/{id}/changes")
async def changes(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    found = await service.files.changes(await service.inspect(request.match_info["id"]))
    return json_response([{"Path": path, "Kind": kind} for kind, path in found] or None)


def _log_options(request: web.Request, *, follow_default: bool = False) -> LogOptions:
    tail_raw = request.query.get("tail", "all")
    tail: int | None = None
    if tail_raw not in ("", "all"):
        try:
            tail = max(0, int(tail_raw))
        except ValueError as exc:
            raise InvalidArgument(f"invalid value for tail: {tail_raw!r}") from exc
    try:
        since = parse_unix_ns(request.query.get("since", ""))
        until = parse_unix_ns(request.query.get("until", ""))
    except ValueError as exc:
        raise InvalidArgument(f"invalid value for since or until: {exc}") from exc
    return LogOptions(stdout=query_bool(request, "stdout"), stderr=query_bool(request, "stderr"),
                      follow=query_bool(request, "follow", follow_default), since_ns=since,
                      until_ns=until, tail=tail, timestamps=query_bool(request, "timestamps"))


def _log_bytes(entry: LogEntry, *, tty: bool, timestamps: bool) -> bytes:
    data = (entry.timestamp.encode() + b" " + entry.data) if timestamps else entry.data
    return data if tty else frame(entry.stream, data)


@table.get("/containers/{id}/logs")
async def logs(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    container = await service.inspect(request.match_info["id"])
    options = _log_options(request)
    if not (options.stdout or options.stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tty = container.config.tty
    entries = service.logs(container, options)  # refuses (none, cache-disabled) before the 200
    response = web.StreamResponse(
        status=200, headers={"Content-Type": stream_content_type(tty, api_version(request))})
    await response.prepare(request)
    async for entry in entries:
        await response.write(_log_bytes(entry, tty=tty, timestamps=options.timestamps))
    await response.write_eof()
    return response


@table.post("/containers/{id}/attach")
async def attach(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    container = await service.inspect(request.match_info["id"])
    want_stream = query_bool(request, "stream")
    pending = service.attach(container) if want_stream else None
    tty = container.config.tty
    # Docker scans for detach keys on TTY attaches only.
    keys = parse_detach_keys(request.query.get("detachKeys", "")) if tty else b""
    conn = hijack(request, stream_content_type(tty, api_version(request)))
    try:
        if query_bool(request, "logs"):
            await _replay_logs(service, container, conn, request)
        if pending is not None:
            stream = await _await_or_gone(pending, conn)
            if stream is not None:
                await pump(conn, stream, tty=tty, stdin=query_bool(request, "stdin"),
                           stdout=query_bool(request, "stdout"), stderr=query_bool(request, "stderr"),
                           detach_keys=keys)
    except (ConnectionError, asyncio.CancelledError):
        log.debug("attach to %s ended by the client", container.id[:12])
    except Exception:  # noqa: BLE001 - the 101 is out: all we can do is log and hang up
        log.exception("attach to %s failed", container.id[:12])
    finally:
        if pending is not None:
            pending.cancel()
        conn.close()
    return HijackedResponse()


@table.get("/containers/{id}/attach/ws")
async def attach_ws(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    container = await service.inspect(request.match_info["id"])
    pending = service.attach(container) if query_bool(request, "stream") else None
    conn = WebSocketDuplex(request)
    try:
        if query_bool(request, "logs"):
            options = LogOptions(stdout=query_bool(request, "stdout"), stderr=query_bool(request, "stderr"))
            async for entry in service.logs(container, options):
                await conn.write(entry.data)
        if pending is not None and (stream := await _await_or_gone(pending, conn)) is not None:
            await pump(conn, stream, tty=container.config.tty, stdin=query_bool(request, "stdin"),
                       stdout=query_bool(request, "stdout"), stderr=query_bool(request, "stderr"),
                       raw=True)
    except (ConnectionError, asyncio.CancelledError):
        log.debug("websocket attach to %s ended by the client", container.id[:12])
    finally:
        if pending is not None:
            pending.cancel()
        conn.close()
    return HijackedResponse()


async def _replay_logs(service: ContainerService, container: Container, conn: Hijacked,
                       request: web.Request) -> None:
    options = LogOptions(stdout=query_bool(request, "stdout"), stderr=query_bool(request, "stderr"))
    try:
        entries = service.logs(container, options)
    except Unimplemented:  # a driver docker logs cannot read: attach shows live output only
        return
    async for entry in entries:
        await conn.write(_log_bytes(entry, tty=container.config.tty, timestamps=False))


async def _await_or_gone(pending: asyncio.Future[StdioStream], conn: Duplex) -> StdioStream | None:
    """The stream once the container starts, or None when the client hangs up first."""
    gone: asyncio.Future[Any] = asyncio.ensure_future(conn.closed.wait())
    waiting: set[asyncio.Future[Any]] = {pending, gone}
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not pending.done():
        return None
    with contextlib.suppress(asyncio.CancelledError):
        return pending.result()
    return None
