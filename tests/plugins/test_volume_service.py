"""VolumeService over a fake VolumeDriver plugin (no daemon, any user): the error cases and
the merging of the plugin's view with the daemon's records."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from dockyard.backends.plugins.discovery import LegacyDiscovery
from dockyard.backends.plugins.transport import connect
from dockyard.config import DaemonConfig
from dockyard.core.layers.snapshots import Mount
from dockyard.core.metadata import Metadata
from dockyard.core.plugins.registry import PluginError, PluginRegistry
from dockyard.core.volumes.service import VolumeService
from dockyard.errors import Conflict, NotFound
from plugins.fake_plugins import FakeVolumePlugin, short_dir

Setup = tuple[VolumeService, FakeVolumePlugin]

pytestmark = pytest.mark.asyncio


class NoMounts:
    def mount(self, mounts: Sequence[Mount], target: Path) -> None:
        raise AssertionError("local volumes of these tests mount nothing")

    def unmount(self, target: Path) -> None:
        return None


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[VolumeService, FakeVolumePlugin]]:
    sockets = short_dir()
    fake = FakeVolumePlugin(sockets / "vp.sock", tmp_path / "plugin-data").start()
    registry = PluginRegistry(connect=connect, sources=[LegacyDiscovery([sockets], [sockets])],
                              retry_for=0.5)
    config = DaemonConfig(data_root=tmp_path / "root", exec_root=tmp_path / "run")
    service = VolumeService(config=config, db=Metadata(config.db_path), mounter=NoMounts(),
                            plugins=registry)
    await service.open()
    try:
        yield service, fake
    finally:
        await registry.close()
        fake.stop()
        shutil.rmtree(sockets, ignore_errors=True)


async def test_a_name_belongs_to_one_driver(setup: Setup) -> None:
    service, fake = setup
    await service.create("shared", driver="local")
    with pytest.raises(Conflict, match="^create shared: driver 'local' already has volume 'shared': "
                                       "volume name must be unique$"):
        await service.create("shared", driver="vp")
    assert "shared" not in fake.volumes
    again = await service.create("shared", driver="local")
    assert again.driver == "local"


async def test_the_plugins_own_volumes_and_dropped_ones(setup: Setup) -> None:
    service, fake = setup
    fake.volumes["outside"] = {}
    (fake.data / "outside").mkdir(parents=True)
    found = await service.inspect("outside")  # no record: the plugin's Get finds it
    assert (found.driver, found.mountpoint) == ("vp", fake.data / "outside")
    await service.create("mine", driver="vp", labels={"a": "1"})
    del fake.volumes["mine"]  # dropped behind the daemon's back
    with pytest.raises(NotFound, match="^get mine: no such volume$"):
        await service.inspect("mine")
    assert [v.name for v in await service.list()] == ["outside"]


async def test_an_unreachable_plugin_is_a_warning_in_list(setup: Setup) -> None:
    service, fake = setup
    await service.create("kept", driver="vp", labels={"k": "v"})
    await service.create("plain")
    fake.stop(keep_socket=True)  # crashed: the socket stays, nobody answers
    volumes, warnings = await service.list_all()
    assert sorted((v.name, v.driver) for v in volumes) == [("kept", "vp"), ("plain", "local")]
    assert len(warnings) == 1 and warnings[0].startswith("list vp: ")
    unreachable = '^get kept: error while checking if volume "kept" exists in driver "vp"'
    with pytest.raises(PluginError, match=unreachable):
        await service.inspect("kept")


async def test_remove_force_drops_the_record_when_the_plugin_refuses(setup: Setup) -> None:
    service, fake = setup
    await service.create("stuck", driver="vp")
    fake.fail["VolumeDriver.Remove"] = "busy"
    with pytest.raises(PluginError, match="^remove stuck: VolumeDriver.Remove: busy$"):
        await service.remove("stuck")
    assert (await service.inspect("stuck")).name == "stuck"
    with pytest.raises(PluginError):
        await service.remove("stuck", force=True)
    del fake.fail["VolumeDriver.Remove"], fake.volumes["stuck"]
    with pytest.raises(NotFound):
        await service.inspect("stuck")


async def test_scope_and_driver_names(setup: Setup) -> None:
    service, fake = setup
    fake.scope = "Cluster"  # not a scope moby knows: local
    volume = await service.create("sc", driver="vp")
    assert volume.scope == "local" and volume.status == {"mounts": 0, "opts": {}}
    assert await service.driver_names() == ["local", "vp"]
