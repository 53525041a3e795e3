"""Registry endpoints: pull (``/images/create?fromImage=``), push, ``/auth``, distribution inspect,
search. Pull and push stream Docker's JSON progress messages; the response starts with the first
message, so an error found before (unknown image, refused credentials) is an ordinary HTTP error,
and one found later is an ``{"error": …}`` line, as moby does it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from dockyard.api import web
from dockyard.api.params import json_body, json_response
from dockyard.api.routing import RouteTable, engine
from dockyard.core.distribution.model import auth_from_json, decode_auth_header
from dockyard.core.distribution.progress import ProgressEvent, ProgressSink
from dockyard.core.distribution.service import DistributionService, PullRequest
from dockyard.errors import DockyardError, InvalidArgument, Unimplemented

log = logging.getLogger(__name__)

table = RouteTable()

Operation = Callable[[ProgressSink], Coroutine[Any, Any, None]]
_BAR_WIDTH = 50


def _service(request: web.Request) -> DistributionService:
    service = engine(request).distribution
    if service is None:
        raise Unimplemented("this engine was built without a registry client")
    return service


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}"


def _bar(current: int, total: int | None) -> str:
    """Docker's ``[====>     ]  1.2MB/3.4MB``, for clients that print the text form."""
    if not total:
        return f"{_size(current)}"
    filled = min(_BAR_WIDTH, _BAR_WIDTH * current // total)
    arrow = ">" if filled < _BAR_WIDTH else "="
    bar = ("=" * max(filled - 1, 0) + arrow).ljust(_BAR_WIDTH) if filled else " " * _BAR_WIDTH
    return f"[{bar}] {_size(current)}/{_size(total)}"


def message(event: ProgressEvent) -> dict[str, Any]:
    """One JSON progress message as the docker CLI's jsonmessage reads it."""
    if event.aux:
        return {"progressDetail": {}, "aux": event.aux}
    out: dict[str, Any] = {"status": event.status}
    if event.current is not None:
        out["progressDetail"] = {"current": event.current, "total": event.total}
        out["progress"] = _bar(event.current, event.total)
    elif event.id:
        out["progressDetail"] = {}
    if event.id:
        out["id"] = event.id
    return out


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode() + b"\r\n"


async def stream_progress(request: web.Request, operation: Operation,
                          headers: dict[str, str] | None = None) -> web.StreamResponse:
    head = {"Content-Type": "application/json", **(headers or {})}
    queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
    task = asyncio.create_task(operation(ProgressSink(queue.put_nowait)))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    response: web.StreamResponse | None = None
    try:
        while (event := await queue.get()) is not None:
            if response is None:
                response = web.StreamResponse(status=200, headers=head)
                await response.prepare(request)
            await response.write(_line(message(event)))
        error = task.exception()
    except (asyncio.CancelledError, ConnectionResetError):
        task.cancel()
        raise
    if error is not None and response is None:
        raise error  # nothing sent yet: the error middleware answers with its status
    if error is not None and not isinstance(error, DockyardError):
        log.error("%s %s failed", request.method, request.path, exc_info=error)
    if response is None:
        response = web.StreamResponse(status=200, headers=head)
        await response.prepare(request)
    if error is not None:
        text = str(error) or error.__class__.__name__
        await response.write(_line({"errorDetail": {"message": text}, "error": text}))
    await response.write_eof()
    return response


async def pull(request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromImage=…``; called by the images route table."""
    query = request.query
    pull_request = PullRequest(image=query["fromImage"], tag=query.get("tag", ""),
                               platform=query.get("platform", ""),
                               auth=decode_auth_header(request.headers.get("X-Registry-Auth")))
    service = _service(request)
    return await stream_progress(request, lambda sink: service.pull(pull_request, sink))


@table.post("/images/{name:.+}/push")
async def push(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    name, tag = request.match_info["name"], request.query.get("tag", "")
    auth = decode_auth_header(request.headers.get("X-Registry-Auth"))
    return await stream_progress(request, lambda sink: service.push(name, tag, auth, sink))


@table.post("/auth")
async def login(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, allow_empty=False)
    token = await _service(request).login(auth_from_json(body))
    return json_response({"Status": "Login Succeeded", "IdentityToken": token})


@table.get("/distribution/{name:.+}/json")
async def distribution_inspect(request: web.Request) -> web.StreamResponse:
    auth = decode_auth_header(request.headers.get("X-Registry-Auth"))
    return json_response(await _service(request).inspect(request.match_info["name"], auth))


@table.get("/images/search")
async def search(request: web.Request) -> web.StreamResponse:
    term = request.query.get("term", "")
    if not term:
        raise InvalidArgument("term is required")
    try:
        limit = int(request.query.get("limit") or 25)
    except ValueError as exc:
        raise InvalidArgument(f"invalid limit: {exc}") from exc
    auth = decode_auth_header(request.headers.get("X-Registry-Auth"))
    results = await _service(request).search(term, limit, auth)
    return json_response(results)
