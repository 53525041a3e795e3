"""The only place that knows HTTP statuses: error class -> status + Docker's ``{"message": …}``."""

from __future__ import annotations

import json
import logging

from dockyard import errors
from dockyard.api import web
from dockyard.api.routing import Handler

log = logging.getLogger(__name__)

# Most specific first: Conflict's subclasses share its status.
_STATUS: tuple[tuple[type[errors.DockyardError], int], ...] = (
    (errors.NotFound, 404),
    (errors.InvalidArgument, 400),
    (errors.Conflict, 409),
    (errors.NotModified, 304),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.Unimplemented, 501),
    (errors.Unavailable, 503),
    (errors.Internal, 500),
)


def status_of(exc: BaseException) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(exc: BaseException) -> web.Response:
    status = status_of(exc)
    if status == 304:
        return web.Response(status=304)
    message = str(exc) or exc.__class__.__name__
    body = json.dumps({"message": message}).encode() + b"\n"
    return web.Response(body=body, status=status, content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            # The router's own 404/405 become Docker-style JSON bodies.
            body = json.dumps({"message": exc.reason if exc.status != 404 else "page not found"})
            return web.Response(body=body.encode() + b"\n", status=exc.status,
                                content_type="application/json")
        raise
    except errors.DockyardError as exc:
        status = status_of(exc)
        level = logging.ERROR if status >= 500 else logging.DEBUG
        log.log(level, "%s %s -> %d: %s", request.method, request.path, status, exc)
        return error_response(exc)
    except ConnectionError as exc:
        transport = request.transport
        if transport is not None and not transport.is_closing():
            log.exception("%s %s -> 500", request.method, request.path)
            return error_response(exc)
        # The client hung up mid-reply (logs -f, events, build, archive…): nothing to answer and
        # nothing wrong. The server writes nothing for this response to the closed transport.
        log.info("%s %s: client went away (499)", request.method, request.path)
        return web.Response(status=499)
    except Exception as exc:  # noqa: BLE001 - the last line of defence of every request
        log.exception("%s %s -> 500", request.method, request.path)
        return error_response(exc)
