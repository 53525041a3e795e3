"""VolumeService over a temporary root: create, inspect, list filters, in-use, prune, the local
driver's options, and ContainerService making and removing the volumes a container names."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_containers_fakes import FakeMounter, Harness

from dockyard.config import DaemonConfig
from dockyard.core.containers.model import ContainerConfig, CreateRequest, HostOptions
from dockyard.core.containers.service import ContainerService
from dockyard.core.metadata import Metadata
from dockyard.core.volumes.model import host_mount
from dockyard.core.volumes.service import VolumeService
from dockyard.errors import InUse, InvalidArgument, NotFound

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def volumes(tmp_path: Path) -> VolumeService:
    config = DaemonConfig(data_root=tmp_path / "root", exec_root=tmp_path / "run")
    service = VolumeService(config=config, db=Metadata(config.db_path), mounter=FakeMounter())
    await service.open()
    return service


async def test_create_is_idempotent_and_inspectable(volumes: VolumeService) -> None:
    first = await volumes.create("data", labels={"a": "1"})
    again = await volumes.create("data")
    assert again.created_at == first.created_at and again.labels == {"a": "1"}
    assert first.mountpoint.is_dir() and first.mountpoint.name == "_data"
    assert (await volumes.inspect("data")).name == "data"
    with pytest.raises(NotFound, match="get nope: no such volume"):
        await volumes.inspect("nope")


async def test_invalid_names_drivers_and_options(volumes: VolumeService) -> None:
    with pytest.raises(InvalidArgument, match="includes invalid characters"):
        await volumes.create("bad/name")
    with pytest.raises(NotFound, match='plugin "flocker" not found'):
        await volumes.create("x", driver="flocker")
    with pytest.raises(InvalidArgument, match='invalid option: "bogus"'):
        await volumes.create("x", options={"bogus": "1"})
    with pytest.raises(InvalidArgument, match='missing required option: "device"'):
        await volumes.create("x", options={"type": "none", "o": "bind"})
    assert await volumes.list() == []


async def test_anonymous_volumes_get_a_hex_name_and_the_label(volumes: VolumeService) -> None:
    anon = await volumes.create(anonymous=True)
    assert len(anon.name) == 64 and anon.anonymous
    assert [v.name for v in await volumes.list({"label": ["com.docker.volume.anonymous"]})] == [anon.name]


async def test_in_use_removal_and_prune(volumes: VolumeService) -> None:
    await volumes.create("named")
    anon = await volumes.create(anonymous=True)
    used = await volumes.create("used", anonymous=True)
    volumes.set_users(lambda name: ["c" * 64] if name == used.name else [])
    with pytest.raises(InUse, match=f"remove {used.name}: volume is in use - \\[c{{64}}\\]"):
        await volumes.remove(used.name)
    assert [v.name for v in await volumes.list({"dangling": ["true"]})] == ["named", anon.name]
    deleted, _ = await volumes.prune()
    assert deleted == [anon.name]
    deleted, _ = await volumes.prune({"all": ["true"]})
    assert deleted == ["named"]
    assert [v.name for v in await volumes.list()] == [used.name]
    await volumes.remove("gone", force=True)  # force: a missing volume is not an error


async def test_local_driver_options_become_a_host_mount(volumes: VolumeService) -> None:
    assert host_mount({}) is None
    tmpfs = host_mount({"type": "tmpfs", "device": "tmpfs", "o": "size=2m,uid=1"})
    assert tmpfs is not None and (tmpfs.type, tmpfs.options) == ("tmpfs", ("size=2m", "uid=1"))
    bind = host_mount({"type": "none", "o": "bind", "device": "/srv/x"})
    assert bind is not None and (bind.type, bind.source, bind.options) == ("bind", "/srv/x", ())
    volume = await volumes.create("mem", options={"type": "tmpfs", "device": "tmpfs"})
    mounter = volumes._mounter  # noqa: SLF001 - the fake records what was mounted
    assert isinstance(mounter, FakeMounter)
    volumes.ensure_mounted(volume)
    assert volume.mountpoint in mounter.mounted
    await volumes.remove("mem")
    assert volume.mountpoint not in mounter.mounted and not volume.mountpoint.exists()


def _request(**host: object) -> CreateRequest:
    return CreateRequest(image="busybox", config=ContainerConfig(image="busybox", cmd=["true"],
                                                                 volumes={"/anon": {}}),
                         host=HostOptions(raw=dict(host)))


def _service(h: Harness, volumes: VolumeService) -> ContainerService:
    return ContainerService(config=h.config, db=h.db, images=h.images, snapshotter=h.snapshotter,
                            mounter=h.mounter, runtimes={"runc": h.runtime}, monitor=h.monitor,
                            volumes=volumes)


async def test_container_create_makes_volumes_and_rm_v_removes_anonymous_only(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    volumes = VolumeService(config=h.config, db=h.db, mounter=FakeMounter())
    await volumes.open()
    service = _service(h, volumes)
    volumes.set_users(service.volume_users)
    await service.open()
    container = await service.create(_request(Binds=["named:/named"]))
    points = {p.destination: p for p in container.mounts}
    assert points["/named"].name == "named" and points["/named"].source.endswith("named/_data")
    anon = points["/anon"].name
    assert len(anon) == 64
    with pytest.raises(InUse):
        await volumes.remove("named")
    await service.remove(container.id, volumes=True)
    assert [v.name for v in await volumes.list()] == ["named"]


async def test_failed_create_leaves_no_volume(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    volumes = VolumeService(config=h.config, db=h.db, mounter=FakeMounter())
    await volumes.open()
    service = _service(h, volumes)
    await service.open()
    with pytest.raises(InvalidArgument, match="bind source path does not exist"):
        await service.create(_request(Binds=["v1:/v1"], Mounts=[
            {"Type": "bind", "Source": str(tmp_path / "missing"), "Target": "/m"}]))
    assert await volumes.list() == []
