"""Certificates made with openssl, as Docker's "Protect the Docker daemon socket" guide makes them:
a CA, a server certificate for 127.0.0.1 and a client certificate (extendedKeyUsage clientAuth)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certs:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server-cert.pem"

    @property
    def server_key(self) -> Path:
        return self.dir / "server-key.pem"

    @property
    def client_dir(self) -> Path:
        """ca.pem, cert.pem, key.pem: what DOCKER_CERT_PATH names."""
        return self.dir / "client"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(dir: Path, name: str, subject: str, ext: str) -> None:
    _openssl("genrsa", "-out", f"{name}-key.pem", "2048", cwd=dir)
    _openssl("req", "-new", "-key", f"{name}-key.pem", "-subj", subject, "-out", f"{name}.csr", cwd=dir)
    (dir / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-days", "2", "-sha256", "-in", f"{name}.csr", "-CA", "ca.pem",
             "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", f"{name}-cert.pem",
             "-extfile", f"{name}.ext", cwd=dir)


def make_certs(dir: Path, *, ca_name: str = "ca") -> Certs:
    dir.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-sha256",
             "-keyout", "ca-key.pem", "-out", "ca.pem", "-subj", f"/CN={ca_name}", cwd=dir)
    _signed(dir, "server", "/CN=127.0.0.1",
            "subjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n")
    _signed(dir, "client", "/CN=client", "extendedKeyUsage = clientAuth\n")
    client = dir / "client"
    client.mkdir(exist_ok=True)
    for src, dst in (("ca.pem", "ca.pem"), ("client-cert.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        (client / dst).write_bytes((dir / src).read_bytes())
    return Certs(dir)
