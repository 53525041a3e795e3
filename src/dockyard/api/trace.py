"""Each container request as a span (``api.create``, ``api.start``, ``api.wait`` …) of the start
path's breakdown (core/trace.py); installed by the daemon only when spans are recorded."""

from __future__ import annotations

import json
import time

from dockyard.api import web
from dockyard.api.routing import Handler
from dockyard.api.web import Middleware
from dockyard.core import trace


def _step(request: web.Request) -> str | None:
    parts = [p for p in request.path.split("/") if p]
    if parts and parts[0].startswith("v") and parts[0][1:2].isdigit():
        parts = parts[1:]
    if not parts or parts[0] != "containers" or len(parts) < 2:
        return None
    if request.method == "DELETE":
        return "api.delete"
    return f"api.{parts[-1]}"


def trace_middleware() -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        step = _step(request) if trace.enabled() else None
        if step is None:
            return await handler(request)
        start = time.perf_counter_ns()
        cid = request.match_info.get("id", "")
        try:
            response = await handler(request)
            cid = cid or _created_id(response)
            return response
        finally:
            trace.record(step, cid, start)

    return middleware


def _created_id(response: web.StreamResponse) -> str:
    """The new container's ID in a create's answer: its span joins that container's breakdown."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return ""
    try:
        return str(json.loads(response.body).get("Id") or "")
    except (ValueError, AttributeError):
        return ""
