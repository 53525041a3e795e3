"""Docker's plugin protocol over HTTP: JSON POSTs to a UNIX socket or a (TLS) TCP address."""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dockyard.core.plugins.registry import PluginAddress, PluginError, PluginUnreachable, TlsFiles

if TYPE_CHECKING:
    import aiohttp
else:
    from dockyard.imports import lazy

    aiohttp = lazy("aiohttp")  # on a plugin's first call: an idle daemon need not hold it (imports.py)

# The media type moby's plugin client sends and accepts.
MEDIA_TYPE = "application/vnd.docker.plugins.v1.2+json"
# moby's default for a plugin call (pkg/plugins client: 30 s per request after activation).
DEFAULT_TIMEOUT = 30.0


class HttpPluginTransport:
    def __init__(self, address: PluginAddress) -> None:
        self._address = address
        self._session: aiohttp.ClientSession | None = None
        self._base = ""

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            scheme, _, rest = self._address.address.partition("://")
            connector: aiohttp.BaseConnector
            if scheme == "unix":
                connector = aiohttp.UnixConnector(path=rest)
                self._base = "http://plugin"
            elif scheme in ("tcp", "http", "https"):
                tls = _ssl_context(self._address.tls) if self._address.tls or scheme == "https" else None
                connector = aiohttp.TCPConnector(ssl=tls if tls is not None else False)
                self._base = f"{'https' if tls is not None else 'http'}://{rest.rstrip('/')}"
            else:
                raise PluginError(f"unknown protocol {scheme!r} for plugin {self._address.name}")
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def call(self, method: str, payload: Mapping[str, Any] | None = None, *,
                   timeout: float | None = None) -> dict[str, Any]:
        session = self._open()
        body = json.dumps(payload if payload is not None else {}).encode()
        try:
            async with session.post(f"{self._base}/{method}", data=body,
                                    headers={"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE},
                                    timeout=aiohttp.ClientTimeout(total=timeout or DEFAULT_TIMEOUT)) as reply:
                raw = await reply.read()
                status = reply.status
        except (aiohttp.ClientError, OSError) as error:
            text = f"error while calling {method} on plugin {self._address.name}: {str(error) or 'timeout'}"
            # Refused, reset, socket gone: the registry may retry (moby's callWithRetry does). A
            # timeout is not retried: the plugin is there and slow (TimeoutError is an OSError).
            lost = isinstance(error, (aiohttp.ClientConnectionError, OSError))
            if lost and not isinstance(error, TimeoutError):
                raise PluginUnreachable(text) from error
            raise PluginError(text) from error
        decoded = _decode(raw)
        if status >= 300:
            # moby's statusError: "<method>: <the plugin's Err, else its body>".
            text = str(decoded.get("Err") or raw.decode(errors="replace").strip() or f"HTTP {status}")
            raise PluginError(f"{method}: {text}", status=status, reply=decoded)
        if decoded.get("Err"):
            # A 200 with an Err: moby's generated proxies return the Err text as it is.
            raise PluginError(str(decoded["Err"]), status=status, reply=decoded)
        return decoded

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _decode(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _ssl_context(tls: TlsFiles | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls.ca_file or None if tls else None)
    if tls is not None:
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file or None)
        if tls.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return context


def connect(address: PluginAddress) -> HttpPluginTransport:
    return HttpPluginTransport(address)
