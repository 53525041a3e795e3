"""Registry authentication as Docker does it: challenge → Bearer token (scoped) or Basic.

A registry answers 401 with ``WWW-Authenticate: Bearer realm=…,service=…,scope=…`` (token auth) or
``Basic realm=…``. For Bearer we fetch a token from the realm with the user's credentials (Basic)
or anonymously, for the scopes the operation needs (``repository:<path>:pull`` or ``pull,push``),
and cache it per host, scopes and credentials until it expires.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field

import httpx

from dockyard.core.distribution.model import AuthConfig
from dockyard.errors import Unauthorized, Unavailable

_PARAM = re.compile(r'(\w+)="([^"]*)"')
_DEFAULT_TTL = 60.0


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    return Challenge(scheme.lower(), dict(_PARAM.findall(rest)))


def basic_header(auth: AuthConfig) -> str:
    raw = f"{auth.username}:{auth.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclass
class TokenCache:
    """host → the challenge last seen; (host, scopes, credentials) → (Authorization value, expiry)."""

    challenges: dict[str, Challenge] = field(default_factory=dict)
    tokens: dict[tuple[str, tuple[str, ...], AuthConfig], tuple[str, float]] = field(default_factory=dict)

    def header(self, host: str, scopes: tuple[str, ...], auth: AuthConfig) -> str | None:
        challenge = self.challenges.get(host)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return None if auth.anonymous else basic_header(auth)
        cached = self.tokens.get((host, scopes, auth))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None


async def fetch_token(client: httpx.AsyncClient, challenge: Challenge, scopes: tuple[str, ...],
                      auth: AuthConfig) -> tuple[str, float]:
    """Ask the token server named by a Bearer challenge; return (Authorization value, expiry)."""
    if auth.registry_token:
        return f"Bearer {auth.registry_token}", time.monotonic() + _DEFAULT_TTL
    realm = challenge.params.get("realm")
    if not realm:
        raise Unauthorized("invalid bearer challenge: no realm")
    params: list[tuple[str, str | int | float | bool | None]] = []
    if challenge.params.get("service"):
        params.append(("service", challenge.params["service"]))
    params += [("scope", s) for s in scopes]
    headers = {}
    if not auth.anonymous and auth.username:
        headers["Authorization"] = basic_header(auth)
        params.append(("account", auth.username))
    try:
        response = await client.get(realm, params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"Get {realm!r}: {exc}") from exc
    if response.status_code in (401, 403):
        raise Unauthorized(f"Get \"{realm}\": unauthorized: authentication required")
    if response.status_code >= 400:
        raise Unavailable(f"token server {realm} answered {response.status_code}")
    try:
        body = response.json()
        token = str(body.get("token") or body.get("access_token"))
        ttl = float(body.get("expires_in") or _DEFAULT_TTL)
    except (ValueError, AttributeError) as exc:
        raise Unavailable(f"token server {realm}: invalid answer: {exc}") from exc
    if not token or token == "None":
        raise Unauthorized(f"token server {realm} returned no token")
    return f"Bearer {token}", time.monotonic() + max(ttl - 5.0, 1.0)
