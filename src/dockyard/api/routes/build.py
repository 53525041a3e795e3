"""``POST /build`` as dockerd serves the classic builder, and ``POST /build/prune``.

The body (the context tar, maybe compressed) is spooled to a file and digested first (an unchanged
context reuses its unpacked copy: :mod:`dockyard.core.builder.contexts`); then the answer is a
stream of Docker's JSON messages: ``{"stream": …}`` lines, ``{"aux": {"ID": …}}`` with the image ID,
and on failure ``{"errorDetail": {"code", "message"}, "error": …}`` (the CLI exits with ``code``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.api import validate, web
from dockyard.api.params import json_response, query_bool
from dockyard.api.routing import RouteTable, engine
from dockyard.api.transfer import body_file
from dockyard.core.runtime.resources import check_create
from dockyard.errors import DockyardError, InvalidArgument, Unimplemented

if TYPE_CHECKING:
    from dockyard.core.builder.model import BuildOptions
    from dockyard.core.builder.service import BuilderService

log = logging.getLogger(__name__)

table = RouteTable()
SECRETS_PARAM = "dockyard-secrets"


def _builder(request: web.Request) -> BuilderService:
    builder = engine(request).builder
    if builder is None:
        raise Unimplemented("this engine was built without a builder")
    return builder.get()


def _json_query(request: web.Request, name: str, default: Any) -> Any:
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        return validate.parse(raw.encode())
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid {name}: {exc}") from exc


def build_options(request: web.Request) -> BuildOptions:
    from dockyard.core.builder.model import BuildOptions  # with the builder, on the first build

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
        run_host=_run_host(request),
    )


# Query parameters of the classic build API -> the HostConfig field each RUN container gets.
_RUN_INTS = {"shmsize": "ShmSize", "memory": "Memory", "memswap": "MemorySwap", "cpushares": "CpuShares",
             "cpuperiod": "CpuPeriod", "cpuquota": "CpuQuota"}
_RUN_STRINGS = {"cpusetcpus": "CpusetCpus", "cpusetmems": "CpusetMems", "cgroupparent": "CgroupParent"}


def _run_host(request: web.Request) -> dict[str, Any]:
    query = request.query
    _refuse_unsupported(request)
    host: dict[str, Any] = {}
    for name, key in _RUN_INTS.items():
        if query.get(name):
            try:
                host[key] = int(query[name])
            except ValueError as exc:
                raise InvalidArgument(f"invalid {name}: {query[name]!r} is not an integer") from exc
    for name, key in _RUN_STRINGS.items():
        if query.get(name):
            host[key] = query[name]
    if query.get("extrahosts"):
        host["ExtraHosts"] = [h for h in query["extrahosts"].split(",") if h]
    ulimits = _json_query(request, "ulimits", [])
    if not isinstance(ulimits, list):
        raise InvalidArgument("ulimits must be a JSON list")
    if ulimits:
        host["Ulimits"] = ulimits
    return check_create(host) if host else {}


def _refuse_unsupported(request: web.Request) -> None:
    """Settings of the build API this builder has no mechanism for: refused, never ignored."""
    query = request.query
    if query_bool(request, "pull"):
        raise Unimplemented("--pull is not supported by this builder: pull the base image first")
    if query_bool(request, "squash"):
        raise InvalidArgument("squash is only supported with experimental mode")
    if query.get("isolation", "default") not in ("", "default"):
        raise InvalidArgument(f"Unsupported isolation: {query['isolation']!r}")
    if query.get("version", "1") != "1":
        raise InvalidArgument("BuildKit (version=2) is not supported by this engine: use the classic "
                              "builder (DOCKER_BUILDKIT=0)")
    if query.get("outputs"):
        raise InvalidArgument("outputs are only supported with BuildKit")


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


class _Stream:
    """The build's JSON stream, opened at its first message: an error before any output is an
    HTTP error (moby answers so when nothing was flushed), a later one is an ``errorDetail`` line."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response: web.StreamResponse | None = None

    async def write(self, payload: dict[str, Any]) -> None:
        if self.response is None:
            self.response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await self.response.prepare(self._request)
        await self.response.write(_line(payload))


@table.post("/build")
async def build(request: web.Request) -> web.StreamResponse:
    builder = _builder(request)
    options = build_options(request)
    digest = hashlib.sha256()
    async with body_file(request, digest=digest) as context_tar:
        await asyncio.to_thread(complete_tar, context_tar)
        stream = _Stream(request)

        async def emit(text: str) -> None:
            await stream.write({"stream": text})

        async def aux(image_id: str) -> None:
            await stream.write({"aux": {"ID": image_id}})

        try:
            await builder.build(context_tar, options, emit, on_built=aux, context_digest=digest.hexdigest())
        except DockyardError as exc:
            if stream.response is None:
                raise
            code = int(getattr(exc, "code", 1) or 1)
            log.info("build failed: %s", exc)
            await stream.write({"errorDetail": {"code": code, "message": str(exc)}, "error": str(exc)})
        assert stream.response is not None  # a build that succeeds has said so
        await stream.response.write_eof()
        return stream.response


def complete_tar(path: Path) -> None:
    """Give an uncompressed tar its missing end: the docker CLI's context with a Dockerfile from
    outside (``-f /elsewhere/Dockerfile``) ends after the last member's data, without the padding
    and the two zero blocks that Go's tar reader does not need but others do."""
    with path.open("rb+") as f:
        head = f.read(512)
        if len(head) < 512 or head[257:262] != b"ustar":
            return  # compressed, empty or not a tar: the extractor says what is wrong
        size = f.seek(0, 2)
        f.write(b"\0" * ((-size) % 512 + 1024))


@table.post("/build/prune")
async def prune(request: web.Request) -> web.StreamResponse:
    removed, reclaimed = await _builder(request).prune()
    return json_response({"CachesDeleted": removed or None, "SpaceReclaimed": reclaimed})


@table.post("/build/cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    raise Unimplemented("build cancellation is not supported: close the connection instead")
