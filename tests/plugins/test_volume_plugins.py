"""VolumeDriver plugins end to end through the stock docker CLI: a fake plugin (tests/plugins/
fake_plugins.py) in the test daemon's own plugin dir (``--plugin-dir``), never the host's."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator

import pytest
from conformance.daemon import Daemon

from plugins.fake_plugins import FakeVolumePlugin, fresh_socket, short_dir

pytestmark = pytest.mark.root  # a dockyardd of its own: real runc, overlayfs


@pytest.fixture
def plugin(daemon: Daemon) -> Iterator[FakeVolumePlugin]:
    data = short_dir()
    fake = FakeVolumePlugin(fresh_socket(daemon.plugin_dir, "vol"), data).start()
    try:
        yield fake
    finally:
        fake.stop()
        shutil.rmtree(data, ignore_errors=True)


def _inspect(daemon: Daemon, name: str) -> dict[str, object]:
    data: list[dict[str, object]] = json.loads(daemon.docker_ok("volume", "inspect", name))
    return data[0]


def test_create_list_inspect_remove(daemon: Daemon, plugin: FakeVolumePlugin) -> None:
    vol = plugin.name + "-a"
    assert daemon.docker_ok("volume", "create", "-d", plugin.name, "-o", "k=v", "--label", "l=1",
                            vol).strip() == vol
    assert ("VolumeDriver.Create", {"Name": vol, "Opts": {"k": "v"}}) in plugin.calls
    plugin.volumes["made-outside"] = {}  # the plugin's own: listed from its List
    rows = daemon.docker_ok("volume", "ls", "--format", "{{.Driver}} {{.Name}}").splitlines()
    assert f"{plugin.name} {vol}" in rows and f"{plugin.name} made-outside" in rows
    shown = _inspect(daemon, vol)
    assert shown["Driver"] == plugin.name and shown["Labels"] == {"l": "1"}
    assert shown["Mountpoint"] == str(plugin.path_of(vol)) and shown["Scope"] == "local"
    assert shown["Status"] == {"mounts": 0, "opts": {"k": "v"}} and shown["Options"] == {"k": "v"}
    info = json.loads(daemon.docker_ok("info", "--format", "{{json .Plugins.Volume}}"))
    assert info[0] == "local" and plugin.name in info
    daemon.docker_ok("volume", "rm", vol)
    assert ("VolumeDriver.Remove", {"Name": vol}) in plugin.calls and vol not in plugin.volumes
    code, _, err = daemon.docker("volume", "inspect", vol)
    assert code != 0 and f"get {vol}: no such volume" in err
    plugin.fail["VolumeDriver.Create"] = "disk on fire"
    code, _, err = daemon.docker("volume", "create", "-d", plugin.name, "bad")
    assert code != 0 and "create bad: VolumeDriver.Create: disk on fire" in err
    code, _, err = daemon.docker("volume", "create", "-d", "nosuchplugin", "x")
    assert code != 0 and 'error looking up volume plugin nosuchplugin: plugin "nosuchplugin" not found' in err


def _mount_ids(plugin: FakeVolumePlugin, method: str, vol: str) -> list[str]:
    return [body["ID"] for name, body in plugin.calls if name == method and body["Name"] == vol]


def test_run_mounts_with_a_mount_id_and_unmounts(daemon: Daemon, plugin: FakeVolumePlugin) -> None:
    vol = plugin.name + "-r"
    daemon.docker_ok("volume", "create", "-d", plugin.name, vol)
    cid = daemon.docker_ok("run", "-d", "-v", f"{vol}:/data", "busybox",
                           "sh", "-c", "echo hi > /data/f; sleep 60").strip()
    try:
        # moby's MountPoint.Setup: a random ID per mount point, not the container's.
        [mount_id] = _mount_ids(plugin, "VolumeDriver.Mount", vol)
        assert len(mount_id) == 64 and mount_id != cid and int(mount_id, 16) >= 0
        code, _, err = daemon.docker("volume", "rm", vol)
        assert code != 0 and f"remove {vol}: volume is in use - [{cid}]" in err
        mounts = json.loads(daemon.docker_ok("inspect", "--format", "{{json .Mounts}}", cid))
        assert mounts[0]["Driver"] == plugin.name and mounts[0]["Source"] == str(plugin.path_of(vol))
    finally:
        daemon.docker_ok("rm", "-f", cid)
    assert (plugin.path_of(vol) / "f").read_text() == "hi\n"
    assert _mount_ids(plugin, "VolumeDriver.Unmount", vol) == [mount_id]
    # --mount with its own driver and options, and -v --volume-driver: made on demand.
    daemon.docker_ok("run", "--rm", "--mount",
                     f"type=volume,source={vol}-m,target=/m,volume-driver={plugin.name},volume-opt=size=1",
                     "busybox", "touch", "/m/x")
    assert plugin.volumes[f"{vol}-m"] == {"size": "1"} and (plugin.path_of(f"{vol}-m") / "x").exists()
    daemon.docker_ok("run", "--rm", "-v", f"{vol}-v:/v", "--volume-driver", plugin.name, "busybox", "true")
    assert f"{vol}-v" in plugin.volumes and _inspect(daemon, f"{vol}-v")["Driver"] == plugin.name
    assert not any(plugin.mounted.values())
    # --volume-driver does not reach a --mount volume: local, and the client is told (API 1.48).
    code, out, err = daemon.docker("create", "--volume-driver", plugin.name, "--mount",
                                   f"type=volume,source={vol}-w,target=/w", "busybox")
    assert code == 0 and "container-wide volume-driver configuration is ignored" in err
    daemon.docker_ok("rm", out.strip())
    assert _inspect(daemon, f"{vol}-w")["Driver"] == "local"
    for name in (vol, f"{vol}-m", f"{vol}-v", f"{vol}-w"):
        daemon.docker_ok("volume", "rm", name)


def test_failed_mount_leaves_the_container_created(daemon: Daemon, plugin: FakeVolumePlugin) -> None:
    vol = plugin.name + "-f"
    daemon.docker_ok("volume", "create", "-d", plugin.name, vol)
    cid = daemon.docker_ok("create", "-v", f"{vol}:/data", "busybox", "true").strip()
    try:
        plugin.mount_path = "/nonexistent/dir"
        code, _, err = daemon.docker("start", cid)
        assert code != 0 and "is not a directory" in err and "VolumeDriver.Mount" in err
        assert _mount_ids(plugin, "VolumeDriver.Unmount", vol) == _mount_ids(
            plugin, "VolumeDriver.Mount", vol)
        plugin.mount_path = None
        plugin.fail["VolumeDriver.Mount"] = "backend offline"
        code, _, err = daemon.docker("start", cid)
        assert code != 0 and "VolumeDriver.Mount: backend offline" in err
        del plugin.fail["VolumeDriver.Mount"]
        plugin.stop()  # gone: the socket with it
        code, _, err = daemon.docker("start", cid)
        gone = f'error looking up volume plugin {plugin.name}: plugin "{plugin.name}" not found'
        assert code != 0 and gone in err
        state = daemon.docker_ok("inspect", "--format", "{{.State.Status}}", cid).strip()
        assert state == "created"
        rootfs = daemon.data_root / "containers" / cid / "rootfs"
        assert not rootfs.is_mount() and not any(plugin.mounted.values())
    finally:
        daemon.docker("rm", "-f", cid)
        daemon.docker("volume", "rm", "-f", vol)


def test_records_survive_a_restart(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory(busybox=False)
    data = short_dir()
    fake = FakeVolumePlugin(d.plugin_dir / "keep.sock", data, scope="global").start()
    try:
        d.docker_ok("volume", "create", "-d", "keep", "--label", "team=a", "-o", "x=y", "kept")
        d.stop()
        d.start()
        shown = json.loads(d.docker_ok("volume", "inspect", "kept"))[0]
        assert (shown["Driver"], shown["Labels"], shown["Scope"]) == ("keep", {"team": "a"}, "global")
        # The plugin is down: ls still shows the record, with a warning naming the plugin.
        fake.stop(keep_socket=True)
        (d.plugin_dir / "keep.sock").unlink()
        code, out, err = d.docker("volume", "ls", "--format", "{{.Driver}} {{.Name}}")
        assert code == 0 and "keep kept" in out.splitlines()
    finally:
        fake.stop()
        shutil.rmtree(data, ignore_errors=True)


def test_unmount_after_a_daemon_restart_names_the_mount(daemon_factory: Callable[..., Daemon]) -> None:
    """Two mount points of one volume get two IDs; a container started again gets new ones; the
    Unmounts after a (live-restore) restart name the IDs the Mounts had."""
    d = daemon_factory()
    data = short_dir()
    fake = FakeVolumePlugin(d.plugin_dir / "mid.sock", data).start()
    try:
        d.docker_ok("volume", "create", "-d", "mid", "mv")
        cid = d.docker_ok("run", "-d", "-v", "mv:/a", "-v", "mv:/b", "busybox", "sleep", "300").strip()
        first = _mount_ids(fake, "VolumeDriver.Mount", "mv")
        assert len(set(first)) == 2 and cid not in first
        d.docker_ok("restart", "-t", "0", cid)
        second = _mount_ids(fake, "VolumeDriver.Mount", "mv")[2:]
        assert len(set(second)) == 2 and not set(second) & set(first)
        assert sorted(_mount_ids(fake, "VolumeDriver.Unmount", "mv")) == sorted(first)
        d.stop()
        d.start()
        d.docker_ok("stop", "-t", "0", cid)
        # The Unmounts follow the exit (the plugin is activated again first): polled for.
        deadline = time.monotonic() + 30
        while len(_mount_ids(fake, "VolumeDriver.Unmount", "mv")) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(_mount_ids(fake, "VolumeDriver.Unmount", "mv")[2:]) == sorted(second)
        assert not fake.mounted["mv"]
        d.docker_ok("rm", cid)
        d.docker_ok("volume", "rm", "mv")
    finally:
        fake.stop()
        shutil.rmtree(data, ignore_errors=True)


def test_volume_is_applied_not_ignored_by_old_field(daemon: Daemon) -> None:
    status, body = daemon.request_json("POST", f"{daemon.api}/volumes/create",
                                       {"Name": "x1", "Driver": "nope"})
    assert status == 404 and body["message"] == 'error looking up volume plugin nope: plugin "nope" not found'
