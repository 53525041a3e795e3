"""Authorization plugins through the stock docker CLI: one daemon for the module started with
``--authorization-plugin authz`` against a fake plugin in its own plugin dir."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon
from conformance.fixtures import put_busybox
from remote.certs import Certs, make_certs
from remote.sshd import free_port

from plugins.fake_plugins import FakeAuthzPlugin

Setup = tuple[Daemon, FakeAuthzPlugin, str]  # the daemon, its plugin, its mutual-TLS address
pytestmark = pytest.mark.root  # a dockyardd of its own: real runc, overlayfs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("authz-certs"))


@pytest.fixture(scope="module")
def authz_daemon(rootfs_tar: Path, certs: Certs) -> Iterator[Setup]:
    d = Daemon()
    plugin = FakeAuthzPlugin(d.plugin_dir / "authz.sock").start()
    # Also mutual TLS on loopback: the client certificate's CN is the User the plugin is told.
    tls_host = f"tcp://127.0.0.1:{free_port()}"
    d.extra_args = ["--authorization-plugin", "authz", "-H", tls_host,
                    "--tlsverify", "--tlscacert", str(certs.ca), "--tlscert", str(certs.server_cert),
                    "--tlskey", str(certs.server_key)]
    try:
        d.start()
        put_busybox(d, rootfs_tar)
        yield d, plugin, tls_host
    finally:
        plugin.deny = plugin.deny_response = lambda req: None
        d.cleanup()
        plugin.stop()


def _calls(plugin: FakeAuthzPlugin, method: str, uri_part: str) -> list[dict[str, object]]:
    return [req for name, req in plugin.calls
            if name == f"AuthZPlugin.{method}" and uri_part in str(req.get("RequestUri"))]


def test_every_request_and_reply_goes_to_the_plugin(authz_daemon: Setup) -> None:
    d, plugin, _ = authz_daemon
    d.docker_ok("volume", "create", "--label", "a=b", "authzvol")
    asked = _calls(plugin, "AuthZReq", "/volumes/create")[-1]
    assert asked["RequestMethod"] == "POST" and str(asked["RequestUri"]).startswith("/v1.")
    assert "User" not in asked  # a UNIX socket carries no identity
    assert json.loads(base64.b64decode(str(asked["RequestBody"])))["Name"] == "authzvol"
    answered = _calls(plugin, "AuthZRes", "/volumes/create")[-1]
    assert answered["ResponseStatusCode"] == 201
    assert json.loads(base64.b64decode(str(answered["ResponseBody"])))["Name"] == "authzvol"
    status, _, _ = d.request("GET", "/_ping", headers={"Authorization": "Bearer secret",
                                                       "X-Registry-Auth": "creds"})
    assert status == 200
    ping = _calls(plugin, "AuthZReq", "/_ping")[-1]
    headers = {k.lower() for k in ping["RequestHeaders"]}  # type: ignore[union-attr]
    assert "authorization" not in headers and "x-registry-auth" not in headers
    info = json.loads(d.docker_ok("info", "--format", "{{json .Plugins.Authorization}}"))
    assert info == ["authz"]
    d.docker_ok("volume", "rm", "authzvol")


def test_denials_are_403_with_the_plugins_message(authz_daemon: Setup) -> None:
    d, plugin, _ = authz_daemon
    d.docker_ok("volume", "create", "keepme")
    try:
        plugin.deny = lambda req: "volumes stay" if req["RequestMethod"] == "DELETE" else None
        code, _, err = d.docker("volume", "rm", "keepme")
        assert code != 0 and "authorization denied by plugin authz: volumes stay" in err
        status, _, raw = d.request("DELETE", f"{d.api}/volumes/keepme")
        assert status == 403
        assert json.loads(raw) == {"message": "authorization denied by plugin authz: volumes stay"}
        plugin.deny = lambda req: None
        # A reply the plugin refuses is not sent.
        plugin.deny_response = lambda req: "secret" if "/volumes/keepme" in str(req["RequestUri"]) else None
        code, out, err = d.docker("volume", "inspect", "keepme")
        assert code != 0 and "authorization denied by plugin authz: secret" in err and "keepme" not in out
    finally:
        plugin.deny = plugin.deny_response = lambda req: None
    d.docker_ok("volume", "rm", "keepme")


def test_streams_are_answered_without_a_body(authz_daemon: Setup) -> None:
    d, plugin, _ = authz_daemon
    try:
        # Hijacked attach: gone out before AuthZRes; a denial then cannot take it back.
        plugin.deny_response = lambda req: "late" if "/attach" in str(req["RequestUri"]) else None
        assert d.docker_ok("run", "--rm", "busybox", "echo", "through-authz").strip() == "through-authz"
    finally:
        plugin.deny_response = lambda req: None
    attach = _calls(plugin, "AuthZRes", "/attach")[-1]
    assert "ResponseBody" not in attach


def test_tls_client_is_the_user(authz_daemon: Setup, certs: Certs) -> None:
    d, plugin, tls_host = authz_daemon
    client = certs.client_dir
    d.docker_ok("--tlsverify", "--tlscacert", str(client / "ca.pem"), "--tlscert", str(client / "cert.pem"),
                "--tlskey", str(client / "key.pem"), "-H", tls_host,
                "volume", "ls", "--filter", "name=tls-user-probe")
    asked = _calls(plugin, "AuthZReq", "tls-user-probe")[-1]
    assert (asked["User"], asked["UserAuthNMethod"]) == ("client", "TLS")


def test_big_json_bodies_are_refused(authz_daemon: Setup) -> None:
    d, _, _ = authz_daemon
    body = json.dumps({"Image": "busybox", "Labels": {"pad": "x" * (4 * 1024 * 1024)}}).encode()
    status, _, raw = d.request("POST", f"{d.api}/containers/create", body,
                               headers={"Content-Type": "application/json"})
    assert status == 500
    assert json.loads(raw)["message"] == (
        "request body too large for authorization plugin: size exceeds 4194304 bytes")


def test_plugin_failures_are_500(authz_daemon: Setup) -> None:
    d, plugin, _ = authz_daemon
    plugin.fail["AuthZPlugin.AuthZReq"] = "policy store down"
    try:
        status, _, raw = d.request("GET", f"{d.api}/volumes")
        assert status == 500
        assert json.loads(raw)["message"] == (
            "plugin authz failed with error: AuthZPlugin.AuthZReq: policy store down")
    finally:
        del plugin.fail["AuthZPlugin.AuthZReq"]
    assert d.request("GET", f"{d.api}/volumes")[0] == 200


def test_missing_plugin_refuses_start(tmp_path: Path) -> None:
    d = Daemon()
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"authorization-plugins": ["nowhere"]}))
    d.extra_args = ["--config-file", str(config)]
    try:
        refused = 'failed to validate authorization plugin: plugin "nowhere" not found'
        with pytest.raises(RuntimeError, match=refused):
            d.start()
    finally:
        d.cleanup()
