"""The Engine API's HTTP/1.1 server: what its handlers see of requests and responses.

A small server of our own on asyncio and llhttp (httptools), in place of aiohttp's: the daemon
holds ~7 MB less (aiohttp.web imports its helpers, attrs, email, http.client, urllib.request …),
and upgrades and hijacks are a method (``Request.hand_over``) instead of a reach into a
protocol's private state. The names follow aiohttp.web's, which the handlers were written for.
"""

from dockyard.api.web.app import AppKey, Application, Handler, MatchInfo, Middleware, Router, middleware
from dockyard.api.web.exceptions import (
    HTTPBadRequest,
    HTTPException,
    HTTPMethodNotAllowed,
    HTTPNotFound,
    HTTPRequestEntityTooLarge,
)
from dockyard.api.web.headers import Headers, MultiDict
from dockyard.api.web.messages import BodyReader, Request, RequestKey, Response, StreamResponse, json_response
from dockyard.api.web.server import AppRunner, BaseSite, TCPSite, UnixSite

__all__ = [
    "AppKey", "AppRunner", "Application", "BaseSite", "BodyReader", "HTTPBadRequest", "HTTPException",
    "HTTPMethodNotAllowed", "HTTPNotFound", "HTTPRequestEntityTooLarge", "Handler", "Headers",
    "MatchInfo", "Middleware", "MultiDict", "Request", "RequestKey", "Response", "Router",
    "StreamResponse", "TCPSite", "UnixSite", "json_response", "middleware",
]
