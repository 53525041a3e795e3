"""Live streams to the browser: the event feed and stats as Server-Sent Events, logs as a chunked
text stream (100,000 lines do not become 100,000 events), and the engine's JSON progress of pull,
push and build passed through as NDJSON."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from dockyard.ui.context import engine_of
from dockyard.ui.engine import Engine, EngineError, iter_json, iter_output

log = logging.getLogger(__name__)

_EVENT_TYPES = frozenset({"container", "image", "volume", "network", "service", "node", "secret", "config"})


async def _sse(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    return response


async def _send(response: web.StreamResponse, payload: Any, event: str | None = None) -> None:
    head = f"event: {event}\n" if event else ""
    await response.write(f"{head}data: {json.dumps(payload)}\n\n".encode())


async def events(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    kinds = [k for k in request.query.getall("type", []) if k in _EVENT_TYPES]
    params = {"filters": json.dumps({"type": kinds})} if kinds else None
    async with engine.stream("GET", "/events", params=params) as upstream:
        response = await _sse(request)
        try:
            async for event in iter_json(upstream):
                await _send(response, event)
        except ConnectionResetError:
            pass
        return response


def stats_point(sample: dict[str, Any]) -> dict[str, float]:
    """One stats sample → CPU %, memory bytes, network and block I/O totals (docker stats' arithmetic)."""
    cpu, pre = sample.get("cpu_stats") or {}, sample.get("precpu_stats") or {}
    usage = ((cpu.get("cpu_usage") or {}).get("total_usage", 0)
             - (pre.get("cpu_usage") or {}).get("total_usage", 0))
    system = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    memory = sample.get("memory_stats") or {}
    cache = (memory.get("stats") or {}).get("inactive_file", 0)
    nets = (sample.get("networks") or {}).values()
    blk = (sample.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    return {
        "cpu": (usage / system) * cpus * 100.0 if system > 0 and usage > 0 else 0.0,
        "memory": float(max(0, (memory.get("usage") or 0) - cache)),
        "limit": float(memory.get("limit") or 0),
        "rx": float(sum(n.get("rx_bytes", 0) for n in nets)),
        "tx": float(sum(n.get("tx_bytes", 0) for n in nets)),
        "read": float(sum(b.get("value", 0) for b in blk if str(b.get("op", "")).lower() == "read")),
        "write": float(sum(b.get("value", 0) for b in blk if str(b.get("op", "")).lower() == "write")),
    }


async def stats(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    async with engine.stream("GET", f"/containers/{request.match_info['id']}/stats",
                             params={"stream": "1"}) as upstream:
        response = await _sse(request)
        try:
            async for sample in iter_json(upstream):
                await _send(response, stats_point(sample))
        except ConnectionResetError:
            pass
        return response


async def logs(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    ident = request.match_info["id"]
    tty = bool((await engine.get_json(f"/containers/{ident}/json"))["Config"].get("Tty"))
    params = {"stdout": "1", "stderr": "1", "follow": "1" if request.query.get("follow") == "1" else "0",
              "timestamps": "1" if request.query.get("timestamps") == "1" else "0",
              "tail": request.query.get("tail") or "all"}
    async with engine.stream("GET", f"/containers/{ident}/logs", params=params) as upstream:
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        try:
            async for data in iter_output(upstream, tty):
                await response.write(data)
        except ConnectionResetError:
            pass
        return response


async def ndjson(request: web.Request, messages: AsyncIterator[dict[str, Any]]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    try:
        async for message in messages:
            await response.write(json.dumps(message).encode() + b"\n")
    except EngineError as exc:
        await response.write(json.dumps({"error": exc.message}).encode() + b"\n")
    except ConnectionResetError:
        pass
    return response


async def progress(engine: Engine, method: str, path: str, *, params: dict[str, str],
                   content: bytes | None = None,
                   headers: dict[str, str] | None = None) -> AsyncIterator[dict[str, Any]]:
    """The engine's progress messages; an error before the stream starts becomes one ``error``."""
    async with engine.stream(method, path, params=params, content=content, headers=headers) as upstream:
        async for message in iter_json(upstream):
            yield message


def setup(app: web.Application) -> None:
    app.router.add_get("/api/e/{env}/events", events)
    app.router.add_get("/api/e/{env}/containers/{id}/stats", stats)
    app.router.add_get("/api/e/{env}/containers/{id}/logs", logs)


__all__ = ["ndjson", "progress", "setup", "stats_point"]
