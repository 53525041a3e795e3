"""Stacks: compose projects as the engine's labels show them (``com.docker.compose.project`` and
``.service``), start/stop/restart/down of their containers, their services' logs, and deploying a
pasted compose file through the project's own compose package.

The compose package is imported lazily by name, so the UI runs without it; deploying then answers
501 with a clear reason. What the UI uses from ``dockyard.compose`` is its adapter entry points,
``load_text(text, name=…, environ=…)`` and ``deploy(project, Client(host))`` (or, if it offers one,
a ready ``ui_deployer()`` returning a :class:`ComposeDeployer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import json
import logging
import re
from typing import Any, Protocol

from aiohttp import web

from dockyard.ui.context import engine_of, json_body, json_error, text_field
from dockyard.ui.engine import Engine, EngineError, iter_output

log = logging.getLogger(__name__)

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # Compose's rule for project names


class ComposeUnavailable(Exception):
    pass


class ComposeDeployer(Protocol):
    """What the UI needs from ``dockyard.compose``; calls are blocking and run in a thread."""

    def up(self, *, host: str, project: str, compose_text: str) -> None: ...

    def down(self, *, host: str, project: str) -> None: ...


def deployer_available() -> bool:
    return importlib.util.find_spec("dockyard.compose") is not None


def load_deployer() -> ComposeDeployer:
    if not deployer_available():
        raise ComposeUnavailable("deploying a compose file is not available: the dockyard.compose "
                                 "package is not installed")
    module = importlib.import_module("dockyard.compose")
    factory = getattr(module, "ui_deployer", None)
    if callable(factory):
        deployer: ComposeDeployer = factory()
        return deployer
    if callable(getattr(module, "load_text", None)) and callable(getattr(module, "deploy", None)):
        return _PackageDeployer(module)
    raise ComposeUnavailable("deploying a compose file is not available: dockyard.compose has "
                             "neither load_text()/deploy() nor ui_deployer()")


class _PackageDeployer:
    """``dockyard.compose``'s adapter entry points behind :class:`ComposeDeployer`."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def up(self, *, host: str, project: str, compose_text: str) -> None:
        from dockyard.cli.client import Client

        # An empty environment: interpolation must not see the UI process's own variables.
        loaded = self._module.load_text(compose_text, name=project, environ={})
        client = Client(host)
        try:
            self._module.deploy(loaded, client)
        finally:
            client.close()

    def down(self, *, host: str, project: str) -> None:
        raise NotImplementedError("down goes through the engine's labels (stacks.action)")


def projects(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Containers grouped by project, then service, with a per-project state summary."""
    found: dict[str, dict[str, Any]] = {}
    for c in containers:
        labels = c.get("Labels") or {}
        name = labels.get(PROJECT)
        if not name:
            continue
        project = found.setdefault(name, {"name": name, "services": {}, "running": 0, "total": 0})
        project["services"].setdefault(labels.get(SERVICE, "?"), []).append(c)
        project["total"] += 1
        project["running"] += c.get("State") == "running"
    return [dict(p, services=dict(sorted(p["services"].items()))) for _, p in sorted(found.items())]


async def _members(engine: Engine, project: str) -> list[dict[str, Any]]:
    filters = json.dumps({"label": [f"{PROJECT}={project}"]})
    items: list[dict[str, Any]] = await engine.get_json("/containers/json", {"all": "1", "filters": filters})
    if not items:
        raise EngineError(404, f"No such project: {project}")
    return items


async def _each(engine: Engine, items: list[dict[str, Any]], method: str, suffix: str,
                params: dict[str, str] | None = None) -> None:
    async def one(ident: str) -> None:
        try:
            await engine.request(method, f"/containers/{ident}{suffix}", params=params)
        except EngineError as exc:
            if exc.status != 304:
                raise
    await asyncio.gather(*(one(c["Id"]) for c in items))


async def action(request: web.Request) -> web.StreamResponse:
    engine, project, verb = engine_of(request), request.match_info["project"], request.match_info["verb"]
    items = await _members(engine, project)
    if verb in ("start", "stop", "restart"):
        await _each(engine, items, "POST", f"/{verb}")
    else:  # down: containers, then the project's networks, as `compose down` (volumes are kept)
        await _each(engine, items, "DELETE", "", {"force": "1"})
        filters = json.dumps({"label": [f"{PROJECT}={project}"]})
        for net in await engine.get_json("/networks", {"filters": filters}):
            with contextlib.suppress(EngineError):
                await engine.request("DELETE", f"/networks/{net['Id']}")
    return web.json_response({"ok": True})


async def logs(request: web.Request) -> web.StreamResponse:
    """The last lines of every service's containers, each line prefixed ``service-n |``."""
    engine = engine_of(request)
    items = await _members(engine, request.match_info["project"])
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    for c in sorted(items, key=lambda c: c["Names"][0]):
        prefix = c["Names"][0].lstrip("/")
        tty = bool((await engine.get_json(f"/containers/{c['Id']}/json"))["Config"].get("Tty"))
        async with engine.stream("GET", f"/containers/{c['Id']}/logs",
                                 params={"stdout": "1", "stderr": "1", "tail": "200"}) as upstream:
            text = b"".join([data async for data in iter_output(upstream, tty)]).decode(errors="replace")
        await response.write("".join(f"{prefix} | {line}\n" for line in text.splitlines()).encode())
    return response


async def deploy(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    project = text_field(body, "project", required=True)
    text = text_field(body, "compose", required=True)
    if not _PROJECT_NAME.match(project):
        return json_error(400, f"invalid project name {project!r}: lowercase letters, digits, '-' and '_'")
    try:
        deployer = load_deployer()
    except ComposeUnavailable as exc:
        return json_error(501, str(exc))
    host = engine_of(request).environment.endpoint
    try:
        await asyncio.to_thread(deployer.up, host=host, project=project, compose_text=text)
    except Exception as exc:  # the compose package's own errors carry the file, line and key
        log.warning("deploy of %s failed: %s", project, exc)
        return json_error(400, str(exc))
    return web.json_response({"ok": True}, status=201)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/e/{env}/stacks", deploy)
    app.router.add_post("/api/e/{env}/stacks/{project}/{verb:start|stop|restart|down}", action)
    app.router.add_get("/api/e/{env}/stacks/{project}/logs", logs)
