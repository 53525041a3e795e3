"""The UI API for containers: actions (one or many), the create/run form, inspect, top, archive
download, and the exec console (a WebSocket bridged to the engine's hijacked exec)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
from typing import Any

from aiohttp import WSMsgType, web

from dockyard.ui import redact
from dockyard.ui.context import engine_of, json_body, json_error, session_of, text_field
from dockyard.ui.engine import Engine, EngineError

log = logging.getLogger(__name__)

ACTIONS = frozenset({"start", "stop", "restart", "kill", "pause", "unpause"})
_POLICIES = frozenset({"", "no", "always", "on-failure", "unless-stopped"})


async def _act(engine: Engine, ident: str, action: str) -> None:
    if action == "remove":
        await engine.request("DELETE", f"/containers/{ident}", params={"force": "1", "v": "1"})
        return
    try:
        await engine.request("POST", f"/containers/{ident}/{action}")
    except EngineError as exc:
        if exc.status != 304:  # already started / already stopped: nothing to do, as docker says
            raise


async def action(request: web.Request) -> web.StreamResponse:
    name = request.match_info["action"]
    if name not in ACTIONS:
        return json_error(400, f"unknown action {name!r}")
    await _act(engine_of(request), request.match_info["id"], name)
    return web.json_response({"ok": True})


async def remove(request: web.Request) -> web.StreamResponse:
    await _act(engine_of(request), request.match_info["id"], "remove")
    return web.json_response({"ok": True})


async def bulk(request: web.Request) -> web.StreamResponse:
    """One action on many containers; each result is reported, one failure does not stop the rest."""
    body = await json_body(request)
    name = text_field(body, "action", required=True)
    ids = body.get("ids")
    if name not in ACTIONS | {"remove"}:
        return json_error(400, f"unknown action {name!r}")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return json_error(400, "ids must be a non-empty list of container IDs")
    engine = engine_of(request)
    results = await asyncio.gather(*(_act(engine, i, name) for i in ids), return_exceptions=True)
    errors = {i: (r.message if isinstance(r, EngineError) else str(r))
              for i, r in zip(ids, results, strict=True) if isinstance(r, BaseException)}
    return web.json_response({"errors": errors}, status=207 if errors else 200)


def _lines(value: Any, key: str) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, str):
        raise web.HTTPBadRequest(text=json.dumps({"message": f"{key} must be text"}),
                                 content_type="application/json")
    return [line.strip() for line in value.splitlines() if line.strip()]


def _ports(specs: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``[ip:]host:container[/proto]`` lines → ExposedPorts and PortBindings."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        left, _, proto = spec.partition("/")
        parts = left.rsplit(":", 2)
        if not parts[-1].isdigit() or any(p and not p.replace(".", "").isdigit() for p in parts[-2:-1]):
            raise web.HTTPBadRequest(text=json.dumps({"message": f"invalid port specification: {spec!r}"}),
                                     content_type="application/json")
        key = f"{parts[-1]}/{proto or 'tcp'}"
        exposed[key] = {}
        host_ip = parts[0] if len(parts) == 3 else ""
        host_port = parts[-2] if len(parts) >= 2 else ""
        bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": host_port})
    return exposed, bindings


def create_body(form: dict[str, Any]) -> dict[str, Any]:
    """The create form → the Engine API's ContainerCreate body; every field is applied or refused."""
    image = text_field(form, "image", required=True)
    policy = text_field(form, "restart")
    if policy not in _POLICIES:
        raise web.HTTPBadRequest(text=json.dumps({"message": f"invalid restart policy {policy!r}"}),
                                 content_type="application/json")
    exposed, bindings = _ports(_lines(form.get("ports"), "ports"))
    labels = dict(line.partition("=")[::2] for line in _lines(form.get("labels"), "labels"))
    host: dict[str, Any] = {"PortBindings": bindings, "Binds": _lines(form.get("volumes"), "volumes"),
                            "RestartPolicy": {"Name": policy}}
    network = text_field(form, "network")
    if network:
        host["NetworkMode"] = network
    memory, cpus = text_field(form, "memory"), text_field(form, "cpus")
    try:
        if memory:
            host["Memory"] = int(float(memory) * 1024 * 1024)
        if cpus:
            host["NanoCpus"] = int(float(cpus) * 1e9)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"message": f"invalid resource limit: {exc}"}),
                                 content_type="application/json") from exc
    body: dict[str, Any] = {"Image": image, "Env": _lines(form.get("env"), "env"), "Labels": labels,
                            "ExposedPorts": exposed, "HostConfig": host}
    command = text_field(form, "command")
    if command:
        body["Cmd"] = shlex.split(command)
    return body


async def create(request: web.Request) -> web.StreamResponse:
    form = await json_body(request)
    body = create_body(form)
    engine = engine_of(request)
    params = {"name": text_field(form, "name")} if text_field(form, "name") else None
    created = await engine.post_json("/containers/create", params=params, body=body)
    ident = created["Id"]
    if form.get("start", True):
        try:
            await engine.request("POST", f"/containers/{ident}/start")
        except EngineError:
            # Nothing half-made: a container that could not start is removed again, as `run` would fail.
            with contextlib.suppress(EngineError):
                await engine.request("DELETE", f"/containers/{ident}", params={"force": "1"})
            raise
    return web.json_response({"Id": ident}, status=201)


async def inspect(request: web.Request) -> web.StreamResponse:
    data = await engine_of(request).get_json(f"/containers/{request.match_info['id']}/json")
    return web.json_response(redact.container(data))


async def top(request: web.Request) -> web.StreamResponse:
    return web.json_response(await engine_of(request).get_json(f"/containers/{request.match_info['id']}/top"))


async def archive(request: web.Request) -> web.StreamResponse:
    if session_of(request).read_only:  # a file can hold what the page never shows (keys, .env)
        return json_error(403, f"user {session_of(request).user!r} is read-only")
    path = request.query.get("path", "")
    if not path.startswith("/"):
        return json_error(400, "path must be absolute")
    engine = engine_of(request)
    async with engine.stream("GET", f"/containers/{request.match_info['id']}/archive",
                             params={"path": path}) as upstream:
        name = (path.rstrip("/").rsplit("/", 1)[-1] or "root") + ".tar"
        response = web.StreamResponse(headers={"Content-Type": "application/x-tar",
                                               "Content-Disposition": f'attachment; filename="{name}"'})
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def console(request: web.Request) -> web.StreamResponse:
    """xterm.js ⇄ WebSocket ⇄ hijacked ``exec start`` (TTY); resize messages become ``exec resize``."""
    ws = web.WebSocketResponse(heartbeat=30)
    if not ws.can_prepare(request).ok:
        # Only a WebSocket handshake (which the middleware checked for CSRF and origin) may make an exec.
        return json_error(400, "the console needs a WebSocket handshake")
    engine = engine_of(request)
    cmd = shlex.split(request.query.get("cmd") or "sh")
    created = await engine.post_json(f"/containers/{request.match_info['id']}/exec", body={
        "AttachStdin": True, "AttachStdout": True, "AttachStderr": True, "Tty": True, "Cmd": cmd})
    exec_id = created["Id"]
    await ws.prepare(request)
    try:
        reader, writer = await engine.hijack(f"/exec/{exec_id}/start", {"Detach": False, "Tty": True})
    except EngineError as exc:
        await ws.send_str(f"\r\n{exc.message}\r\n")
        await ws.close()
        return ws
    pump = asyncio.create_task(_engine_to_browser(reader, ws))
    try:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                writer.write(msg.data)
                await writer.drain()
            elif msg.type == WSMsgType.TEXT:
                await _control(engine, exec_id, msg.data)
    finally:
        pump.cancel()
        writer.close()
    return ws


async def _control(engine: Engine, exec_id: str, text: str) -> None:
    try:
        message = json.loads(text)
    except ValueError:
        return
    if isinstance(message, dict) and message.get("type") == "resize":
        rows, cols = int(message.get("rows") or 24), int(message.get("cols") or 80)
        with contextlib.suppress(EngineError):
            await engine.request("POST", f"/exec/{exec_id}/resize", params={"h": str(rows), "w": str(cols)})


async def _engine_to_browser(reader: asyncio.StreamReader, ws: web.WebSocketResponse) -> None:
    try:
        while chunk := await reader.read(65536):
            await ws.send_bytes(chunk)
    except (ConnectionError, RuntimeError):
        pass
    finally:
        if not ws.closed:
            await ws.close()


def setup(app: web.Application) -> None:
    base = "/api/e/{env}/containers"
    app.router.add_post(base, create)
    app.router.add_post(f"{base}/bulk", bulk)
    app.router.add_post(base + "/{id}/{action}", action)
    app.router.add_delete(base + "/{id}", remove)
    app.router.add_get(base + "/{id}/inspect", inspect)
    app.router.add_get(base + "/{id}/top", top)
    app.router.add_get(base + "/{id}/archive", archive)
    app.router.add_get(base + "/{id}/console", console)
