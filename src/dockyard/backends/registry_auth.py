"""Registry authentication as Docker does it: challenge → Bearer token (scoped) or Basic.

A registry answers 401 with ``WWW-Authenticate: Bearer realm=…,service=…,scope=…`` (token auth) or
``Basic realm=…``. For Bearer we fetch a token from the realm with the user's credentials (Basic)
or anonymously, for the scopes the operation needs (``repository:<path>:pull`` or ``pull,push``),
and cache it per host, scopes and credentials until it expires. A login asks for an *identity
token* (an OAuth2 refresh token, ``offline_token=true``); when the server gives one, clients keep it
instead of the password and later requests trade it for access tokens (``grant_type=refresh_token``).
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockyard.core.distribution.model import AuthConfig
from dockyard.errors import Unauthorized, Unavailable

if TYPE_CHECKING:
    import httpx
else:
    from dockyard.imports import lazy

    httpx = lazy("httpx")  # on first use: ~6 MB an idle daemon need not hold (dockyard/imports.py)

_PARAM = re.compile(r'(\w+)="([^"]*)"')
_DEFAULT_TTL = 60.0
CLIENT_ID = "docker"  # the client_id Docker's daemon names itself with to token servers


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


@dataclass(frozen=True, slots=True)
class Token:
    header: str  # the Authorization value: "Bearer <token>"
    expiry: float  # time.monotonic() after which it is asked again
    refresh_token: str = ""  # an OAuth refresh token: Docker's identity token


async def fetch_token(client: httpx.AsyncClient, challenge: Challenge, scopes: tuple[str, ...],
                      auth: AuthConfig, *, offline: bool = False) -> Token:
    """Ask the token server named by a Bearer challenge, as Docker's token handler does: with an
    identity token, the OAuth2 refresh-token grant (POST); else a GET with Basic credentials or
    none. ``offline`` (login) asks the server for a refresh token to keep instead of the password."""
    if auth.registry_token:
        return Token(f"Bearer {auth.registry_token}", time.monotonic() + _DEFAULT_TTL)
    realm = challenge.params.get("realm")
    if not realm:
        raise Unauthorized("invalid bearer challenge: no realm")
    service = challenge.params.get("service", "")
    try:
        if auth.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": auth.identity_token, "service": service,
                    "client_id": CLIENT_ID, "scope": " ".join(scopes)}
            response = await client.post(realm, data=form)
        else:
            response = await client.get(realm, params=_token_params(service, scopes, auth, offline),
                                        headers=_basic(auth))
    except httpx.HTTPError as exc:
        raise Unavailable(f"Get {realm!r}: {exc}") from exc
    return _token_of(response, realm)


def _basic(auth: AuthConfig) -> dict[str, str]:
    return {"Authorization": basic_header(auth)} if not auth.anonymous and auth.username else {}


def _token_params(service: str, scopes: tuple[str, ...], auth: AuthConfig,
                  offline: bool) -> list[tuple[str, str | int | float | bool | None]]:
    params: list[tuple[str, str | int | float | bool | None]] = []
    if service:
        params.append(("service", service))
    params += [("scope", s) for s in scopes]
    if not auth.anonymous and auth.username:
        params.append(("account", auth.username))
    if offline:
        params += [("offline_token", "true"), ("client_id", CLIENT_ID)]
    return params


def _token_of(response: httpx.Response, realm: str) -> Token:
    if response.status_code in (401, 403):
        raise Unauthorized(f"Get \"{realm}\": unauthorized: authentication required")
    if response.status_code >= 400:
        raise Unavailable(f"token server {realm} answered {response.status_code}")
    try:
        body = response.json()
        token = str(body.get("access_token") or body.get("token") or "")
        ttl = float(body.get("expires_in") or _DEFAULT_TTL)
        refresh = str(body.get("refresh_token") or "")
    except (ValueError, AttributeError) as exc:
        raise Unavailable(f"token server {realm}: invalid answer: {exc}") from exc
    if not token:
        raise Unauthorized(f"token server {realm} returned no token")
    return Token(f"Bearer {token}", time.monotonic() + max(ttl - 5.0, 1.0), refresh)
