"""The web UI's pure parts: password hashes, the login throttle, redaction, the create form's
translation, stats arithmetic, listen addresses and endpoints."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import pytest
from aiohttp import web
from conformance.registries import make_tls

from dockyard.cli.client import CliError
from dockyard.cli.endpoint import TlsConfig
from dockyard.ui import auth, redact
from dockyard.ui.command import is_loopback, parse_listen
from dockyard.ui.containers import create_body
from dockyard.ui.environments import EnvironmentError_, TcpTransport, UnixTransport, open_transport
from dockyard.ui.resources import _split_ref, dockerfile_context
from dockyard.ui.streams import stats_point


def test_password_hash_is_salted_scrypt_and_verifies() -> None:
    # "-" and "!" are outside base64's alphabet, so the password cannot turn up in the hash by chance.
    password = "pass-word!"
    first, second = auth.hash_password(password), auth.hash_password(password)
    assert first.startswith("scrypt$") and first != second and password not in first
    assert auth.verify_password(password, first) and not auth.verify_password("pass-worD!", first)
    assert not auth.verify_password(password, "md5$x$y") and not auth.verify_password(password, "garbage")


def test_user_store_keeps_only_hashes_in_a_private_file(tmp_path: Path) -> None:
    store = auth.UserStore(tmp_path / "s" / "users.json")
    store.set("admin", "sekrit-1", auth.ADMIN)
    assert "sekrit-1" not in (tmp_path / "s" / "users.json").read_text()
    assert (tmp_path / "s" / "users.json").stat().st_mode & 0o777 == 0o600
    again = auth.UserStore(tmp_path / "s" / "users.json")
    assert again.check("admin", "sekrit-1") == auth.ADMIN
    assert again.check("admin", "nope") is None and again.check("ghost", "sekrit-1") is None
    with pytest.raises(ValueError):
        again.set("viewer", "", auth.VIEWER)


def test_throttle_blocks_after_five_failures_per_address() -> None:
    throttle = auth.LoginThrottle()
    for _ in range(auth.MAX_FAILURES):
        assert throttle.retry_after("1.2.3.4") == 0
        throttle.failed("1.2.3.4")
    assert throttle.retry_after("1.2.3.4") > 0
    assert throttle.retry_after("5.6.7.8") == 0
    throttle.succeeded("1.2.3.4")
    assert throttle.retry_after("1.2.3.4") == 0


def test_sessions_expire_and_csrf_is_compared_exactly() -> None:
    store = auth.SessionStore(ttl=-1)
    token, session = store.create("admin", auth.ADMIN)
    assert store.get(token) is None
    assert auth.csrf_ok(session, session.csrf) and not auth.csrf_ok(session, None)
    assert not auth.csrf_ok(session, session.csrf[:-1])


def test_redaction_masks_secret_env_and_secret_data() -> None:
    shown = redact.container({"Config": {"Env": ["DB_PASSWORD=x1", "API_KEY=x2", "AWS_SECRET_ACCESS_KEY=x3",
                                                 "GITHUB_TOKEN=x4", "PATH=/bin", "MODE=prod"]}})
    env = shown["Config"]["Env"]
    assert not any(v.endswith(("x1", "x2", "x3", "x4")) for v in env)
    assert "PATH=/bin" in env and "MODE=prod" in env
    assert "Data" not in redact.secret({"Spec": {"Name": "s", "Data": "c2VjcmV0"}})["Spec"]


def test_create_form_becomes_the_engine_body() -> None:
    body = create_body({"image": "busybox", "name": "x", "command": "sh -c 'echo hi'", "env": "A=1\n\nB=2",
                        "ports": "8080:80\n127.0.0.1:5353:53/udp\n9000",
                        "volumes": "data:/data\n/srv:/srv:ro",
                        "labels": "a=b", "restart": "on-failure", "memory": "64", "cpus": "0.5",
                        "network": "app"})
    assert body["Cmd"] == ["sh", "-c", "echo hi"] and body["Env"] == ["A=1", "B=2"]
    host = body["HostConfig"]
    assert host["PortBindings"]["80/tcp"] == [{"HostIp": "", "HostPort": "8080"}]
    assert host["PortBindings"]["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "5353"}]
    assert set(body["ExposedPorts"]) == {"80/tcp", "53/udp", "9000/tcp"}
    assert host["Binds"] == ["data:/data", "/srv:/srv:ro"] and host["NetworkMode"] == "app"
    assert host["Memory"] == 64 * 1024 * 1024 and host["NanoCpus"] == 500_000_000
    assert host["RestartPolicy"] == {"Name": "on-failure"} and body["Labels"] == {"a": "b"}


@pytest.mark.parametrize("form", [{"image": ""}, {"image": "b", "restart": "sometimes"},
                                  {"image": "b", "ports": "http:80"}, {"image": "b", "memory": "lots"}])
def test_bad_create_forms_are_refused_with_a_message(form: dict[str, str]) -> None:
    with pytest.raises(web.HTTPBadRequest) as info:
        create_body(form)
    assert json.loads(info.value.text or "{}")["message"]


def test_stats_point_uses_docker_stats_arithmetic() -> None:
    point = stats_point({
        "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 200}},
        "networks": {"eth0": {"rx_bytes": 5, "tx_bytes": 7}, "eth1": {"rx_bytes": 1, "tx_bytes": 1}},
        "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 9},
                                                       {"op": "Write", "value": 4}]}})
    assert point == {"cpu": 40.0, "memory": 800.0, "limit": 4000.0, "rx": 6.0, "tx": 8.0, "read": 9.0,
                     "write": 4.0}


def test_listen_addresses_and_loopback() -> None:
    assert parse_listen("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("9000", "host:", "h:70000"):
        with pytest.raises(CliError):
            parse_listen(bad)
    assert is_loopback("127.0.0.5") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


def test_endpoints_pick_a_transport_or_say_why_not() -> None:
    assert isinstance(open_transport("unix:///run/x.sock"), UnixTransport)
    assert isinstance(open_transport("tcp://h:2376", TlsConfig()), TcpTransport)
    with pytest.raises(EnvironmentError_, match="needs TLS"):
        open_transport("tcp://h:2375")
    assert open_transport("ssh://me@host").endpoint == "ssh://me@host"  # ui/ssh_relay.py
    with pytest.raises(EnvironmentError_, match="not available"):
        open_transport("fd://3")


async def test_a_tcp_engine_is_reached_with_the_clis_tls_settings(tmp_path: Path) -> None:
    # The UI takes the CLI's TLS material as is: --tlsverify trusts only the given CA, and a
    # context's SkipTLSVerify does not check the engine at all (docker's behaviour for both).
    ca, cert, key = make_tls(tmp_path, "localhost")
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"pong")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(pong, "127.0.0.1", 0, ssl=server_side)
    endpoint = f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    async def reply(tls: TlsConfig) -> bytes:
        reader, writer = await open_transport(endpoint, tls).open_stream()
        try:
            return await reader.read()
        finally:
            writer.close()
    async with server:
        assert await reply(TlsConfig(ca=str(ca))) == b"pong"
        assert await reply(TlsConfig(verify=False)) == b"pong"
        with pytest.raises(ssl.SSLCertVerificationError):
            await reply(TlsConfig())


def test_refs_and_pasted_dockerfile_context() -> None:
    assert _split_ref("127.0.0.1:5000/a/b:1") == ("127.0.0.1:5000/a/b", "1")
    assert _split_ref("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", "latest")
    assert _split_ref("b@sha256:00") == ("b", "sha256:00")
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(dockerfile_context("FROM busybox\n"))) as tar:
        assert tar.getnames() == ["Dockerfile"]
        member = tar.extractfile("Dockerfile")
        assert member is not None and member.read() == b"FROM busybox\n"
