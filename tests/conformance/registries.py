"""Registries for the registry tests: Debian's ``docker-registry`` (the CNCF distribution server) on
127.0.0.1, with a config written here (open, htpasswd basic auth, or token auth against a token
server this module runs), and a proxy in front of one that can corrupt or cut blob transfers.

Nothing listens on a fixed port: every server takes a port the kernel says is free.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import http.server
import ipaddress
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A token endpoint: Basic credentials in, an RS256 JWT (``x5c`` header) granting the scopes out.

    ``users`` maps user → password; anonymous requests get pull rights only when ``anonymous_pull``.
    With ``oauth``, a login (``offline_token=true``) also gets a refresh token (Docker's identity
    token), which the OAuth2 refresh-token grant (POST) trades for access tokens.
    """

    def __init__(self, workdir: Path, users: dict[str, str], anonymous_pull: bool = False,
                 oauth: bool = False) -> None:
        self.users = users
        self.anonymous_pull = anonymous_pull
        self.oauth = oauth
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard-test-token")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.bundle = workdir / "token-root.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.port = free_port()
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server._answer(self)

            def do_POST(self) -> None:  # noqa: N802
                server._answer_oauth(self)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _user(self, header: str | None) -> str | None:
        if not header or not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == password else ""

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        from urllib.parse import parse_qs, urlparse

        query = parse_qs(urlparse(handler.path).query)
        user = self._user(handler.headers.get("Authorization"))
        self.requests.append({"user": user, "scope": query.get("scope", []), "grant": "get"})
        if user == "":
            handler.send_response(401)
            handler.end_headers()
            return
        answer = self._grant(user, query.get("service", [""])[0], query.get("scope", []))
        if self.oauth and user and query.get("offline_token") == ["true"]:
            refresh = secrets.token_hex(16)
            self.refresh_tokens[refresh] = user
            answer["refresh_token"] = refresh
        self._send_json(handler, answer)

    def _answer_oauth(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        from urllib.parse import parse_qs

        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        user = self.refresh_tokens.get(form.get("refresh_token", "")) if self.oauth else None
        scopes = form.get("scope", "").split()
        self.requests.append({"user": user, "scope": scopes, "grant": form.get("grant_type", "")})
        if form.get("grant_type") != "refresh_token" or user is None:
            handler.send_response(401)
            handler.end_headers()
            return
        self._send_json(handler, self._grant(user, form.get("service", ""), scopes))

    def _grant(self, user: str | None, service: str, scopes: list[str]) -> dict[str, Any]:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            granted = actions.split(",") if user else (["pull"] if self.anonymous_pull else [])
            access.append({"type": kind, "name": name,
                           "actions": [a for a in actions.split(",") if a in granted]})
        token = self._jwt(user or "", service, access)
        return {"token": token, "access_token": token, "expires_in": 300}

    @staticmethod
    def _send_json(handler: http.server.BaseHTTPRequestHandler, answer: dict[str, Any]) -> None:
        body = json.dumps(answer).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _jwt(self, subject: str, service: str, access: list[dict[str, Any]]) -> str:
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": "dockyard-test", "sub": subject, "aud": service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{_b64url(signature)}"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2)))


def make_tls(workdir: Path, dns_name: str) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate it signs for ``dns_name`` and 127.0.0.1:
    (CA certificate, server certificate, server key), as PEM files in ``workdir``."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False)
    ca = (_builder(_name("dockyard-test-ca"), _name("dockyard-test-ca"), ca_key)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage, critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    san = x509.SubjectAlternativeName([x509.DNSName(dns_name),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (_builder(_name(dns_name), ca.subject, key)
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (workdir / "ca.crt", workdir / "server.crt", workdir / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class Registry:
    """``docker-registry serve`` on 127.0.0.1:<free port>; ``auth`` is ``None``, ``htpasswd`` or a
    :class:`TokenServer`; ``tls`` (certificate, key) serves HTTPS only."""

    def __init__(self, workdir: Path, *, users: dict[str, str] | None = None,
                 token: TokenServer | None = None, tls: tuple[Path, Path] | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.requests_log = workdir / "registry.log"
        auth = ""
        if users is not None:
            lines = [f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}"
                     for u, p in users.items()]
            (workdir / "htpasswd").write_text("\n".join(lines) + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {workdir / 'htpasswd'}\n"
        elif token is not None:
            auth = (f"auth:\n  token:\n    realm: {token.realm}\n    service: test-registry\n"
                    f"    issuer: dockyard-test\n    rootcertbundle: {token.bundle}\n")
        config = workdir / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n{_tls_config(tls)}{auth}")
        self._log = (workdir / "registry.log").open("wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=self._log,
                                     stderr=subprocess.STDOUT)
        scheme = "https" if tls else "http"
        unverified = ssl._create_unverified_context() if tls else None  # noqa: SLF001 - a readiness probe
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{scheme}://{self.host}/v2/", timeout=1, context=unverified)
                return
            except urllib.error.HTTPError:
                return  # 401: up, and asking for credentials
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not start: {(workdir / 'registry.log').read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


def _tls_config(tls: tuple[Path, Path] | None) -> str:
    if tls is None:
        return ""
    return f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n"


class BlobProxy:
    """A proxy to a registry that can corrupt blob bodies or cut the first blob transfer midway.

    ``mode``: ``"pass"``, ``"corrupt"`` (flip a byte of every blob over ``min_size`` bytes) or
    ``"drop-once"`` (send half of the first such blob, then close the connection).
    """

    def __init__(self, upstream: str, mode: str = "pass", min_size: int = 100_000) -> None:
        self.upstream = upstream
        self.mode = mode
        self.min_size = min_size
        self.dropped = 0
        self.ranges: list[str] = []
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                proxy._forward(self, "GET")

            def do_HEAD(self) -> None:  # noqa: N802
                proxy._forward(self, "HEAD")

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _forward(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() in ("accept", "range",
                                                                             "authorization")}
        if "Range" in handler.headers:
            self.ranges.append(handler.headers["Range"])
        conn.request(method, handler.path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        is_blob = "/blobs/sha256:" in handler.path and method == "GET" and len(body) >= self.min_size
        if is_blob and self.mode == "corrupt":
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        handler.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if method == "HEAD":
            return
        if is_blob and self.mode == "drop-once" and not self.dropped:
            self.dropped += 1
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.wfile.write(body)
