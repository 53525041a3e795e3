"""How a client reaches an engine: an *endpoint* (the docker CLI's word) and the sockets to it.

An endpoint is a host URL — ``unix:///path``, ``tcp://host:port`` (plain or TLS) or
``ssh://[user@]host[:port][/path]`` — plus the TLS material of a tcp one. :func:`open_socket` gives a
connected, socket-like stream for any of them (the ssh one is the system ``ssh`` client running
``docker system dial-stdio`` on the far side, as the docker CLI does, so ``~/.ssh/config`` and
agents apply); `cli/connection.py` runs HTTP over the same streams. Adapters other than the
CLI (the web UI) use :func:`dockyard.cli.client.connect` with an endpoint from here or from a
context (``cli/contexts.py``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from dockyard.cli.errors import CannotConnect, CliError, ConnectFailed

if TYPE_CHECKING:
    import ssl

DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"


class Stream(Protocol):
    """What the HTTP transport and the hijacked streams need of a connection."""

    def sendall(self, data: bytes) -> None: ...
    def recv(self, size: int) -> bytes: ...
    def shutdown(self, how: int) -> None: ...
    def close(self) -> None: ...
    def settimeout(self, timeout: float | None) -> None: ...


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Client TLS: ``verify`` checks the daemon against ``ca`` (``--tlsverify``); without it the
    daemon's certificate is not checked (``--tls``, or a context's SkipTLSVerify)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify: bool = True


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    tls: TlsConfig | None = None

    @property
    def scheme(self) -> str:
        if self.host.startswith("/"):
            return "unix"
        return urlsplit(self.host).scheme

    @property
    def base_url(self) -> str:
        """The URL of the engine; its host part names the daemon only for tcp."""
        if self.scheme == "tcp":
            netloc = urlsplit(self.host).netloc
            return f"{'https' if self.tls else 'http'}://{netloc}"
        return "http://docker"


def docker_config_dir() -> Path:
    """``$DOCKER_CONFIG`` or ``~/.docker``: the docker CLI's own config and context store."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def cert_path_default(name: str) -> str:
    return str(Path(os.environ.get("DOCKER_CERT_PATH") or docker_config_dir()) / name)


def env_tls() -> TlsConfig | None:
    """``DOCKER_TLS_VERIFY`` (any non-empty value) with ``DOCKER_CERT_PATH``'s ca/cert/key."""
    if not os.environ.get("DOCKER_TLS_VERIFY"):
        return None
    return TlsConfig(ca=cert_path_default("ca.pem"), cert=cert_path_default("cert.pem"),
                     key=cert_path_default("key.pem"), verify=True)


def flag_tls(*, tls: bool, tlsverify: bool, ca: str | None, cert: str | None,
             key: str | None) -> TlsConfig | None:
    """The global ``--tls*`` flags, as the docker CLI reads them (``--tlsverify`` implies ``--tls``)."""
    if not (tls or tlsverify or ca or cert or key):
        return env_tls()
    files = {"ca": ca or cert_path_default("ca.pem"), "cert": cert or cert_path_default("cert.pem"),
             "key": key or cert_path_default("key.pem")}
    present = {k: v if Path(v).exists() else None for k, v in files.items()}
    return TlsConfig(ca=present["ca"], cert=present["cert"], key=present["key"],
                     verify=tlsverify or bool(os.environ.get("DOCKER_TLS_VERIFY")))


def client_ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    import ssl  # a tenth of a command's start-up budget: only for TLS endpoints

    context = ssl.create_default_context(cafile=tls.ca if tls.verify else None)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        if tls.cert and tls.key:
            context.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"could not load X509 key pair: {exc}") from exc
    return context


def _unix_path(host: str) -> str:
    return host if host.startswith("/") else host[len("unix://"):]


def open_socket(endpoint: Endpoint, timeout: float | None = None) -> Stream:
    """A connected stream to the engine; errors say what failed, in the docker CLI's words."""
    scheme = endpoint.scheme
    if scheme == "unix":
        return _open_unix(endpoint, timeout)
    if scheme == "tcp":
        parts = urlsplit(endpoint.host)
        port = parts.port or (2376 if endpoint.tls else 2375)
        try:
            sock = socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout)
        except OSError as exc:
            raise ConnectFailed(endpoint.host, f"dial tcp {parts.hostname}:{port}: "
                                f"{exc.strerror or exc}") from exc
        if endpoint.tls is None:
            return sock
        from dockyard.cli.tls_stream import TlsStream

        return TlsStream(sock, client_ssl_context(endpoint.tls), parts.hostname or "", endpoint.host)
    if scheme == "ssh":
        return open_ssh(endpoint.host)
    raise CliError(f"unsupported host {endpoint.host!r}: use unix://, tcp:// or ssh://", 125)


def _open_unix(endpoint: Endpoint, timeout: float | None) -> socket.socket:
    path = _unix_path(endpoint.host)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except PermissionError as exc:
        sock.close()
        raise CliError(f"permission denied while trying to connect to the Docker daemon socket at "
                       f"{endpoint.host}: dial unix {path}: connect: permission denied") from exc
    except OSError as exc:
        sock.close()
        raise CannotConnect(endpoint.host) from exc
    return sock


def ssh_argv(host: str, command: list[str] | None = None) -> list[str]:
    from dockyard.cli.ssh_stream import ssh_argv as argv

    return argv(host, command)


def open_ssh(host: str) -> Stream:
    # ssh's module (subprocess, shutil) only for ssh endpoints: a command's start-up budget.
    from dockyard.cli.ssh_stream import SshStream

    return SshStream(host)
