"""``POST /build`` as dockerd serves the classic builder, and ``POST /build/prune``.

The body (the context tar, maybe compressed) is spooled to a file first; then the answer is a
stream of Docker's JSON messages: ``{"stream": …}`` lines, ``{"aux": {"ID": …}}`` with the image ID,
and on failure ``{"errorDetail": {"code", "message"}, "error": …}`` (the CLI exits with ``code``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from aiohttp import web

from dockyard.api import validate
from dockyard.api.params import json_response, query_bool
from dockyard.api.routing import RouteTable, engine
from dockyard.api.transfer import body_file
from dockyard.core.builder.model import BuildOptions
from dockyard.core.builder.service import BuilderService
from dockyard.errors import DockyardError, InvalidArgument, Unimplemented

log = logging.getLogger(__name__)

table = RouteTable()
SECRETS_PARAM = "dockyard-secrets"


def _builder(request: web.Request) -> BuilderService:
    builder = engine(request).builder
    if builder is None:
        raise Unimplemented("this engine was built without a builder")
    return builder


def _json_query(request: web.Request, name: str, default: Any) -> Any:
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        return validate.parse(raw.encode())
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid {name}: {exc}") from exc


def build_options(request: web.Request) -> BuildOptions:
    query = request.query
    if query.get("remote"):
        raise Unimplemented("remote build contexts are not supported yet: send the context as the body")
    args = _json_query(request, "buildargs", {})
    labels = _json_query(request, "labels", {})
    cache_from = _json_query(request, "cachefrom", [])
    if not isinstance(args, dict) or not isinstance(labels, dict) or not isinstance(cache_from, list):
        raise InvalidArgument("buildargs and labels must be JSON objects, cachefrom a JSON list")
    return BuildOptions(
        dockerfile=query.get("dockerfile") or "Dockerfile",
        tags=tuple(t for t in query.getall("t", []) if t),
        build_args={str(k): (None if v is None else str(v)) for k, v in args.items()},
        target=query.get("target", ""),
        labels={str(k): str(v) for k, v in labels.items()},
        no_cache=query_bool(request, "nocache"),
        remove=query_bool(request, "rm", True),
        force_remove=query_bool(request, "forcerm"),
        quiet=query_bool(request, "q"),
        cache_from=tuple(str(c) for c in cache_from),
        network_mode=query.get("networkmode", "") if query.get("networkmode") != "default" else "",
        platform=query.get("platform", ""),
        secrets=_secrets(request),
    )


def _secrets(request: web.Request) -> dict[str, bytes]:
    """Our own query parameter ``dockyard-secrets`` (Docker's classic API has no secret transport):
    a JSON object of secret id -> base64 of its value, for ``RUN --mount=type=secret``. It is
    only ever held in memory and in the build's private scratch directory; never logged."""
    raw = _json_query(request, SECRETS_PARAM, {})
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{SECRETS_PARAM} must be a JSON object of id -> base64 value")
    try:
        return {str(k): base64.b64decode(str(v), validate=True) for k, v in raw.items()}
    except binascii.Error as exc:
        raise InvalidArgument(f"{SECRETS_PARAM}: a value is not base64") from exc


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode() + b"\r\n"


@table.post("/build")
async def build(request: web.Request) -> web.StreamResponse:
    builder = _builder(request)
    options = build_options(request)
    async with body_file(request) as context_tar:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)

        async def emit(text: str) -> None:
            await response.write(_line({"stream": text}))

        try:
            result = await builder.build(context_tar, options, emit)
        except DockyardError as exc:
            code = int(getattr(exc, "code", 1) or 1)
            log.info("build failed: %s", exc)
            await response.write(_line({"errorDetail": {"code": code, "message": str(exc)},
                                        "error": str(exc)}))
        else:
            await response.write(_line({"aux": {"ID": result.image_id}}))
        await response.write_eof()
        return response


@table.post("/build/prune")
async def prune(request: web.Request) -> web.StreamResponse:
    removed, reclaimed = await _builder(request).prune()
    return json_response({"CachesDeleted": removed or None, "SpaceReclaimed": reclaimed})


@table.post("/build/cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    raise Unimplemented("build cancellation is not supported: close the connection instead")
