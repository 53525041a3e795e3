"""Query-string and body parsing with Docker's leniency and Docker's 400 messages."""

from __future__ import annotations

import json
from typing import Any

from dockyard.api import validate, web
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
        data = validate.parse(raw.encode())  # no NaN, no nesting that recursion would answer
    except InvalidArgument as exc:
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


# dockerd streams a body into its Go structs with no cap of its own; we hold it in memory before
# decoding, so the cap is what keeps a 50 MB body from costing the daemon hundreds of MB. No Docker
# request body comes near it (swarm caps a secret at 500 KB).
MAX_JSON_BODY = 4 * 1024 * 1024


async def read_bounded(request: web.Request, limit: int = MAX_JSON_BODY) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (not after reading it)."""
    too_large = InvalidArgument(f"request body too large: more than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: web.Request, *, allow_empty: bool = True) -> dict[str, Any]:
    """The request body as a JSON object, checked against the spec's types for this route;
    malformed JSON or a field of the wrong type is a 400 as in Docker."""
    raw = await read_bounded(request)
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidArgument("request body is required")
    data = validate.parse(raw)
    kind = validate.route_type(request.method, request.match_info.template or request.path)
    if kind is not None:
        data = validate.check(kind, data)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArgument("invalid JSON: expected an object")
    return data


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode() + b"\n", status=status, content_type="application/json"
    )
