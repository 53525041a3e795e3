"""Where a registry is reached and how: secure or insecure, TLS trust per host, mirrors of docker.io.

Docker's rules, as moby's ``registry`` package applies them:

- A registry is *insecure* (HTTPS without verification, then plain HTTP) when it is listed in
  ``insecure-registries`` (as ``host:port``, ``host``, or a CIDR holding its IP literal) or is a
  loopback address (``127.0.0.0/8``, ``::1``, ``localhost``). Any other host is secure: HTTPS,
  verified, and a plain-HTTP registry there is refused.
- A secure registry is verified against the system CAs plus ``<certs dir>/<host:port>/*.crt``;
  ``*.cert`` + ``*.key`` there are a client certificate. The dirs are read again when their
  contents change, so a CA dropped in takes effect without a restart, as with dockerd.
- ``registry-mirrors`` are ``scheme://host[:port]`` URLs tried in order for docker.io pulls.

Docker also resolves a registry's hostname and treats it as insecure when it resolves to a loopback
address; we decide on the name as written (no DNS lookup in a pure decision), so a name such as
the machine's hostname stays secure even when ``/etc/hosts`` maps it to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dockyard.errors import InvalidArgument, Unavailable

if TYPE_CHECKING:
    import httpx


def _hostname(host: str) -> str:
    """``127.0.0.1:5000`` → ``127.0.0.1``; ``[::1]:5000`` → ``::1``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def is_loopback(host: str) -> bool:
    name = _hostname(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str, insecure_registries: tuple[str, ...]) -> bool:
    """Docker's decision: may ``host`` (``name[:port]``) be reached without verified TLS?"""
    if is_loopback(host):
        return True
    name = _hostname(host)
    for entry in insecure_registries:
        entry = entry.removeprefix("http://").removeprefix("https://").rstrip("/")
        if entry in (host, name):
            return True
        if "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
                if ipaddress.ip_address(name) in network:
                    return True
            except ValueError:
                continue
    return False


@dataclass(frozen=True, slots=True)
class Mirror:
    scheme: str
    host: str  # host[:port], the key for clients, schemes and tokens


def parse_mirror(url: str) -> Mirror:
    """A ``registry-mirrors`` entry; Docker's messages for the forms it refuses."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise InvalidArgument(f"invalid mirror: unsupported scheme \"{parts.scheme}\" in \"{url}\"")
    if parts.path not in ("", "/") or parts.query or parts.fragment or not parts.netloc:
        raise InvalidArgument(f"invalid mirror: path, query, or fragment at end of the URI \"{url}\"")
    return Mirror(parts.scheme, parts.netloc)


class CertsDirs:
    """TLS trust per registry host from the certs dirs, rebuilt when their files change."""

    def __init__(self, dirs: tuple[Path, ...]) -> None:
        self._dirs = dirs

    def fingerprint(self, host: str) -> tuple[tuple[str, int, int], ...]:
        """The files that shape ``host``'s TLS context, with mtime and size: a change means a new
        context (and client)."""
        found = []
        for base in self._dirs:
            directory = base / host
            if not directory.is_dir():
                continue
            for path in sorted(directory.iterdir()):
                if path.suffix in (".crt", ".cert", ".key"):
                    stat = path.stat()
                    found.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(found)

    def context(self, host: str) -> ssl.SSLContext:
        context = ssl.create_default_context()
        for base in self._dirs:
            directory = base / host
            if not directory.is_dir():
                continue
            for ca in sorted(directory.glob("*.crt")):
                context.load_verify_locations(cafile=str(ca))
            for cert in sorted(directory.glob("*.cert")):
                key = cert.with_suffix(".key")
                if not key.exists():
                    raise InvalidArgument(f"missing key {key.name} for client certificate {cert.name}."
                                          " CA certificates must use the extension .crt")
                context.load_cert_chain(str(cert), str(key))
        return context


def transport_error(method: str, url: object, exc: httpx.HTTPError) -> Unavailable:
    """An unreachable registry, worded as Docker's Go client words it where the cause is TLS."""
    text = str(exc)
    where = f"{method.capitalize()} \"{url}\""
    if "CERTIFICATE_VERIFY_FAILED" in text:
        if "unable to get local issuer" in text or "self-signed" in text or "self signed" in text:
            reason = "x509: certificate signed by unknown authority"
        elif "Hostname mismatch" in text or "IP address mismatch" in text:
            reason = f"x509: certificate is not valid for this host ({text.rsplit(':', 1)[-1].strip()})"
        else:
            reason = f"x509: {text}"
        return Unavailable(f"{where}: tls: failed to verify certificate: {reason}")
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text or "http request" in text.lower():
        return Unavailable(f"{where}: http: server gave HTTP response to HTTPS client")
    return Unavailable(f"{where}: {text}")
