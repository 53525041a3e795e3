"""dockyardd on tcp with mutual TLS, reached by the stock docker CLI and ours."""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

import pytest
from conformance.daemon import DOCKER

from remote.conftest import RemoteDaemon

pytestmark = [pytest.mark.root]

CLIS = ["docker", "dockyard"]


@pytest.mark.parametrize("cli", CLIS)
def test_mutual_tls_with_flags(remote: RemoteDaemon, cli: str) -> None:
    proc = remote.run(cli, *remote.tls_args(), "run", "--rm", "busybox", "echo", "over-tls")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "over-tls"


@pytest.mark.parametrize("cli", CLIS)
def test_docker_tls_verify_and_cert_path(remote: RemoteDaemon, cli: str) -> None:
    env = remote.env(DOCKER_HOST=remote.tcp, DOCKER_TLS_VERIFY="1",
                     DOCKER_CERT_PATH=str(remote.certs.client_dir))
    proc = remote.run(cli, "version", "--format", "{{.Server.Version}}", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


@pytest.mark.parametrize("cli", CLIS)
def test_stdin_end_over_tls_keeps_output(remote: RemoteDaemon, cli: str) -> None:
    """The client's half-close (TLS close_notify) ends the container's stdin; its output still
    comes back (attach/exec hijack over TLS)."""
    proc = remote.run(cli, *remote.tls_args(), "run", "--rm", "-i", "busybox", "sh", "-c",
                      "cat; echo done", input=b"piped\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "piped\ndone\n"


def test_exec_it_over_tls(remote: RemoteDaemon) -> None:
    import pexpect

    name = "tls-exec-it"
    assert remote.run("docker", *remote.tls_args(), "run", "-d", "--name", name, "busybox",
                      "sleep", "60").returncode == 0
    try:
        child = pexpect.spawn(DOCKER, [*remote.tls_args(), "exec", "-it", name, "sh"],
                              env=remote.env(), timeout=30)
        child.sendline("echo $((6*7))")
        child.expect("42")
        child.sendline("exit 3")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 3
    finally:
        remote.run("docker", *remote.tls_args(), "rm", "-f", name)


def test_client_without_certificate_is_refused_at_handshake(remote: RemoteDaemon) -> None:
    host, port = remote.tcp.removeprefix("tcp://").split(":")
    context = ssl.create_default_context(cafile=str(remote.certs.ca))
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                # TLS 1.3: the server's refusal of the missing certificate arrives on first read.
                tls.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = tls.recv(1024)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
            answer = str(exc).encode()
    assert not answer.startswith(b"HTTP/"), answer
    proc = remote.run("docker", "--tlsverify", "--tlscacert", str(remote.certs.ca), "-H", remote.tcp, "ps")
    assert proc.returncode != 0
    assert "CONTAINER ID" not in proc.stdout


def test_plain_http_on_the_tls_port_gets_nothing_useful(remote: RemoteDaemon) -> None:
    host, port = remote.tcp.removeprefix("tcp://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/_ping")
        response = conn.getresponse()
        body = response.read()
    except (http.client.HTTPException, OSError):
        return
    finally:
        conn.close()
    assert response.status != 200 and b"OK" not in body


def test_our_cli_reports_tls_verification_failure(remote: RemoteDaemon, tmp_path: Path) -> None:
    from remote.certs import make_certs

    other = make_certs(tmp_path / "other", ca_name="other")
    proc = remote.run("dockyard", "--tlsverify", "--tlscacert", str(other.ca), "--tlscert",
                      str(other.client_dir / "cert.pem"), "--tlskey", str(other.client_dir / "key.pem"),
                      "-H", remote.tcp, "ps")
    assert proc.returncode == 1
    assert "certificate verify failed" in proc.stderr or "CERTIFICATE_VERIFY_FAILED" in proc.stderr


def test_unix_socket_group_and_mode(remote: RemoteDaemon) -> None:
    import grp
    import os
    import stat

    info = os.stat(remote.daemon.sock)
    assert stat.S_IMODE(info.st_mode) == 0o660
    try:
        docker_gid = grp.getgrnam("docker").gr_gid
    except KeyError:
        pytest.skip("no docker group on this host")
    assert info.st_gid == docker_gid


def test_tcp_without_tls_needs_explicit_opt_in(tmp_path: Path) -> None:
    import subprocess
    import sys

    from remote.sshd import free_port

    argv = [sys.executable, "-m", "dockyard.daemon", "-H", f"tcp://127.0.0.1:{free_port()}",
            "-H", f"unix://{tmp_path}/d.sock", "--data-root", str(tmp_path / "data"),
            "--exec-root", str(tmp_path / "exec")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "--tls=false" in proc.stderr and "--tlsverify" in proc.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made
