"""Remote access pieces without a daemon: endpoints, the context store, listeners, metrics, defaults."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dockyard.api.listeners import parse_tcp
from dockyard.api.metrics import container_action
from dockyard.cli.contexts import Context, ContextStore, Selection, resolve_endpoint
from dockyard.cli.endpoint import ssh_argv
from dockyard.cli.errors import CliError
from dockyard.config import DaemonConfig
from dockyard.core.containers.defaults import apply_daemon_defaults
from dockyard.daemon import _parse_args
from dockyard.errors import InvalidArgument


def test_parse_tcp_defaults_and_errors() -> None:
    assert parse_tcp("tcp://127.0.0.1:2376", tls=True) == parse_tcp("tcp://127.0.0.1", tls=True)
    assert parse_tcp("tcp://:2375", tls=False).host == "0.0.0.0"
    assert parse_tcp("tcp://[::1]:9000", tls=False).host == "::1"
    with pytest.raises(InvalidArgument, match="invalid port"):
        parse_tcp("tcp://127.0.0.1:99999", tls=False)


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("POST", "/v1.50/containers/create", ("container", "create")),
    ("POST", "/containers/abc/start", ("container", "start")),
    ("DELETE", "/v1.43/containers/abc", ("container", "delete")),
    ("POST", "/networks/create", ("network", "create")),
    ("POST", "/networks/n1/connect", ("network", "connect")),
    ("GET", "/containers/json", None),
    ("POST", "/v1.50/commit", ("container", "commit")),
    ("GET", "/containers/abc/changes", ("container", "changes")),
    ("POST", "/containers/abc/stop", None),
])
def test_timed_actions(method: str, path: str, expected: tuple[str, str] | None) -> None:
    assert container_action(method, path) == expected


def test_ssh_argv_is_the_docker_clis() -> None:
    argv = ssh_argv("ssh://me@host:2222")
    assert argv[1:] == ["-o", "ConnectTimeout=30", "-T", "-l", "me", "-p", "2222", "--", "host",
                        "docker", "system", "dial-stdio"]
    assert ssh_argv("ssh://host/run/x.sock")[-4:] == ["--host", "unix:///run/x.sock", "system", "dial-stdio"]


def test_context_store_layout_and_current(tmp_path: Path) -> None:
    store = ContextStore(tmp_path)
    store.save(Context(name="prod", host="tcp://10.0.0.1:2376", description="d",
                       tls_files={"ca.pem": b"CA"}))
    meta = json.loads(next((tmp_path / "contexts" / "meta").iterdir()).joinpath("meta.json").read_text())
    assert meta == {"Name": "prod", "Metadata": {"Description": "d"},
                    "Endpoints": {"docker": {"Host": "tcp://10.0.0.1:2376", "SkipTLSVerify": False}}}
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"x": {}}}))
    store.set_current("prod")
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == {"auths": {"x": {}}, "currentContext": "prod"}
    endpoint = resolve_endpoint(Selection(), store)
    assert endpoint.host == "tcp://10.0.0.1:2376" and endpoint.tls is not None
    assert endpoint.tls.ca and endpoint.tls.ca.endswith("docker/ca.pem") and endpoint.tls.cert is None


def test_host_flag_wins_and_conflicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ContextStore(tmp_path)
    store.save(Context(name="other", host="unix:///other.sock"))
    store.set_current("other")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    assert resolve_endpoint(Selection(host="unix:///flag.sock"), store).host == "unix:///flag.sock"
    monkeypatch.setenv("DOCKER_HOST", "unix:///env.sock")
    assert resolve_endpoint(Selection(), store).host == "unix:///env.sock"
    assert resolve_endpoint(Selection(context="other"), store).host == "unix:///other.sock"
    with pytest.raises(CliError, match="either specify --host or --context"):
        resolve_endpoint(Selection(host="unix:///a", context="other"), store)


def test_import_reads_the_docker_clis_trailerless_tar(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("meta.json", json.dumps({"Name": "x", "Endpoints": {"docker": {
                "Host": "ssh://h"}}}).encode()), ("tls/docker/ca.pem", b"CA")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue().rstrip(b"\0")  # docker's exports end without the zero blocks
    store = ContextStore(tmp_path)
    store.import_("copy", data)
    context = store.get("copy")
    assert context.host == "ssh://h" and context.tls_files == {"ca.pem": b"CA"}
    with pytest.raises(CliError, match="already exists"):
        store.import_("copy", data)


def test_daemon_flags(tmp_path: Path) -> None:
    config, _ = _parse_args(["-H", "tcp://127.0.0.1:2376", "--tlsverify", "--tlscacert", "ca",
                             "--icc=false", "--default-ulimit", "nofile=10:20", "--dns", "1.1.1.1",
                             "--default-shm-size", "1g", "--metrics-addr", "127.0.0.1:9323",
                             "--data-root", str(tmp_path)])
    assert config.tlsverify and config.tls is None and not config.icc
    assert config.default_ulimits == {"nofile": (10, 20)} and config.dns == ("1.1.1.1",)
    assert config.default_shm_size == 1 << 30 and config.metrics_addr == "127.0.0.1:9323"
    assert config.socket_paths == ()


def test_apply_daemon_defaults_request_wins() -> None:
    config = DaemonConfig(default_ulimits={"nofile": (1, 2), "nproc": (3, 4)}, dns=("9.9.9.9",),
                          ip="127.0.0.1", default_shm_size=1024)
    host = apply_daemon_defaults({"Ulimits": [{"Name": "nofile", "Soft": 5, "Hard": 6}],
                                  "PortBindings": {"80/tcp": [{"HostPort": "8080"},
                                                              {"HostIp": "::1", "HostPort": "1"}]}},
                                 config)
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 5, "Hard": 6},
                               {"Name": "nproc", "Soft": 3, "Hard": 4}]
    assert host["Dns"] == ["9.9.9.9"] and host["ShmSize"] == 1024
    assert [b["HostIp"] for b in host["PortBindings"]["80/tcp"]] == ["127.0.0.1", "::1"]
    # What create records (dockerd's): the shm size alone; the rest is applied at start.
    from dockyard.core.containers.defaults import record_daemon_defaults

    assert record_daemon_defaults({"Dns": []}, config) == {"Dns": [], "ShmSize": 1024}


def test_permission_denied_on_the_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket as real_socket

    from dockyard.cli import endpoint as endpoint_module

    class RefusingSocket:
        def __init__(self, *args: object) -> None:
            pass

        def settimeout(self, timeout: float | None) -> None:
            pass

        def connect(self, path: str) -> None:
            raise PermissionError(13, "Permission denied")

        def close(self) -> None:
            pass

    class FakeSocketModule:
        AF_UNIX, SOCK_STREAM = real_socket.AF_UNIX, real_socket.SOCK_STREAM
        socket = RefusingSocket

    monkeypatch.setattr(endpoint_module, "socket", FakeSocketModule)
    with pytest.raises(CliError) as info:
        endpoint_module.open_socket(endpoint_module.Endpoint("unix:///run/x.sock"))
    assert info.value.message == ("permission denied while trying to connect to the Docker daemon "
                                  "socket at unix:///run/x.sock: dial unix /run/x.sock: connect: "
                                  "permission denied")
