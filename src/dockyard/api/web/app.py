"""The application: typed state, middlewares, hooks, and a router of path templates."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from dockyard.api.web.exceptions import HTTPMethodNotAllowed, HTTPNotFound
from dockyard.api.web.messages import Request, RequestKey, StreamResponse

_T = TypeVar("_T")

Handler = Callable[[Request], Awaitable[StreamResponse]]
Middleware = Callable[[Request, Handler], Awaitable[StreamResponse]]
PrepareHook = Callable[[Request, StreamResponse], Awaitable[None]]
AppHook = Callable[["Application"], Awaitable[None]]

AppKey = RequestKey  # one typed-key class for both


def middleware(func: Middleware) -> Middleware:
    """Marks a middleware (``async def m(request, handler)``); kept for readability only."""
    return func


class MatchInfo(dict[str, str]):
    """The path's variables, and the template and handler of the route that matched."""

    def __init__(self, params: dict[str, str], template: str | None, handler: Handler) -> None:
        super().__init__(params)
        self.template = template
        self.handler = handler


class _Route:
    __slots__ = ("handler", "method", "pattern", "template")

    def __init__(self, method: str, template: str, handler: Handler) -> None:
        self.method = method
        self.template = template
        self.pattern = compile_template(template)
        self.handler = handler


def compile_template(template: str) -> re.Pattern[str]:
    """``/containers/{id}/json`` or ``/{name:.*}``: each ``{var}`` one path segment, or its regex."""
    out = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            out.append(re.escape(template[i:]))
            break
        out.append(re.escape(template[i:start]))
        depth, j = 0, start
        while j < len(template):
            depth += {"{": 1, "}": -1}.get(template[j], 0)
            if depth == 0:
                break
            j += 1
        if depth:
            raise ValueError(f"unbalanced braces in route {template!r}")
        name, _, regex = template[start + 1:j].partition(":")
        if not name.isidentifier():
            raise ValueError(f"bad variable {name!r} in route {template!r}")
        out.append(f"(?P<{name}>{regex or '[^{}/]+'})")
        i = j + 1
    return re.compile("".join(out) + r"\Z")


def _first_segment(path: str) -> str:
    return path[1:].split("/", 1)[0] if path.startswith("/") else ""


class Router:
    """Routes in the order they were added: the first whose template and method match answers;
    a template that matches with another method makes a 405, none a 404. ``prefix`` (a regex
    with named groups, such as Docker's ``/v1.50``) may stand before any route's path."""

    def __init__(self) -> None:
        self._by_segment: dict[str, list[_Route]] = {}
        self._loose: list[_Route] = []  # templates that start with a variable
        self._prefix: re.Pattern[str] | None = None

    def add_route(self, method: str, template: str, handler: Handler) -> None:
        route = _Route(method.upper(), template, handler)
        segment = _first_segment(template)
        if "{" in segment or not template.startswith("/"):
            self._loose.append(route)
        else:
            self._by_segment.setdefault(segment, []).append(route)

    def add_get(self, template: str, handler: Handler) -> None:
        self.add_route("GET", template, handler)
        self.add_route("HEAD", template, handler)

    def add_post(self, template: str, handler: Handler) -> None:
        self.add_route("POST", template, handler)

    def allow_prefix(self, regex: str) -> None:
        self._prefix = re.compile(regex)

    def resolve(self, method: str, path: str) -> MatchInfo:
        allowed: set[str] = set()
        if self._prefix is not None and (head := self._prefix.match(path)) and path[head.end():][:1] == "/":
            found = self._match(method, path[head.end():], allowed)
            if found is not None:
                found.update({k: v for k, v in head.groupdict().items() if v is not None})
                return found
        found = self._match(method, path, allowed)
        if found is not None:
            return found
        error: Exception = HTTPMethodNotAllowed(method, allowed) if allowed else HTTPNotFound()
        return MatchInfo({}, None, partial(_raise, error))

    def _match(self, method: str, path: str, allowed: set[str]) -> MatchInfo | None:
        for routes in (self._by_segment.get(_first_segment(path), ()), self._loose):
            for route in routes:
                matched = route.pattern.match(path)
                if matched is None:
                    continue
                if route.method != method:
                    allowed.add(route.method)
                    continue
                return MatchInfo(matched.groupdict(), route.template, route.handler)
        return None


async def _raise(error: Exception, _request: Request) -> StreamResponse:
    raise error


class Application:
    """The handlers' shared state (``app[KEY]``), their middlewares (the first outermost), and the
    hooks run as each response's head is about to go out."""

    def __init__(self, *, middlewares: list[Middleware] | tuple[Middleware, ...] = ()) -> None:
        self.middlewares = list(middlewares)
        self.router = Router()
        self.on_response_prepare: list[PrepareHook] = []
        self.on_startup: list[AppHook] = []
        self.on_cleanup: list[AppHook] = []
        self._state: dict[object, Any] = {}

    def __getitem__(self, key: RequestKey[_T]) -> _T:
        return self._state[key]  # type: ignore[no-any-return]

    def __setitem__(self, key: RequestKey[_T], value: _T) -> None:
        self._state[key] = value

    def get(self, key: RequestKey[_T], default: _T | None = None) -> _T | None:
        return self._state.get(key, default)

    async def handle(self, request: Request) -> StreamResponse:
        match = self.router.resolve(request.method, request.path)
        request.match_info = match
        call: Handler = match.handler
        for outer in reversed(self.middlewares):
            call = partial(outer, handler=call)  # type: ignore[call-arg]
        return await call(request)
