"""Server-rendered pages (Jinja2, autoescaped); the live parts stream in through ``static/app.js``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from dockyard.ui import redact, stacks
from dockyard.ui.context import SETTINGS, engine_of, session_of
from dockyard.ui.engine import Engine, EngineError

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True, lstrip_blocks=True)


def _size(value: Any) -> str:
    size = float(value or 0)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def _ago(value: Any) -> str:
    if isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00")[:26] + "+00:00"
                                              if "." in value else value.replace("Z", "+00:00"))
        except ValueError:
            return value
        value = stamp.timestamp()
    seconds = max(0, int(dt.datetime.now(dt.UTC).timestamp() - float(value or 0)))
    for step, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= step:
            n = seconds // step
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{seconds} seconds ago"


def _health(status: str) -> str:
    for word in ("healthy", "unhealthy", "health: starting"):
        if f"({word})" in status:
            return word.replace("health: ", "")
    return ""


_TEMPLATES.filters.update(size=_size, ago=_ago, health=_health, short=lambda s: str(s or "")[7:19]
                          if str(s or "").startswith("sha256:") else str(s or "")[:12],
                          pretty=lambda v: json.dumps(v, indent=2, sort_keys=True))


def render(request: web.Request, template: str, values: dict[str, Any], status: int = 200) -> web.Response:
    settings = request.app[SETTINGS]
    session = request.get("dockyard_ui.session")
    base = {"envs": [e.name for e in settings.environments], "env": request.match_info.get("env", ""),
            "session": session, "csrf": session.csrf if session else "", "page": template[:-5]}
    html = _TEMPLATES.get_template(template).render(**base, **values)
    return web.Response(text=html, content_type="text/html", status=status)


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", {"status": status, "message": message}, status=status)


async def _maybe(engine: Engine, path: str, default: Any) -> Any:
    try:
        return await engine.get_json(path)
    except EngineError:
        return default


async def dashboard(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    info, version, df = await asyncio.gather(engine.get_json("/info"), engine.get_json("/version"),
                                             _maybe(engine, "/system/df", {}))
    return render(request, "dashboard.html", {"info": info, "version": version, "df": _df_rows(df),
                                              "endpoint": engine.environment.endpoint})


def _df_rows(df: dict[str, Any]) -> list[tuple[str, int, int]]:
    """``system df`` as docker prints it: type, count, size."""
    def total(items: list[dict[str, Any]], get: Any) -> int:
        return sum(max(0, int(get(i) or 0)) for i in items)
    vols = df.get("Volumes") or []
    return [("Images", len(df.get("Images") or []), int(df.get("LayersSize") or 0)),
            ("Containers", len(df.get("Containers") or []),
             total(df.get("Containers") or [], lambda c: c.get("SizeRw"))),
            ("Local volumes", len(vols), total(vols, lambda v: (v.get("UsageData") or {}).get("Size"))),
            ("Build cache", len(df.get("BuildCache") or []),
             total(df.get("BuildCache") or [], lambda b: b.get("Size")))]


async def containers(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    items, images, networks = await asyncio.gather(
        engine.get_json("/containers/json", {"all": "1"}), _maybe(engine, "/images/json", []),
        _maybe(engine, "/networks", []))
    items.sort(key=lambda c: -int(c.get("Created") or 0))
    tags = sorted({t for i in images for t in (i.get("RepoTags") or []) if t != "<none>:<none>"})
    return render(request, "containers.html", {
        "containers": items, "images": tags, "networks": sorted(n["Name"] for n in networks),
        "link_host": request.url.host or "127.0.0.1", "state": request.query.get("state", "")})


async def container(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    ident = request.match_info["id"]
    inspect = redact.container(await engine.get_json(f"/containers/{ident}/json"))
    return render(request, "container.html", {"c": inspect, "name": inspect["Name"].lstrip("/"),
                                              "tty": bool(inspect["Config"].get("Tty"))})


async def images(request: web.Request) -> web.StreamResponse:
    items = await engine_of(request).get_json("/images/json")
    items.sort(key=lambda i: -int(i.get("Created") or 0))
    return render(request, "images.html", {"images": items})


async def volumes(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    answer, used = await asyncio.gather(engine.get_json("/volumes"),
                                        engine.get_json("/containers/json", {"all": "1"}))
    users: dict[str, list[str]] = {}
    for c in used:
        for mount in c.get("Mounts") or []:
            if mount.get("Type") == "volume":
                users.setdefault(mount.get("Name", ""), []).append(c["Names"][0].lstrip("/"))
    vols = sorted(answer.get("Volumes") or [], key=lambda v: v["Name"])
    return render(request, "volumes.html", {"volumes": vols, "users": users})


async def networks(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    items, ctrs = await asyncio.gather(engine.get_json("/networks"),
                                       engine.get_json("/containers/json", {"all": "1"}))
    items.sort(key=lambda n: n["Name"])
    names = sorted(c["Names"][0].lstrip("/") for c in ctrs)
    return render(request, "networks.html", {"networks": items, "container_names": names})


async def network(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    item = await engine.get_json(f"/networks/{request.match_info['id']}")
    ctrs = await engine.get_json("/containers/json", {"all": "1"})
    names = sorted(c["Names"][0].lstrip("/") for c in ctrs)
    return render(request, "network.html", {"n": item, "container_names": names})


async def stacks_page(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    ctrs = await engine.get_json("/containers/json", {"all": "1"})
    return render(request, "stacks.html", {"projects": stacks.projects(ctrs),
                                           "deploy_available": stacks.deployer_available()})


async def swarm(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    info = await engine.get_json("/info")
    manager = bool((info.get("Swarm") or {}).get("ControlAvailable"))
    values: dict[str, Any] = {"manager": manager, "state": (info.get("Swarm") or {}).get("LocalNodeState")}
    if manager:
        services, tasks, secrets, configs = await asyncio.gather(
            _maybe(engine, "/services", []), _maybe(engine, "/tasks", []), _maybe(engine, "/secrets", []),
            _maybe(engine, "/configs", []))
        values.update(services=services, tasks=tasks, secrets=[redact.secret(s) for s in secrets],
                      configs=[redact.secret(c) for c in configs])
    return render(request, "swarm.html", values)


def setup(app: web.Application) -> None:
    routes = [("dashboard", dashboard), ("containers", containers), ("containers/{id}", container),
              ("images", images), ("volumes", volumes), ("networks", networks), ("networks/{id}", network),
              ("stacks", stacks_page), ("swarm", swarm)]
    for path, handler in routes:
        app.router.add_get(f"/e/{{env}}/{path}", handler)


__all__ = ["error_page", "render", "session_of", "setup"]
