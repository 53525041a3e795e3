"""Managed plugins in the core with fakes: the runtime "runs" a plugin by serving the plugin
protocol (aiohttp) on the socket its bundle names, so the registry's ``get`` reaches an enabled
plugin through the real HTTP transport; config, settings, privileges and spec rules as moby's."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import tarfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from dockyard.backends.plugins.transport import connect
from dockyard.core.metadata import Metadata
from dockyard.core.plugins.config import apply_settings, check_privileges, normalise, privileges
from dockyard.core.plugins.managed import ManagedPlugins
from dockyard.core.plugins.registry import VOLUME_DRIVER, PluginRegistry
from dockyard.core.plugins.spec import plugin_spec
from dockyard.core.plugins.store import PluginStore
from dockyard.errors import AlreadyExists, InUse, InvalidArgument, NotFound, WrongState

CONFIG: dict[str, Any] = {
    "Description": "fake", "Interface": {"Types": ["docker.volumedriver/1.0"], "Socket": "f.sock"},
    "Entrypoint": ["/plugin", "/run/docker/plugins/f.sock"],
    "Env": [{"Name": "MODE", "Settable": ["value"], "Value": "slow"}, {"Name": "FIXED", "Value": "1"}],
    "Args": {"Name": "extra", "Settable": ["value"], "Value": []},
    "Mounts": [{"Name": "state", "Settable": ["source"], "Source": "/var/lib/x", "Destination": "/state",
                "Type": "bind", "Options": ["rbind"]}],
}


class FakeRunning:
    """The runtime and the monitor at once: start serves the protocol on the bundle's socket."""

    def __init__(self) -> None:
        self.runners: dict[str, web.AppRunner] = {}
        self.exited: dict[str, asyncio.Event] = {}
        self.bundles: dict[str, Path] = {}
        self.name = "fake"
        self.path = "/bin/false"
        self.root = Path("/nonexistent")

    async def create(self, start: Any) -> int:
        self.bundles[start.container_id] = start.bundle
        return 4242

    async def start(self, container_id: str) -> None:
        spec = json.loads((self.bundles[container_id] / "config.json").read_text())
        runtime_dir = next(m["source"] for m in spec["mounts"] if m["destination"] == "/run/docker/plugins")
        sock = Path(runtime_dir) / Path(spec["process"]["args"][1]).name

        async def activate(request: web.Request) -> web.Response:
            return web.json_response({"Implements": ["VolumeDriver"]})

        async def create(request: web.Request) -> web.Response:
            body = await request.json()
            return web.json_response({"Err": "" if body.get("Name") != "bad" else "refused"})

        app = web.Application()
        app.router.add_post("/Plugin.Activate", activate)
        app.router.add_post("/VolumeDriver.Create", create)
        runner = web.AppRunner(app)
        await runner.setup()
        # tmp_path is deeper than a socket address allows: bind through the directory's descriptor.
        dirfd = os.open(sock.parent, os.O_PATH)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(f"/proc/self/fd/{dirfd}/{sock.name}")
        os.close(dirfd)
        await web.SockSite(runner, listener).start()
        self.runners[container_id] = runner
        self.exited[container_id] = asyncio.Event()

    def is_alive(self, container_id: str) -> bool:
        return container_id in self.runners

    async def wait(self, container_id: str) -> int:
        await self.exited[container_id].wait()
        return 0

    def exit_code(self, container_id: str) -> int | None:
        return None

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        runner = self.runners.pop(container_id, None)
        if runner is not None:
            await runner.cleanup()
            self.exited[container_id].set()

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        pass

    async def cleanup(self, container_id: str) -> None:
        pass


def context_tar(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "ctx.tar"
    with tarfile.open(path, "w") as tar:
        data = json.dumps(config).encode()
        info = tarfile.TarInfo("config.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name in ("rootfs", "rootfs/etc"):
            d = tarfile.TarInfo(name)
            d.type = tarfile.DIRTYPE
            tar.addfile(d)
    return path


@pytest.fixture
async def setup(tmp_path: Path) -> Any:
    fake = FakeRunning()
    registry = PluginRegistry(connect=connect)
    store = PluginStore(Metadata(tmp_path / "db.sqlite"), tmp_path / "data" / "plugins")
    managed = ManagedPlugins(store=store, runtime=fake, monitor=fake,  # type: ignore[arg-type]
                             exec_root=tmp_path / "exec" / "plugins", registry=registry)
    registry.add_source(managed)
    await managed.open()
    yield managed, registry, fake
    await managed.close()
    for runner in list(fake.runners.values()):
        await runner.cleanup()
    await registry.close()


async def test_enabled_plugin_is_found_by_the_registry(setup: Any, tmp_path: Path) -> None:
    managed, registry, _ = setup
    await managed.create("vol", context_tar(tmp_path, CONFIG))
    with pytest.raises(WrongState, match="plugin vol found but disabled"):
        await registry.get("vol", VOLUME_DRIVER)
    await managed.enable("vol")
    plugin = await registry.get("vol:latest", VOLUME_DRIVER)
    assert plugin.implements == ("VolumeDriver",) and plugin.address.managed
    assert await plugin.call("VolumeDriver.Create", {"Name": "v1"}) == {"Err": ""}
    assert [a.name for a in managed.addresses()] == ["vol"]
    with pytest.raises(NotFound, match='plugin "other" not found'):
        await registry.get("other", VOLUME_DRIVER)
    await managed.disable("vol")
    with pytest.raises(WrongState, match="found but disabled"):
        await registry.get("vol", VOLUME_DRIVER)


async def test_verbs_refuse_as_moby(setup: Any, tmp_path: Path) -> None:
    managed, _, _ = setup
    await managed.create("vol", context_tar(tmp_path, CONFIG))
    with pytest.raises(AlreadyExists, match="plugin vol:latest already exists"):
        await managed.create("vol:latest", context_tar(tmp_path, CONFIG))
    await managed.enable("vol")
    with pytest.raises(WrongState, match="plugin vol:latest is enabled"):
        await managed.remove("vol")
    with pytest.raises(WrongState, match="cannot set on an active plugin"):
        await managed.set("vol", ["MODE=x"])
    managed.set_users(lambda name: 1 if name == "vol" else 0)
    with pytest.raises(InUse, match="plugin vol:latest is in use"):
        await managed.disable("vol")
    await managed.disable("vol", force=True)
    with pytest.raises(InUse):
        await managed.remove("vol")
    await managed.remove("vol", force=True)
    assert managed.list({}) == []


async def test_enabled_plugins_run_again_after_a_restart(setup: Any, tmp_path: Path) -> None:
    managed, registry, fake = setup
    plugin = await managed.create("vol", context_tar(tmp_path, CONFIG))
    await managed.enable("vol")
    await managed.close()
    await fake.kill(plugin.id, 9)  # gone while the daemon was down
    again = ManagedPlugins(store=managed.store, runtime=fake, monitor=fake,  # type: ignore[arg-type]
                           exec_root=tmp_path / "exec" / "plugins", registry=registry)
    registry.sources[:] = [again]
    await again.open()
    try:
        assert (await registry.get("vol", VOLUME_DRIVER)).implements == ("VolumeDriver",)
    finally:
        await again.close()


async def test_list_filters(setup: Any, tmp_path: Path) -> None:
    managed, _, _ = setup
    await managed.create("vol", context_tar(tmp_path, CONFIG))
    assert [p.name for p in managed.list({"capability": ["volumedriver"]})] == ["vol:latest"]
    assert managed.list({"capability": ["networkdriver"]}) == []
    assert managed.list({"enabled": ["true"]}) == []
    with pytest.raises(InvalidArgument, match="invalid filter 'enabled=maybe'"):
        managed.list({"enabled": ["maybe"]})


def test_privileges_as_moby_computes_and_compares_them() -> None:
    config = normalise({"Network": {"Type": "host"}, "PidHost": True,
                        "Mounts": [{"Source": "/srv", "Destination": "/srv"}],
                        "Linux": {"Capabilities": ["CAP_SYS_ADMIN"], "AllowAllDevices": True,
                                  "Devices": [{"Path": "/dev/fuse"}]}})
    wanted = privileges(config)
    assert [p["Name"] for p in wanted] == ["network", "host pid namespace", "mount", "device",
                                           "allow-all-devices", "capabilities"]
    check_privileges(wanted, list(reversed(wanted)))
    with pytest.raises(InvalidArgument, match="incorrect privileges"):
        check_privileges(wanted, wanted[1:])
    assert privileges(normalise({"Network": {"Type": "bridge"}})) == []


def test_settings_only_what_is_settable() -> None:
    config = normalise(CONFIG)
    settings = {"Env": ["MODE=slow", "FIXED=1"], "Args": [], "Mounts": config["Mounts"], "Devices": []}
    changed = apply_settings(config, settings, ["MODE=fast", "extra=a b", "state.source=/tmp/s"])
    assert changed["Env"] == ["MODE=fast", "FIXED=1"] and changed["Args"] == ["a", "b"]
    assert changed["Mounts"][0]["Source"] == "/tmp/s"
    for arg, message in (("FIXED=2", '"FIXED" is not settable'), ("nope=1", 'setting "nope" not found'),
                         ("=x", "invalid format"), ("state.destination=/x", '"state.destination" is not')):
        with pytest.raises(InvalidArgument, match=message):
            apply_settings(config, settings, [arg])


def test_spec_read_only_root_runtime_dir_and_host_network(tmp_path: Path) -> None:
    config = normalise({**CONFIG, "Network": {"Type": "host"}, "Linux": {"Capabilities": ["CAP_SYS_ADMIN"]}})
    settings = {"Env": ["MODE=slow"], "Args": ["x"], "Mounts": config["Mounts"], "Devices": []}
    spec = plugin_spec("a" * 64, config, settings, rootfs=tmp_path / "rootfs", runtime_dir=tmp_path / "run")
    assert spec["root"]["readonly"] is True
    assert spec["process"]["args"] == ["/plugin", "/run/docker/plugins/f.sock", "x"]
    assert spec["process"]["env"][1:] == ["MODE=slow"] and spec["process"]["env"][0].startswith("PATH=")
    mounts = {m["destination"]: m for m in spec["mounts"]}
    assert mounts["/run/docker/plugins"]["source"] == str(tmp_path / "run")
    assert mounts["/state"]["source"] == "/var/lib/x" and "/etc/resolv.conf" in mounts
    assert "network" not in [n["type"] for n in spec["linux"]["namespaces"]]
    assert "CAP_SYS_ADMIN" in spec["process"]["capabilities"]["bounding"]


async def test_create_refuses_a_context_past_the_unpack_limit(setup: Any, tmp_path: Path) -> None:
    managed, _, _ = setup
    managed.unpack_limit = 10  # the daemon's max-unpack-size
    path = context_tar(tmp_path, CONFIG)
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo("rootfs/big")
        info.size = 100
        tar.addfile(info, io.BytesIO(b"x" * 100))
    with pytest.raises(InvalidArgument):
        await managed.create("vol", path)
    assert managed.list({}) == []
    assert [p.name for p in managed.store.root.iterdir()] == ["tmp"]
    assert list(managed.store.tmp.iterdir()) == []


async def test_volumes_of_a_plugin_driver_count_as_its_users(tmp_path: Path) -> None:
    from dockyard.config import DaemonConfig
    from dockyard.core.events import EventBus
    from dockyard.core.volumes.service import _SCHEMA as VOLUMES_SCHEMA
    from dockyard.daemon import build_managed_plugins

    config = DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "exec")
    db = Metadata(tmp_path / "db.sqlite")
    db.ensure_schema(VOLUMES_SCHEMA)
    fake = FakeRunning()
    registry = PluginRegistry(connect=connect)
    managed, transfer = build_managed_plugins(config, db, {config.default_runtime: fake},  # type: ignore[dict-item]
                                              fake, registry, EventBus())  # type: ignore[arg-type]
    assert managed is not None and transfer is not None and registry.sources[0] is managed
    db.execute("INSERT INTO volumes (name, created, record) VALUES (?, ?, ?)",
               ("v1", "now", json.dumps({"name": "v1", "driver": "vol:latest"})))
    await managed.open()
    await managed.create("vol", context_tar(tmp_path, CONFIG))
    with pytest.raises(InUse, match="plugin vol:latest is in use"):
        await managed.remove("vol")
    await transfer.close()
