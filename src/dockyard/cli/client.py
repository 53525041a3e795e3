"""The CLI's connection to the daemon: HTTP over any endpoint, with API version negotiation.

The CLI is a pure client of the Docker Engine API; nothing here imports the daemon's code. Errors are
:class:`DaemonError` (the daemon answered with a status >= 400) or :class:`CannotConnect`; the command
layer turns them into docker's one-line messages and exit codes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

# Standard library only (cli/connection.py): a command's imports stay within its 0.1 s budget.
from dockyard.cli.connection import Pool, Response
from dockyard.cli.endpoint import DEFAULT_HOST, Endpoint, env_tls

# Re-exported: the command modules import the errors from here.
from dockyard.cli.errors import CannotConnect as CannotConnect
from dockyard.cli.errors import CliError as CliError
from dockyard.cli.errors import ConnectFailed as ConnectFailed
from dockyard.cli.errors import DaemonError as DaemonError

# The newest API version this client speaks; the daemon may lower it at /_ping.
CLIENT_API_VERSION = "1.50"
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")

Params = list[tuple[str, str]] | dict[str, str]


def resolve_host(host: str | None) -> str:
    """``-H`` wins over ``DOCKER_HOST``, which wins over our default socket."""
    return host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def endpoint_of(host: str | None) -> Endpoint:
    """An endpoint for ``-H``/``DOCKER_HOST`` alone; tcp takes TLS from ``DOCKER_TLS_VERIFY``."""
    resolved = resolve_host(host)
    endpoint = Endpoint(resolved)
    if endpoint.scheme not in ("unix", "tcp", "ssh"):
        raise CliError(f"unsupported host {resolved!r}: use unix://, tcp:// or ssh://", 125)
    return Endpoint(resolved, env_tls()) if endpoint.scheme == "tcp" else endpoint


def _version_key(version: str) -> tuple[int, int]:
    match = _VERSION_RE.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def negotiated_version(server_version: str | None) -> str:
    """The lower of ours and the daemon's, as docker's client negotiates."""
    if not server_version or _version_key(server_version) == (0, 0):
        return CLIENT_API_VERSION
    return min(CLIENT_API_VERSION, server_version, key=_version_key)


def error_message(response: Response) -> str:
    """The daemon's ``{"message": …}``, or its raw body when it is not JSON."""
    body = response.read()
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return str(payload["message"])
    text = body.decode(errors="replace").strip()
    return text or f"{response.status_code} {response.reason_phrase}"


class Client:
    """One daemon connection; the API version is negotiated on first use."""

    def __init__(self, host: str | None = None, *, timeout: float | None = None,
                 endpoint: Endpoint | None = None) -> None:
        self.endpoint = endpoint or endpoint_of(host)
        self.host = self.endpoint.host
        if self.endpoint.scheme not in ("unix", "tcp", "ssh"):
            raise CliError(f"unsupported host {self.host!r}: use unix://, tcp:// or ssh://", 125)
        self._timeout = timeout
        self._pool = Pool(self.endpoint, timeout)
        self._version: str | None = None

    def close(self) -> None:
        self._pool.close()

    def clone(self) -> Client:
        """A second connection for a concurrent request (``wait`` beside ``start``), same version."""
        other = Client(endpoint=self.endpoint, timeout=self._timeout)
        other._version = self._version
        return other

    @property
    def version(self) -> str:
        if self._version is None:
            response = self._send("GET", "/_ping", None, {})
            response.read()
            self._version = negotiated_version(response.headers.get("Api-Version"))
        return self._version

    def _connect_error(self, exc: Exception) -> CliError:
        """TLS failures carry their own reason; a socket nobody serves is docker's
        "Is the docker daemon running?" (ssh and connect failures are CliErrors already)."""
        if self.endpoint.scheme == "tcp" and ("SSL" in str(exc) or "certificate" in str(exc)):
            return ConnectFailed(self.host, f"tls: {exc}")
        return CannotConnect(self.host)

    def url(self, path: str) -> str:
        return f"/v{self.version}{path}"

    def _send(self, method: str, target: str, content: bytes | Iterator[bytes] | None,
              headers: dict[str, str]) -> Response:
        hdrs = {"User-Agent": "dockyard-cli", **headers}
        try:
            return self._pool.send(method, target, content, hdrs)
        except OSError as exc:
            raise self._connect_error(exc) from exc

    @contextmanager
    def stream(self, method: str, path: str, *, params: Params | None = None, body: Any = None,
               content: bytes | Iterator[bytes] | None = None,
               headers: Mapping[str, str] | None = None) -> Iterator[Response]:
        """Send a request and yield the response with its body unread; raise on error statuses."""
        hdrs = dict(headers or {})
        if body is not None:
            content = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        target = self.url(path)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        response = self._send(method, target, content, hdrs)
        try:
            if response.status_code >= 400:
                raise DaemonError(response.status_code, error_message(response))
            yield response
        finally:
            response.close()

    def request(self, method: str, path: str, *, params: Params | None = None, body: Any = None,
                content: bytes | Iterator[bytes] | None = None,
                headers: Mapping[str, str] | None = None) -> Response:
        with self.stream(method, path, params=params, body=body, content=content,
                         headers=headers) as response:
            response.read()
            return response

    def get_json(self, path: str, params: Params | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, params: Params | None = None, body: Any = None) -> Any:
        response = self.request("POST", path, params=params, body=body)
        return response.json() if response.content else None


def filters_param(filters: Sequence[str]) -> str:
    """``--filter k=v`` flags → the API's JSON ``{"k": ["v", …]}`` form."""
    grouped: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"bad format of filter (expected name=value): {item}", 125)
        grouped.setdefault(key.strip().lower(), []).append(value)
    return json.dumps(grouped)


_DECODER = json.JSONDecoder()


def split_json_objects(buffer: str) -> tuple[list[dict[str, Any]], str]:
    """The whole JSON objects at the start of ``buffer`` (a stream of concatenated ones, as the
    engine sends progress and events), and the rest: an object still arriving, kept for the
    next chunk. Values other than objects are skipped."""
    objects: list[dict[str, Any]] = []
    while buffer := buffer.lstrip():
        try:
            obj, end = _DECODER.raw_decode(buffer)
        except ValueError:
            break
        buffer = buffer[end:]
        if isinstance(obj, dict):
            objects.append(obj)
    return objects, buffer


def iter_json_stream(response: Response) -> Iterator[dict[str, Any]]:
    """Decode a stream of concatenated JSON objects (progress messages, events)."""
    buffer = ""
    for chunk in response.iter_text():
        objects, buffer = split_json_objects(buffer + chunk)
        yield from objects


def connect(endpoint: Endpoint, *, timeout: float | None = None) -> Client:
    """An API client for ``endpoint`` (unix, tcp with or without TLS, ssh): what adapters other
    than the CLI call, with an endpoint from :mod:`dockyard.cli.contexts` or built by hand."""
    return Client(endpoint=endpoint, timeout=timeout)
