"""Where the API listens: UNIX sockets (group-owned, mode 0660) and tcp with TLS, as dockerd's ``-H``.

A *host* is dockerd's address form: ``unix:///path``, ``tcp://ADDR:PORT`` (``tcp://:2376`` is every
address), or a bare ``ADDR:PORT``. TLS follows dockerd: ``--tlsverify`` is mutual TLS (a client
without a certificate signed by ``--tlscacert`` fails the handshake), ``--tls`` alone is server TLS,
and a tcp listener without TLS needs an explicit ``--tls=false`` and is logged as insecure.
"""

from __future__ import annotations

import grp
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from dockyard.api import web
from dockyard.config import DaemonConfig, socket_path
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

DEFAULT_TLS_PORT, DEFAULT_PLAIN_PORT = 2376, 2375
INSECURE_WARNING = ("Binding to IP address without --tlsverify is insecure and gives root access on "
                    "this machine to everyone who has access to your network.")


@dataclass(frozen=True, slots=True)
class TcpAddress:
    host: str
    port: int


def parse_tcp(host: str, *, tls: bool) -> TcpAddress:
    """``tcp://ADDR:PORT`` → address; an empty ADDR is every address, a missing PORT is 2376/2375."""
    rest = host[len("tcp://"):] if host.startswith("tcp://") else host
    rest = rest.split("/", 1)[0]
    addr, sep, port = rest.rpartition(":")
    if not sep:
        addr, port = rest, ""
    addr = addr.strip("[]") or "0.0.0.0"
    try:
        number = int(port) if port else (DEFAULT_TLS_PORT if tls else DEFAULT_PLAIN_PORT)
    except ValueError as exc:
        raise InvalidArgument(f"invalid bind address ({host}): invalid port") from exc
    if not 0 < number < 65536:
        raise InvalidArgument(f"invalid bind address ({host}): invalid port")
    return TcpAddress(addr, number)


def tcp_hosts(config: DaemonConfig) -> list[str]:
    return [h for h in config.hosts if h.startswith("tcp://")]


def tls_enabled(config: DaemonConfig) -> bool:
    # dockerd: --tlsverify implies --tls.
    return bool(config.tls) or config.tlsverify


def _cert_default(given: str, name: str) -> str:
    # dockerd's defaults: $DOCKER_CERT_PATH or ~/.docker, files ca.pem, cert.pem, key.pem.
    if given:
        return given
    base = os.environ.get("DOCKER_CERT_PATH") or str(Path.home() / ".docker")
    return str(Path(base) / name)


def server_tls_context(config: DaemonConfig) -> ssl.SSLContext:
    """The TLS settings of every tcp listener; unreadable files stop the daemon, as dockerd."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # dockerd's minimum
    cert, key = _cert_default(config.tlscert, "cert.pem"), _cert_default(config.tlskey, "key.pem")
    try:
        context.load_cert_chain(cert, key)
        if config.tlsverify:
            context.load_verify_locations(_cert_default(config.tlscacert, "ca.pem"))
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"failed to load listeners: could not load TLS files: {exc}") from exc
    return context


def _socket_gid(group: str) -> int | None:
    """dockerd's ``-G``: the named group (or a number); the default ``docker`` only when it exists."""
    if not group:
        return None
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        if group != "docker":
            raise InvalidArgument(f"can't create unix socket: group {group} not found") from None
        return None


@dataclass(frozen=True, slots=True)
class ListenerPlan:
    """What :func:`plan_listeners` checked, for :func:`start_listeners` to use."""

    gid: int | None
    context: ssl.SSLContext | None


def plan_listeners(config: DaemonConfig) -> ListenerPlan:
    """Check every ``-H`` setting (hosts, TLS files, the plain-tcp opt-in, the socket group) before
    the daemon makes anything, so a refused setting leaves nothing behind."""
    gid = _socket_gid(config.group)
    tcp = tcp_hosts(config)
    for host in config.hosts:
        if not host.startswith("tcp://"):
            socket_path(host)
    context = server_tls_context(config) if tcp and tls_enabled(config) else None
    if tcp and context is None and config.tls is not False:
        raise InvalidArgument(
            "failed to load listeners: API is accessible on tcp without encryption and without "
            "authentication; add --tlsverify (with --tlscacert, --tlscert, --tlskey), or --tls=false "
            "to accept that anyone who can reach it has root on this machine")
    for host in tcp:
        parse_tcp(host, tls=context is not None)
    if config.metrics_addr:
        addr = config.metrics_addr
        parse_tcp(addr if addr.startswith("tcp://") else f"tcp://{addr}", tls=False)
    return ListenerPlan(gid, context)


async def start_listeners(runner: web.AppRunner, config: DaemonConfig, plan: ListenerPlan) -> None:
    """Start one site per ``-H``."""
    gid, context = plan.gid, plan.context
    for host in config.hosts:
        if host.startswith("tcp://"):
            address = parse_tcp(host, tls=context is not None)
            if context is None or not config.tlsverify:
                log.warning(INSECURE_WARNING)
            site: web.BaseSite = web.TCPSite(runner, address.host, address.port, ssl_context=context)
            await site.start()
            log.info("API listening on %s:%d (%s)", address.host, address.port,
                     "mutual TLS" if config.tlsverify else "TLS" if context else "plain HTTP")
    for sock in config.socket_paths:
        await _start_unix(runner, sock, gid)


async def _start_unix(runner: web.AppRunner, sock: Path, gid: int | None) -> None:
    sock.parent.mkdir(parents=True, exist_ok=True)
    if sock.exists() or sock.is_symlink():
        sock.unlink()
    site = web.UnixSite(runner, str(sock))
    await site.start()
    os.chmod(sock, 0o660)
    if gid is not None:
        os.chown(sock, 0 if os.geteuid() == 0 else -1, gid)
    log.info("API listening on %s", sock)
