"""What the UI's handlers share: the application keys and small request helpers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.ui.auth import LoginThrottle, Session, SessionStore, UserStore
from dockyard.ui.engine import Engine

if TYPE_CHECKING:
    from dockyard.ui.app import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
USERS = web.AppKey("users", UserStore)
SESSIONS = web.AppKey("sessions", SessionStore)
THROTTLE = web.AppKey("throttle", LoginThrottle)
ENGINES: web.AppKey[dict[str, Engine]] = web.AppKey("engines")
SESSION = "dockyard_ui.session"


def json_error(status: int, message: str) -> web.Response:
    """Docker's error form, ``{"message": …}``, for the UI's own API too."""
    return web.json_response({"message": message}, status=status)


def engine_of(request: web.Request) -> Engine:
    name = request.match_info.get("env", "")
    engine = request.app[ENGINES].get(name)
    if engine is None:
        raise web.HTTPNotFound(text=json.dumps({"message": f"No such environment: {name}"}),
                               content_type="application/json")
    return engine


def session_of(request: web.Request) -> Session:
    session = request[SESSION]
    assert isinstance(session, Session)
    return session


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"message": f"invalid JSON body: {exc}"}),
                                 content_type="application/json") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"message": "the body must be a JSON object"}),
                                 content_type="application/json")
    return body


def text_field(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise web.HTTPBadRequest(text=json.dumps({"message": f"{key} must be a string"}),
                                 content_type="application/json")
    value = value.strip()
    if required and not value:
        raise web.HTTPBadRequest(text=json.dumps({"message": f"{key} is required"}),
                                 content_type="application/json")
    return value
