"""Query-string and body parsing with Docker's leniency and Docker's 400 messages."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from dockyard.errors import InvalidArgument

Filters = dict[str, list[str]]


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    """Docker treats "", "0", "false" (any case) and "no" as false, anything else as true."""
    raw = request.query.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in ("", "0", "false", "no", "none")


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid value for {name}: {raw!r}: not an integer") from exc


def query_filters(request: web.Request) -> Filters:
    """Parse ``filters``: ``{"name": ["a"]}`` or the old ``{"name": {"a": true}}`` form."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"invalid filter: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filter: expected a JSON object")
    result: Filters = {}
    for key, value in data.items():
        if isinstance(value, dict):
            result[str(key)] = [str(k) for k, on in value.items() if on]
        elif isinstance(value, list):
            result[str(key)] = [str(v) for v in value]
        else:
            raise InvalidArgument(f"invalid filter {key!r}")
    return result


async def json_body(request: web.Request, *, allow_empty: bool = True) -> dict[str, Any]:
    """The request body as a JSON object; malformed JSON is a 400 as in Docker."""
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidArgument("request body is required")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArgument("invalid JSON: expected an object")
    return data


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode() + b"\n", status=status, content_type="application/json"
    )
