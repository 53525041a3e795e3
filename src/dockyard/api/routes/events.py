"""``GET /events``: Docker's event stream, one JSON object per line, with since/until/filters."""

from __future__ import annotations

import json
from typing import Any

from dockyard.api import web
from dockyard.api.params import query_filters
from dockyard.api.routing import RouteTable, engine
from dockyard.core.events import Event, EventBus, validate
from dockyard.core.timestamps import filter_time

table = RouteTable()


def event_json(event: Event) -> dict[str, Any]:
    """An ``EventMessage``, with the legacy status/id/from fields clients still read."""
    data: dict[str, Any] = {}
    if event.type in ("container", "image"):
        data["status"], data["id"] = event.action, event.actor_id
        if event.type == "container":
            data["from"] = event.attributes.get("image", "")
    data.update({"Type": event.type, "Action": event.action,
                 "Actor": {"ID": event.actor_id, "Attributes": dict(event.attributes)},
                 "scope": event.scope, "time": event.time, "timeNano": event.time_nano})
    return data


def _time_param(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    return filter_time(value) if value else None


@table.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    bus: EventBus | None = engine(request).events
    since, until = _time_param(request, "since"), _time_param(request, "until")
    filters = query_filters(request)
    validate(filters)  # before the 200: a bad filter is a 400
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    if bus is None:
        return response
    transport = request.transport

    def alive() -> bool:
        return transport is not None and not transport.is_closing()

    try:
        async for event in bus.subscribe(since=since, until=until, filters=filters, alive=alive):
            await response.write(json.dumps(event_json(event)).encode() + b"\n")
    except ConnectionError:
        return response
    await response.write_eof()
    return response
