"""Managed plugins through the stock docker CLI (``docker plugin …``) and the raw API: a real plugin
made here — a static C volume driver (tests/plugins/data/volplugin.c, built with gcc -static) in a
rootfs of its own — created, enabled (run by the daemon under conmon + runc), refused what moby
refuses, set, pushed to Debian's docker-registry on 127.0.0.1, installed back, upgraded, and kept
running across a daemon restart. One daemon for the module (restarted by the last test)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance.daemon import Daemon, UnixHTTPConnection
from conformance.polling import wait_for
from conformance.registries import REGISTRY_BIN, Registry

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed (scripts/deps)")]

SOURCE = Path(__file__).parent / "data" / "volplugin.c"
SOCKET = "p.sock"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


@pytest.fixture(scope="module")
def volplugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("volplugin") / "volplugin"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(SOURCE)], check=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def plugd() -> Iterator[Daemon]:
    daemon = Daemon()
    try:
        daemon.start()
        _runtime(daemon)  # known before any test stops the daemon
        yield daemon
    finally:
        daemon.cleanup()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if not Path(REGISTRY_BIN).exists():
        pytest.skip("docker-registry not installed")
    reg = Registry(tmp_path_factory.mktemp("plugin-registry"))
    yield reg
    reg.stop()


def plugin_dir(base: Path, binary: Path, **config: Any) -> Path:
    """A ``docker plugin create`` dir: config.json and rootfs/ with the plugin binary."""
    top = base / uuid.uuid4().hex[:8]
    (top / "rootfs").mkdir(parents=True)
    shutil.copy(binary, top / "rootfs" / "volplugin")
    (top / "rootfs" / "bin").mkdir()
    shutil.copy(BUSYBOX, top / "rootfs" / "bin" / "busybox")
    doc: dict[str, Any] = {
        "Description": "a test volume driver", "Documentation": "https://example.invalid/doc",
        "Interface": {"Types": ["docker.volumedriver/1.0"], "Socket": SOCKET},
        "Entrypoint": ["/volplugin", f"/run/docker/plugins/{SOCKET}"],
        "Network": {"Type": ""},
        "Env": [{"Name": "MODE", "Description": "", "Settable": ["value"], "Value": "slow"},
                {"Name": "FIXED", "Description": "", "Settable": [], "Value": "1"}],
        "Args": {"Name": "extra", "Description": "", "Settable": ["value"], "Value": []},
    }
    doc.update(config)
    (top / "config.json").write_text(json.dumps(doc))
    return top


def inspect(daemon: Daemon, name: str) -> dict[str, Any]:
    out = daemon.docker_ok("plugin", "inspect", name)
    data: list[dict[str, Any]] = json.loads(out)
    return data[0]


def runtime_dir(daemon: Daemon, plugin_id: str) -> Path:
    return daemon.exec_root / "plugins" / plugin_id


def activate(daemon: Daemon, plugin_id: str) -> dict[str, Any]:
    """POST /Plugin.Activate to the plugin's socket, as the daemon's registry does."""
    conn = UnixHTTPConnection(runtime_dir(daemon, plugin_id) / SOCKET, timeout=10)
    try:
        conn.request("POST", "/Plugin.Activate", body=b"{}")
        reply = conn.getresponse()
        data: dict[str, Any] = json.loads(reply.read())
        return data
    finally:
        conn.close()


def requests_log(daemon: Daemon, plugin_id: str) -> str:
    path = runtime_dir(daemon, plugin_id) / "requests.log"
    return path.read_text() if path.exists() else ""


def fails(daemon: Daemon, *args: str) -> str:
    code, out, err = daemon.docker(*args)
    assert code != 0, f"docker {' '.join(args)} succeeded: {out}"
    return err.strip()


_RUNTIMES: dict[str, str] = {}


def _runtime(d: Daemon) -> list[str]:
    """The command line of the runtime the daemon runs plugins with (crun where the host lets it),
    asked once while the daemon runs: some tests use it while the daemon is stopped."""
    name = _RUNTIMES.get(str(d.root))
    if name is None:
        name = _RUNTIMES[str(d.root)] = d.docker_ok("info", "--format", "{{.DefaultRuntime}}").strip()
    return [name, "--root", str(d.exec_root / "runtime" / name)]


def test_create_lists_disabled_and_filters(plugd: Daemon, volplugin: Path, tmp_path: Path) -> None:
    name = f"vol-{uuid.uuid4().hex[:6]}"
    plugd.docker_ok("plugin", "create", name, str(plugin_dir(tmp_path, volplugin)))
    rows = plugd.docker_ok("plugin", "ls", "--format", "{{.Name}} {{.Enabled}} {{.Description}}").splitlines()
    assert f"{name}:latest false a test volume driver" in rows
    data = inspect(plugd, name)
    assert data["Config"]["Interface"]["Socket"] == SOCKET
    assert data["Settings"]["Env"] == ["MODE=slow", "FIXED=1"]
    assert data["PluginReference"] == f"{name}:latest"

    def names(*filters: str) -> list[str]:
        args = [a for f in filters for a in ("--filter", f)]
        return plugd.docker_ok("plugin", "ls", *args, "--format", "{{.Name}}").split()

    assert f"{name}:latest" in names("enabled=false", "capability=volumedriver")
    assert f"{name}:latest" not in names("enabled=true")
    assert f"{name}:latest" not in names("capability=networkdriver")
    assert "invalid filter 'colour'" in fails(plugd, "plugin", "ls", "--filter", "colour=red")
    assert "already exists" in fails(plugd, "plugin", "create", name, str(plugin_dir(tmp_path, volplugin)))
    plugd.docker_ok("plugin", "rm", name)
    assert "not found" in fails(plugd, "plugin", "inspect", name)
    events = plugd.docker_ok("events", "--since", "0", "--until", str(int(time.time()) + 1), "--filter",
                             "type=plugin", "--format", "{{.Action}} {{.Actor.Attributes.name}}").splitlines()
    assert [e for e in events if e.endswith(f" {name}:latest")] == [f"create {name}:latest",
                                                                    f"remove {name}:latest"]


def _tar(members: dict[str, bytes | None]) -> bytes:
    """A tar of ``members`` (None: a directory)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(("members", "message"), [
    ({"rootfs/": None}, "config not found"),
    ({"config.json": b"{}"}, "no rootfs found"),
    ({"config.json": b"{not json", "rootfs/": None}, "failed to parse config"),
    ({"config.json": b'{"Interface": {"Types": ["volume"]}}', "rootfs/": None}, "invalid capability ID"),
    ({"config.json": b"{}", "rootfs/": None, "../escape": b"x"}, "path escapes the root"),
])
def test_create_refuses_bad_contexts(plugd: Daemon, members: dict[str, bytes | None], message: str) -> None:
    status, _, body = plugd.request("POST", f"{plugd.api}/plugins/create?name=broken", body=_tar(members),
                                    headers={"Content-Type": "application/x-tar"})
    assert status == 400 and message in json.loads(body)["message"]
    assert "broken" not in plugd.docker_ok("plugin", "ls")
    leftovers = [p.name for p in (plugd.data_root / "plugins").iterdir() if p.name != "tmp"]
    assert leftovers == [] or all((plugd.data_root / "plugins" / p / "rootfs").exists() for p in leftovers)
    assert list((plugd.data_root / "plugins" / "tmp").iterdir()) == []


def test_enable_runs_the_plugin_and_refusals(plugd: Daemon, volplugin: Path, tmp_path: Path) -> None:
    name = f"vol-{uuid.uuid4().hex[:6]}"
    plugd.docker_ok("plugin", "create", name, str(plugin_dir(tmp_path, volplugin)))
    plugin_id = inspect(plugd, name)["Id"]
    plugd.docker_ok("plugin", "enable", name)
    assert inspect(plugd, plugin_id[:12])["Enabled"] is True  # by ID prefix too
    assert activate(plugd, plugin_id) == {"Implements": ["VolumeDriver"]}
    assert "started MODE=slow args=" in requests_log(plugd, plugin_id)
    assert f"plugin {name}:latest is enabled" in fails(plugd, "plugin", "rm", name)
    assert "cannot set on an active plugin" in fails(plugd, "plugin", "set", name, "MODE=fast")
    assert "already enabled" in fails(plugd, "plugin", "enable", name)
    # Read-only rootfs: the plugin's own files cannot change; its runtime dir is writable.
    runc = [*_runtime(plugd), "exec", plugin_id,
            "/bin/busybox", "touch"]
    denied = subprocess.run([*runc, "/volplugin"], capture_output=True, text=True, timeout=10)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    subprocess.run([*runc, "/run/docker/plugins/mark"], check=True, timeout=10)
    assert (runtime_dir(plugd, plugin_id) / "mark").exists()
    plugd.docker_ok("plugin", "disable", name)
    assert inspect(plugd, name)["Enabled"] is False
    assert not (runtime_dir(plugd, plugin_id) / SOCKET).exists()
    assert "already disabled" in fails(plugd, "plugin", "disable", name)
    plugd.docker_ok("plugin", "rm", name)
    assert not (plugd.data_root / "plugins" / plugin_id).exists()


def test_force_remove_stops_an_enabled_plugin(plugd: Daemon, volplugin: Path, tmp_path: Path) -> None:
    name = f"vol-{uuid.uuid4().hex[:6]}"
    plugd.docker_ok("plugin", "create", name, str(plugin_dir(tmp_path, volplugin)))
    plugin_id = inspect(plugd, name)["Id"]
    plugd.docker_ok("plugin", "enable", name)
    plugd.docker_ok("plugin", "rm", "-f", name)
    listing = subprocess.run([*_runtime(plugd), "list", "-q"],
                             capture_output=True, text=True, timeout=10).stdout.split()
    assert plugin_id not in listing
    assert "not found" in fails(plugd, "plugin", "inspect", plugin_id[:12])


def test_set_only_what_is_settable(plugd: Daemon, volplugin: Path, tmp_path: Path) -> None:
    name = f"vol-{uuid.uuid4().hex[:6]}"
    plugd.docker_ok("plugin", "create", name, str(plugin_dir(tmp_path, volplugin)))
    assert '"FIXED" is not settable' in fails(plugd, "plugin", "set", name, "FIXED=2")
    assert 'setting "nope" not found' in fails(plugd, "plugin", "set", name, "nope=1")
    plugd.docker_ok("plugin", "set", name, "MODE=fast", "extra=one two")
    settings = inspect(plugd, name)["Settings"]
    assert settings["Env"] == ["MODE=fast", "FIXED=1"] and settings["Args"] == ["one", "two"]
    plugin_id = inspect(plugd, name)["Id"]
    plugd.docker_ok("plugin", "enable", name)
    try:
        assert "started MODE=fast args=one two" in requests_log(plugd, plugin_id)
    finally:
        plugd.docker_ok("plugin", "rm", "-f", name)


def test_volume_create_reaches_the_plugin(plugd: Daemon, volplugin: Path, tmp_path: Path) -> None:
    name = f"vol-{uuid.uuid4().hex[:6]}"
    plugd.docker_ok("plugin", "create", name, str(plugin_dir(tmp_path, volplugin)))
    plugin_id = inspect(plugd, name)["Id"]
    plugd.docker_ok("plugin", "enable", name)
    try:
        plugd.docker_ok("volume", "create", "-d", name, "v1")
        assert '/VolumeDriver.Create {"Name": "v1"' in requests_log(plugd, plugin_id)
        assert f"plugin {name}:latest is in use" in fails(plugd, "plugin", "disable", name)
        plugd.docker_ok("volume", "rm", "v1")
    finally:
        plugd.docker("volume", "rm", "-f", "v1")
        plugd.docker_ok("plugin", "rm", "-f", name)


def test_push_install_upgrade_and_restart(plugd: Daemon, volplugin: Path, tmp_path: Path,
                                          registry: Registry) -> None:
    remote = f"{registry.host}/team/vol"
    wants = {"Network": {"Type": "host"}, "Linux": {"Capabilities": ["CAP_IPC_LOCK"]}}
    plugd.docker_ok("plugin", "create", remote, str(plugin_dir(tmp_path, volplugin, **wants)))
    out = plugd.docker_ok("plugin", "push", remote)
    assert "latest: digest: sha256:" in out
    plugd.docker_ok("plugin", "rm", remote)

    status, privileges = plugd.request_json("GET", f"{plugd.api}/plugins/privileges?remote={remote}")
    assert status == 200
    assert {p["Name"]: p["Value"] for p in privileges} == {"network": ["host"],
                                                          "capabilities": ["CAP_IPC_LOCK"]}
    status, body = plugd.request_json("POST", f"{plugd.api}/plugins/pull?remote={remote}&name=nogrant", [])
    assert status == 400 and body["message"] == "incorrect privileges"

    plugd.docker_ok("plugin", "install", "--grant-all-permissions", "--alias", "vol2", remote, "MODE=fast",
                    timeout=120)
    data = inspect(plugd, "vol2")
    assert data["Enabled"] is True and data["PluginReference"] == f"{remote}:latest"
    assert "started MODE=fast" in requests_log(plugd, data["Id"])

    # Upgrade: refused while enabled; a new tag with a new description once disabled.
    plugd.docker_ok("plugin", "create", f"{remote}:v2",
                    str(plugin_dir(tmp_path, volplugin, Description="version two", **wants)))
    plugd.docker_ok("plugin", "push", f"{remote}:v2")
    upgrade = ("plugin", "upgrade", "--grant-all-permissions", "--skip-remote-check", "vol2", f"{remote}:v2")
    assert "disabled before upgrading" in fails(plugd, *upgrade)
    plugd.docker_ok("plugin", "disable", "vol2")
    plugd.docker_ok(*upgrade, timeout=120)
    data = inspect(plugd, "vol2")
    assert data["Config"]["Description"] == "version two" and data["Settings"]["Env"][0] == "MODE=fast"
    plugd.docker_ok("plugin", "enable", "vol2")

    # Restart: still enabled and answering; once reconnected (live restore), once started again
    # because its process died while the daemon was down.
    plugd.stop()
    plugd.start()
    assert inspect(plugd, "vol2")["Enabled"] is True
    assert activate(plugd, data["Id"]) == {"Implements": ["VolumeDriver"]}
    plugd.stop()
    subprocess.run([*_runtime(plugd), "kill", data["Id"], "KILL"], capture_output=True, timeout=10)

    def stopped() -> bool:
        state = subprocess.run([*_runtime(plugd), "state", data["Id"]],
                               capture_output=True, text=True, timeout=10)
        return state.returncode != 0 or '"stopped"' in state.stdout
    wait_for(stopped)
    plugd.start()
    assert inspect(plugd, "vol2")["Enabled"] is True
    assert activate(plugd, data["Id"]) == {"Implements": ["VolumeDriver"]}
    assert requests_log(plugd, data["Id"]).count("started MODE=fast") >= 1
    plugd.docker_ok("plugin", "rm", "-f", "vol2")
    plugd.docker_ok("plugin", "rm", f"{remote}:v2")

    # Without --grant-all-permissions the CLI asks; a no installs nothing, a yes installs.
    code, out, _ = plugd.docker("plugin", "install", "--disable", "--alias", "vol3", remote, input="n\n")
    assert code != 0 and "network: [host]" in out and "vol3" not in plugd.docker_ok("plugin", "ls")
    plugd.docker_ok("plugin", "install", "--disable", "--alias", "vol3", remote, input="y\n", timeout=120)
    assert inspect(plugd, "vol3")["Enabled"] is False
    plugd.docker_ok("plugin", "rm", "vol3")


def test_a_plugin_that_cannot_start_stays_disabled(plugd: Daemon, volplugin: Path, tmp_path: Path) -> None:
    name = f"vol-{uuid.uuid4().hex[:6]}"
    missing = plugin_dir(tmp_path, volplugin, Entrypoint=["/missing", f"/run/docker/plugins/{SOCKET}"])
    plugd.docker_ok("plugin", "create", name, str(missing))
    plugin_id = inspect(plugd, name)["Id"]
    assert "/missing" in fails(plugd, "plugin", "enable", name)
    assert inspect(plugd, name)["Enabled"] is False
    listing = subprocess.run([*_runtime(plugd), "list", "-q"],
                             capture_output=True, text=True, timeout=10).stdout.split()
    assert plugin_id not in listing
    plugd.docker_ok("plugin", "rm", name)


def test_docker_py_plugins(plugd: Daemon, volplugin: Path, tmp_path: Path) -> None:
    import docker

    client = docker.DockerClient(base_url=plugd.host, timeout=60)
    try:
        name = f"vol-{uuid.uuid4().hex[:6]}"
        assert client.plugins.create(name, str(plugin_dir(tmp_path, volplugin)), gzip=True)
        plugin = client.plugins.get(name)
        assert plugin.enabled is False and plugin.name == f"{name}:latest"
        plugin.configure({"MODE": "py"})
        plugin.enable(timeout=10)
        plugin.reload()
        assert plugin.enabled and plugin.settings["Env"][0] == "MODE=py"
        assert [p.name for p in client.plugins.list() if p.name == plugin.name] == [plugin.name]
        with pytest.raises(docker.errors.APIError, match="is enabled"):
            plugin.remove()
        plugin.disable()
        plugin.remove()
        with pytest.raises(docker.errors.NotFound):
            client.plugins.get(name)
    finally:
        client.close()


def test_a_plugin_that_dies_is_started_again(plugd: Daemon, volplugin: Path, tmp_path: Path) -> None:
    name = f"vol-{uuid.uuid4().hex[:6]}"
    plugd.docker_ok("plugin", "create", name, str(plugin_dir(tmp_path, volplugin)))
    plugin_id = inspect(plugd, name)["Id"]
    plugd.docker_ok("plugin", "enable", name)
    runc = _runtime(plugd)

    def pid() -> int:
        state = subprocess.run([*runc, "state", plugin_id], capture_output=True, text=True, timeout=10)
        data = json.loads(state.stdout) if state.returncode == 0 else {}
        return int(data["pid"]) if data.get("status") == "running" else 0
    first = pid()
    time.sleep(2.5)  # older than the crash-loop guard: a plugin dying at once is disabled instead
    subprocess.run([*runc, "kill", plugin_id, "KILL"], check=True, timeout=10)
    wait_for(lambda: pid() not in (0, first))
    wait_for(lambda: (runtime_dir(plugd, plugin_id) / SOCKET).exists())
    assert activate(plugd, plugin_id) == {"Implements": ["VolumeDriver"]}
    assert inspect(plugd, name)["Enabled"] is True
    plugd.docker_ok("plugin", "rm", "-f", name)


def test_plugin_output_goes_to_the_daemon_log(plugd: Daemon, volplugin: Path, tmp_path: Path) -> None:
    """moby forwards a plugin's stdout/stderr into its log with ``plugin=<id>``; control characters
    arrive escaped, and a run's lines arrive once (a new run starts a new spool)."""
    name, token = f"vol-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:8]
    script = (f"echo out-{token}; printf 'err-{token} \\033[31mred\\n' >&2; "
              f"exec /volplugin /run/docker/plugins/{SOCKET}")
    plugd.docker_ok("plugin", "create", name, str(plugin_dir(
        tmp_path, volplugin, Entrypoint=["/bin/busybox", "sh", "-c", script])))
    plugin_id = inspect(plugd, name)["Id"]

    def lines(text: str) -> list[str]:
        return [line for line in plugd.log_path.read_text(errors="replace").splitlines() if text in line]
    out = f"out-{token} plugin={plugin_id} stream=stdout"
    err = f"err-{token} \\x1b[31mred plugin={plugin_id} stream=stderr"
    try:
        plugd.docker_ok("plugin", "enable", name)
        wait_for(lambda: lines(out) and lines(err), what="the plugin's output in the daemon log")
        assert " INFO " in lines(out)[0] and "\x1b" not in plugd.log_path.read_text(errors="replace")
        plugd.docker_ok("plugin", "disable", name)
        plugd.docker_ok("plugin", "enable", name)
        wait_for(lambda: len(lines(out)) == 2 and len(lines(err)) == 2, what="the second run's lines")
        assert activate(plugd, plugin_id) == {"Implements": ["VolumeDriver"]}
    finally:
        plugd.docker("plugin", "rm", "-f", name)


def _push_image(registry: Registry, repo: str) -> None:
    """An image (not a plugin) in the registry, uploaded by hand: a layer, a config, a manifest."""
    base = f"http://{registry.host}/v2/{repo}"

    def upload(data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = urllib.request.urlopen(urllib.request.Request(f"{base}/blobs/uploads/", method="POST"),
                                       timeout=10)
        location = start.headers["Location"]
        location = location if location.startswith("http") else f"http://{registry.host}{location}"
        sep = "&" if "?" in location else "?"
        # A form content type (urllib's default) would make the registry read the body as a form.
        put = urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(put, timeout=10)
        return {"digest": digest, "size": len(data)}

    layer = gzip.compress(_tar({"etc/": None}), mtime=0)
    layer_desc = upload(layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()]}})
    media = "application/vnd.docker.distribution.manifest.v2+json"
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": media,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **upload(config.encode())},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", **layer_desc}]})
    urllib.request.urlopen(urllib.request.Request(f"{base}/manifests/latest", data=manifest.encode(),
                                                  method="PUT", headers={"Content-Type": media}), timeout=10)


def test_install_refuses_images_and_unknown_remotes(plugd: Daemon, registry: Registry) -> None:
    _push_image(registry, "team/image")
    err = fails(plugd, "plugin", "install", "--grant-all-permissions", f"{registry.host}/team/image")
    assert "did not find plugin config for specified reference" in err
    assert fails(plugd, "plugin", "install", "--grant-all-permissions", f"{registry.host}/team/none")
    assert "team/" not in plugd.docker_ok("plugin", "ls")
    assert list((plugd.data_root / "plugins" / "tmp").iterdir()) == []
