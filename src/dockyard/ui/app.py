"""The aiohttp application of ``dockyard ui``: login, the security middleware, route wiring.

Nothing but the login page and ``/static`` is served without a session. The UI's own API lives under
``/api/``: without a session it answers 401, a state-changing request without the session's CSRF
token 403, and a read-only user gets 403 for anything but reading.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from dockyard.ui import containers, pages, resources, stacks, streams
from dockyard.ui.auth import LoginThrottle, Session, SessionStore, UserStore, csrf_ok
from dockyard.ui.context import ENGINES, SESSION, SESSIONS, SETTINGS, THROTTLE, USERS, json_error
from dockyard.ui.engine import Engine, EngineError
from dockyard.ui.environments import Environment

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "dockyard_ui_session"
LOGIN_COOKIE = "dockyard_ui_login"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Settings:
    environments: tuple[Environment, ...]
    secure_cookies: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _is_public(path: str) -> bool:
    return path == "/login" or path.startswith("/static/")


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await _guarded(request, handler)
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _is_public(request.path):
        return await handler(request)
    session = request.app[SESSIONS].get(request.cookies.get(SESSION_COOKIE))
    api = request.path.startswith("/api/")
    if session is None:
        if api:
            return json_error(401, "authentication required")
        raise web.HTTPFound("/login")
    denied = _denied(request, session)
    if denied is not None:
        return denied
    request[SESSION] = session
    try:
        return await handler(request)
    except EngineError as exc:
        if api:
            return json_error(exc.status, exc.message)
        return pages.error_page(request, exc.status, exc.message)


def _denied(request: web.Request, session: Session) -> web.StreamResponse | None:
    websocket = request.headers.get("Upgrade", "").lower() == "websocket"
    if request.method in _UNSAFE or websocket:
        # A WebSocket handshake cannot carry our header: the token comes in the query, and the
        # Origin must be this server (browsers always send it on a handshake).
        sent = request.query.get("csrf") if websocket else request.headers.get("X-CSRF-Token")
        if websocket and request.headers.get("Origin", "").split("://", 1)[-1] != request.host:
            return json_error(403, "cross-origin WebSocket refused")
        if not csrf_ok(session, sent):
            return json_error(403, "missing or invalid CSRF token")
        if session.read_only:
            return json_error(403, f"user {session.user!r} is read-only")
    return None


async def login_page(request: web.Request) -> web.StreamResponse:
    # Reuse the browser's token: two loads of the page (a reload, a second tab) keep one value.
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = pages.render(request, "login.html", {"login_token": token, "error": request.query.get("e")})
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", path="/login",
                        secure=request.app[SETTINGS].secure_cookies)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    address = request.remote or "?"
    throttle = request.app[THROTTLE]
    wait = throttle.retry_after(address)
    if wait > 0:
        return pages.render(request, "login.html", {"error": f"Too many attempts: wait {int(wait) + 1} s",
                                                    "login_token": ""}, status=429)
    # Login CSRF: the form must echo the random value the login page put in its cookie.
    if not form.get("login_token") or form.get("login_token") != request.cookies.get(LOGIN_COOKIE):
        raise web.HTTPFound("/login?e=expired")
    user = str(form.get("username") or "admin")
    role = await _check(request.app[USERS], user, str(form.get("password") or ""))
    if role is None:
        throttle.failed(address)
        log.warning("failed login for %r from %s", user, address)
        return pages.render(request, "login.html", {"error": "Wrong user name or password",
                                                    "login_token": request.cookies.get(LOGIN_COOKIE)},
                            status=401)
    throttle.succeeded(address)
    token, _ = request.app[SESSIONS].create(user, role)
    log.info("%s logged in from %s", user, address)
    response = web.HTTPFound("/")
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/",
                        secure=request.app[SETTINGS].secure_cookies)
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


async def _check(users: UserStore, user: str, password: str) -> str | None:
    import asyncio  # scrypt takes ~50 ms of CPU: keep it off the loop

    return await asyncio.to_thread(users.check, user, password)


async def logout(request: web.Request) -> web.StreamResponse:
    request.app[SESSIONS].drop(request.cookies.get(SESSION_COOKIE))
    response = web.json_response({"location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def root(request: web.Request) -> web.StreamResponse:
    first = request.app[SETTINGS].environments[0].name
    raise web.HTTPFound(f"/e/{first}/dashboard")


async def _close_engines(app: web.Application) -> None:
    for engine in app[ENGINES].values():
        await engine.close()


def build_app(settings: Settings, users: UserStore) -> web.Application:
    app = web.Application(middlewares=[security], client_max_size=512 * 1024 * 1024)
    app[SETTINGS] = settings
    app[USERS] = users
    app[SESSIONS] = SessionStore()
    app[THROTTLE] = LoginThrottle()
    app[ENGINES] = {env.name: Engine(env) for env in settings.environments}
    app.on_cleanup.append(_close_engines)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/", root)
    app.router.add_static("/static/", STATIC_DIR)
    pages.setup(app)
    containers.setup(app)
    resources.setup(app)
    streams.setup(app)
    stacks.setup(app)
    return app
