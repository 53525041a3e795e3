"""Which registries may be reached without verified TLS, mirror URLs, and TLS errors worded as
Docker's; a plain-HTTP registry on a named host through httpx.MockTransport."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from test_distribution_fake import FakeRegistry

from dockyard.backends.registry import HttpxRegistry
from dockyard.backends.registry_endpoints import is_insecure, parse_mirror, transport_error
from dockyard.config import DaemonConfig, load_daemon_json
from dockyard.core.distribution.model import Repository
from dockyard.errors import InvalidArgument, NotFound, Unavailable


@pytest.mark.parametrize(("host", "listed", "expected"), [
    ("127.0.0.1:5000", (), True),
    ("127.8.9.1:5000", (), True),
    ("[::1]:5000", (), True),
    ("localhost:5000", (), True),
    ("localhost", (), True),
    ("registry.example:5000", (), False),
    ("vm:5000", (), False),  # a name mapped to 127.0.0.1 by /etc/hosts is still judged by its name
    ("registry.example:5000", ("registry.example:5000",), True),
    ("registry.example:5000", ("registry.example",), True),
    ("registry.example:5000", ("registry.example:5001",), False),
    ("registry.example:5000", ("http://registry.example:5000",), True),
    ("10.1.2.3:5000", ("10.0.0.0/8",), True),
    ("192.168.1.3:5000", ("10.0.0.0/8",), False),
    ("registry.example:5000", ("10.0.0.0/8",), False),
])
def test_insecure_decision(host: str, listed: tuple[str, ...], expected: bool) -> None:
    assert is_insecure(host, listed) is expected


def test_mirror_urls_as_docker_accepts_them() -> None:
    assert parse_mirror("https://mirror.example").host == "mirror.example"
    assert parse_mirror("http://127.0.0.1:5000/").scheme == "http"
    with pytest.raises(InvalidArgument, match="unsupported scheme"):
        parse_mirror("mirror.example")
    with pytest.raises(InvalidArgument, match="path, query, or fragment"):
        parse_mirror("https://mirror.example/v2/")


def test_tls_errors_read_as_docker_s() -> None:
    url = "https://vm:5000/v2/"
    unknown = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                 "unable to get local issuer certificate (_ssl.c:992)")
    assert str(transport_error("GET", url, unknown)) == (
        'Get "https://vm:5000/v2/": tls: failed to verify certificate: '
        "x509: certificate signed by unknown authority")
    plain = httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:992)")
    assert "http: server gave HTTP response to HTTPS client" in str(transport_error("GET", url, plain))


def test_daemon_json_certs_dirs(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"certs-dirs": ["/tmp/a", "/tmp/b"], "registry-mirrors": ["https://m.example"]}))
    config = load_daemon_json(path, DaemonConfig())
    assert [str(p) for p in config.certs_dirs] == ["/tmp/a", "/tmp/b"]
    assert config.registry_mirrors == ("https://m.example",)
    assert [str(p) for p in DaemonConfig().certs_dirs] == ["/etc/docker/certs.d", "/etc/dockyard/certs.d"]


def _plain_http_only(fake: FakeRegistry) -> httpx.MockTransport:
    """A registry that speaks plain HTTP: an HTTPS handshake with it fails as Go's and OpenSSL's do."""
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            raise httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)")
        return fake.handle(request)
    return httpx.MockTransport(handle)


async def test_plain_http_registry_on_a_named_host_needs_insecure_registries() -> None:
    fake = FakeRegistry()
    fake.put_manifest("app", "v1", b'{"schemaVersion": 2, "config": {}}', "application/json")
    repo = Repository("myreg.example:5000", "app")
    refused = HttpxRegistry(transport=_plain_http_only(fake))
    with pytest.raises(Unavailable, match="server gave HTTP response to HTTPS client"):
        await refused.get_manifest(repo, "v1")
    await refused.close()
    allowed = HttpxRegistry(insecure_registries=("myreg.example:5000",), transport=_plain_http_only(fake))
    data, _ = await allowed.get_manifest(repo, "v1")
    assert data.startswith(b'{"schemaVersion"')
    await allowed.close()


def _hosts(routes: dict[str, FakeRegistry | None], seen: list[str]) -> httpx.MockTransport:
    """Route by host; ``None`` is a host where nothing listens."""
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host}{request.url.path}")
        fake = routes[request.url.host]
        if fake is None:
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return fake.handle(request)
    return httpx.MockTransport(handle)


async def test_docker_io_reads_go_to_mirrors_in_order_then_to_the_hub() -> None:
    mirror, hub = FakeRegistry(), FakeRegistry()
    mirror.put_manifest("library/busybox", "on-mirror", b'{"from": "mirror"}', "application/json")
    blob = mirror.put_blob(b"layer bytes")
    hub.put_manifest("library/busybox", "hub-only", b'{"from": "hub"}', "application/json")
    seen: list[str] = []
    registry = HttpxRegistry(registry_mirrors=("https://dead.test", "https://mirror.test"),
                             transport=_hosts({"dead.test": None, "mirror.test": mirror,
                                               "registry-1.docker.io": hub}, seen))
    repo = Repository("docker.io", "library/busybox")
    assert (await registry.get_manifest(repo, "on-mirror"))[0] == b'{"from": "mirror"}'
    assert [s.split("/")[0] for s in seen] == ["dead.test", "mirror.test"]
    assert b"".join([c async for c in registry.fetch_blob(repo, blob)]) == b"layer bytes"
    # Neither mirror has it (one is down, one answers 404): the hub does.
    assert (await registry.get_manifest(repo, "hub-only"))[0] == b'{"from": "hub"}'
    # Other registries and pushes never use the mirrors.
    seen.clear()
    with pytest.raises(NotFound, match="manifest unknown"):
        await registry.get_manifest(Repository("docker.io", "library/busybox", push=True), "nowhere")
    assert {s.split("/")[0] for s in seen} == {"registry-1.docker.io"}
    await registry.close()


class _ClosingTransport(httpx.MockTransport):
    def __init__(self, fake: FakeRegistry) -> None:
        super().__init__(fake.handle)
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


async def test_close_releases_every_client_including_ones_replaced_by_new_certs(tmp_path: Path) -> None:
    fake = FakeRegistry()
    fake.put_manifest("app", "v1", b'{"schemaVersion": 2}', "application/json")
    transport = _ClosingTransport(fake)
    registry = HttpxRegistry(certs_dirs=(tmp_path,), transport=transport)
    repo = Repository("secure.example:443", "app")
    await registry.get_manifest(repo, "v1")
    (tmp_path / "secure.example:443").mkdir()
    (tmp_path / "secure.example:443" / "client.key").write_text("not used without a .cert")
    await registry.get_manifest(repo, "v1")  # the certs dir changed: a second client
    await registry.close()
    assert transport.closed == 2
