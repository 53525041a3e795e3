"""Authorization plugins (``--authorization-plugin``): moby's ``pkg/authorization`` middleware.

Every API request, ``/_ping`` included, is sent to each plugin's ``AuthZPlugin.AuthZReq`` before
it is handled, and the reply to ``AuthZPlugin.AuthZRes`` after; the decision is the AND of the
plugins', asked in the order they were given. A JSON body (under 4 MiB; larger ones are refused,
as moby) travels base64-encoded in ``RequestBody``, as Go encodes ``[]byte``; credentials headers
never do. Streamed and hijacked responses have gone out by the time ``AuthZRes`` is asked, so it
gets them without a body and a denial can only be logged (moby's response modifier is the same).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard import errors
from dockyard.api import web
from dockyard.api.errors import error_response
from dockyard.api.routing import Handler
from dockyard.api.web import Middleware
from dockyard.core.engine import Engine
from dockyard.core.plugins.registry import AUTHZ, PluginError, PluginRegistry

log = logging.getLogger(__name__)

REQUEST = "AuthZPlugin.AuthZReq"
RESPONSE = "AuthZPlugin.AuthZRes"
MAX_BODY = 4 * 1024 * 1024  # moby's maxBodySize
_AUTH_PATH = re.compile(r"^[^/]*/(v\d[\d.]*/)?auth")
_SECRET_HEADERS = frozenset({"authorization", "x-registry-config", "x-registry-auth"})


class AuthzChain:
    def __init__(self, names: Sequence[str], registry: PluginRegistry) -> None:
        self.names = list(dict.fromkeys(names))  # moby drops repeated names
        self._registry = registry

    async def validate(self) -> None:
        """dockerd refuses to start when a named plugin is missing or is not an authz plugin."""
        for name in self.names:
            try:
                await self._registry.get(name, AUTHZ)
            except errors.DockyardError as exc:
                raise errors.InvalidArgument(f"failed to validate authorization plugin: {exc}") from exc

    async def ask(self, method: str, payload: Mapping[str, Any]) -> None:
        """Each plugin in turn; the first denial is a 403 with its message."""
        for name in self.names:
            try:
                plugin = await self._registry.get(name, AUTHZ)
                reply = await plugin.call(method, payload)
            except PluginError as exc:
                if exc.status != 200:
                    raise errors.Internal(f"plugin {name} failed with error: {exc}") from exc
                reply = exc.reply  # a 200 with an Err: moby decides on Allow and Msg alone
            except errors.DockyardError as exc:
                raise errors.Internal(f"plugin {name} failed with error: {exc}") from exc
            if not reply.get("Allow"):
                raise errors.Forbidden(f"authorization denied by plugin {name}: {reply.get('Msg') or ''}")


def _send_body(path: str, content_type: str) -> bool:
    return content_type == "application/json" and not _AUTH_PATH.match(path)


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _SECRET_HEADERS}


def _user(request: web.Request) -> tuple[str, str]:
    """The client certificate's common name on a verified TLS connection (moby's only AuthN)."""
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    for rdn in (peer or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value), "TLS"
    return "", ""


async def _read_body(request: web.Request) -> bytes:
    """The body, then put back for the handler (it reads ``request.content`` itself)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            break
        chunks.append(chunk)
    body = b"".join(chunks)
    if size > MAX_BODY:
        raise errors.Internal("request body too large for authorization plugin: size exceeds "
                              f"{MAX_BODY} bytes")
    request.replace_body(body)
    return body


def _strip(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v not in ("", None, {}, 0)}  # Go's omitempty


def authz_middleware(chain: AuthzChain) -> Middleware:
    @web.middleware
    async def authz(request: web.Request, handler: Handler) -> web.StreamResponse:
        user, method = _user(request)
        asked: dict[str, Any] = {
            "User": user, "UserAuthNMethod": method, "RequestMethod": request.method,
            "RequestUri": request.raw_path, "RequestHeaders": _headers(request.headers)}
        if _send_body(request.path, request.content_type) and request.body_exists:
            asked["RequestBody"] = base64.b64encode(await _read_body(request)).decode()
        try:
            await chain.ask(REQUEST, _strip(asked))
        except errors.DockyardError as exc:
            log.error("AuthZRequest for %s %s returned error: %s", request.method, request.raw_path, exc)
            raise
        failed = False
        try:
            response = await handler(request)
        except errors.DockyardError as exc:
            failed, response = True, error_response(exc)
        answered = dict(asked, ResponseStatusCode=response.status,
                        ResponseHeaders=_headers(response.headers))
        buffered = isinstance(response, web.Response) and not response.prepared
        body = response.body if isinstance(response, web.Response) else None
        if buffered and isinstance(body, bytes) and _send_body(request.path, response.content_type):
            answered["ResponseBody"] = base64.b64encode(body).decode()
        try:
            await chain.ask(RESPONSE, _strip(answered))
        except errors.DockyardError as exc:
            log.error("AuthZResponse for %s %s returned error: %s", request.method, request.raw_path, exc)
            if buffered and not failed:
                raise
        return response

    return authz


def engine_middlewares(engine: Engine) -> list[Middleware]:
    """The authz middleware when the daemon names authorization plugins (none otherwise)."""
    names = engine.config.authorization_plugins
    if not names or engine.plugins is None:
        return []
    return [authz_middleware(AuthzChain(names, engine.plugins))]
