"""``/containers/{id}/exec`` and ``/exec/...``: exec sessions, started on a hijacked stream."""

from __future__ import annotations

import contextlib
import logging

from dockyard.api import web, wire
from dockyard.api.hijack import (
    HijackedResponse,
    frame,
    hijack,
    parse_detach_keys,
    pump,
    stream_content_type,
)
from dockyard.api.params import json_body, json_response, query_int
from dockyard.api.routing import RouteTable, api_version, engine
from dockyard.errors import DockyardError, InvalidArgument

log = logging.getLogger(__name__)
table = RouteTable()


@table.post("/containers/{id}/exec")
async def exec_create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, allow_empty=False)
    config = wire.exec_config(body)
    session = await engine(request).containers.execs.create(request.match_info["id"], config)
    return json_response({"Id": session.id}, status=201)


@table.post("/exec/{id}/start")
async def exec_start(request: web.Request) -> web.StreamResponse:
    service = engine(request).containers
    exec_id = request.match_info["id"]
    body = await json_body(request)
    size = body.get("ConsoleSize")
    # [0, 0] (also what Go makes of [null, null]) is no size, as for containers/create.
    console_size = (int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 \
        and size[0] and size[1] else None
    detach = bool(body.get("Detach"))
    if detach:
        await service.execs.start(exec_id, detach=True, console_size=console_size)
        return web.Response(status=200)
    config = service.execs.inspect(exec_id).config  # 404 before the upgrade
    # As moby: the process gets the TTY of exec create; the start body's Tty only says whether
    # the stream is raw (TTY) or multiplexed in 8-byte frames.
    use_tty = bool(body["Tty"]) if "Tty" in body else config.tty
    conn = hijack(request, stream_content_type(use_tty, api_version(request)))
    try:
        process = await service.execs.start(exec_id, detach=False, console_size=console_size)
    except DockyardError as exc:
        # As dockerd: once upgraded, a start failure is text on the stream; the exit code (126 or
        # 127) is in the exec's inspect, where the CLI reads it.
        message = f"{exc}\r\n".encode()
        with contextlib.suppress(ConnectionError):
            await conn.write(message if use_tty else frame(1, message))
        conn.close()
        return HijackedResponse()
    assert process is not None
    keys = parse_detach_keys(config.detach_keys) if config.tty and config.attach_stdin else b""
    try:
        # Wait for the exit code before hanging up: the CLI inspects the exec right after.
        await pump(conn, process, tty=use_tty, stdin=config.attach_stdin,
                   stdout=config.attach_stdout or not config.attach_stdin,
                   stderr=config.attach_stderr or not config.attach_stdin,
                   before_close=lambda: service.execs.wait(exec_id), detach_keys=keys)
    except ConnectionError:
        log.debug("exec %s: client went away", exec_id[:12])
    except Exception:  # noqa: BLE001 - the 101 is out: log and hang up
        log.exception("exec %s failed", exec_id[:12])
    finally:
        conn.close()
    return HijackedResponse()


@table.post("/exec/{id}/resize")
async def exec_resize(request: web.Request) -> web.StreamResponse:
    height, width = query_int(request, "h"), query_int(request, "w")
    if height is None or width is None:
        raise InvalidArgument("h and w are required")
    await engine(request).containers.execs.resize(request.match_info["id"], height=height, width=width)
    return web.Response(status=201)


@table.get("/exec/{id}/json")
async def exec_inspect(request: web.Request) -> web.StreamResponse:
    session = engine(request).containers.execs.inspect(request.match_info["id"])
    return json_response(wire.exec_json(session))
