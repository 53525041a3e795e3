"""ImageService on a CopySnapshotter in tmp_path: import, tag, list, inspect, remove, prune, save/load."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.images import busybox_rootfs_tar

from dockyard.backends.overlay import CopySnapshotter
from dockyard.config import DaemonConfig
from dockyard.core.content import ContentStore
from dockyard.core.ids import ImageId
from dockyard.core.images.model import ImageUser
from dockyard.core.images.service import ImageService
from dockyard.core.metadata import Metadata
from dockyard.errors import Conflict, InvalidArgument, NotFound


def make_service(root: Path) -> ImageService:
    config = DaemonConfig(data_root=root, exec_root=root / "run", snapshotter="copy")
    config.tmp_dir.mkdir(parents=True, exist_ok=True)
    return ImageService(config=config, db=Metadata(config.db_path), content=ContentStore(config.content_dir),
                        snapshotter=CopySnapshotter(config.snapshots_dir))


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def small_tar(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data.encode()))
    return path


def store_state(root: Path) -> list[str]:
    """Every file under the store's content and snapshots (the tmp dir is scratch)."""
    return sorted(str(p.relative_to(root)) for sub in ("content", "snapshots")
                  for p in (root / sub).rglob("*"))


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rootfs") / "busybox.tar"
    path.write_bytes(busybox_rootfs_tar())
    return path


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    service = make_service(tmp_path / "a")
    run(service.open())
    yield service
    run(service.close())


def test_import_then_inspect_by_name_and_id(svc: ImageService, rootfs_tar: Path, tmp_path: Path) -> None:
    image = run(svc.import_(rootfs_tar, repo="busybox", tag="latest", changes=['CMD ["sh"]', "ENV A=1 B=two"],
                            message="", platform=None))
    assert image.repo_tags == ("docker.io/library/busybox:latest",)
    assert image.container_config["Cmd"] == ["sh"]
    assert image.container_config["Env"] == ["A=1", "B=two"]
    assert image.config["rootfs"]["diff_ids"] and image.size > 500_000
    for ref in ("busybox", "busybox:latest", "docker.io/library/busybox:latest", image.id, image.id[7:],
                image.id[7:19], image.id[:15]):
        assert run(svc.inspect(ref)).id == image.id
    top = image.top_layer
    assert top is not None
    fs = tmp_path / "a" / "snapshots" / top[7:] / "fs"
    assert (fs / "bin" / "busybox").is_file() and (fs / "bin" / "sh").is_symlink()
    with pytest.raises(NotFound, match="^No such image: nosuch:latest$"):
        run(svc.inspect("nosuch"))


def test_tag_list_filters_and_history(svc: ImageService, rootfs_tar: Path, tmp_path: Path) -> None:
    base = run(svc.import_(rootfs_tar, repo="busybox", tag=None, changes=["LABEL k=v"], message="hello",
                           platform=None))
    other = run(svc.import_(small_tar(tmp_path / "s.tar", {"f": "x"}), repo=None, tag=None, changes=[],
                            message="", platform=None))
    run(svc.tag("busybox", "localhost:5000/foo/bar", "v1"))
    assert [i.id for i in run(svc.list(filters={"dangling": ["true"]}))] == [other.id]
    assert [i.id for i in run(svc.list(filters={"dangling": ["false"]}))] == [base.id]
    assert [i.id for i in run(svc.list(filters={"reference": ["busy*"]}))] == [base.id]
    assert [i.id for i in run(svc.list(filters={"reference": ["localhost:5000/foo/*:v1"]}))] == [base.id]
    assert run(svc.list(filters={"reference": ["nothing*"]})) == []
    assert [i.id for i in run(svc.list(filters={"label": ["k=v"]}))] == [base.id]
    assert [i.id for i in run(svc.list(filters={"label": ["k"]}))] == [base.id]
    assert run(svc.list(filters={"label": ["k=w"]})) == []
    with pytest.raises(InvalidArgument):
        run(svc.list(filters={"bogus": ["1"]}))
    history = run(svc.history("busybox"))
    assert history[0]["Id"] == base.id and history[0]["Comment"] == "hello"
    assert sorted(history[0]["Tags"]) == ["busybox:latest", "localhost:5000/foo/bar:v1"]
    assert run(svc.count()) == 2


def test_remove_untags_before_deleting(svc: ImageService, rootfs_tar: Path, tmp_path: Path) -> None:
    image = run(svc.import_(rootfs_tar, repo="busybox", tag="latest", changes=[], message="", platform=None))
    run(svc.tag("busybox", "busybox", "two"))
    assert run(svc.remove("busybox:two")) == [{"Untagged": "busybox:two"}]
    run(svc.tag("busybox", "again", None))
    with pytest.raises(Conflict, match="must be forced\\) - image is referenced in multiple repositories"):
        run(svc.remove(image.id[7:19]))
    records = run(svc.remove(image.id[7:19], force=True))
    assert {"Untagged": "busybox:latest"} in records and {"Untagged": "again:latest"} in records
    assert {"Deleted": image.id} in records
    assert {"Deleted": image.top_layer} in records
    assert run(svc.list()) == []
    assert store_state(tmp_path / "a") == store_state_empty(tmp_path)


def store_state_empty(tmp_path: Path) -> list[str]:
    fresh = make_service(tmp_path / "fresh")
    run(fresh.open())
    return store_state(tmp_path / "fresh")


def test_remove_refuses_images_used_by_containers(svc: ImageService, rootfs_tar: Path) -> None:
    image = run(svc.import_(rootfs_tar, repo="busybox", tag="latest", changes=[], message="", platform=None))
    running = {"yes": False}

    async def users(image_id: ImageId) -> list[ImageUser]:
        return [ImageUser("0123456789ab" + "0" * 52, running["yes"])] if image_id == image.id else []

    svc.set_image_users(users)
    with pytest.raises(Conflict, match='unable to remove repository reference "busybox" \\(must force\\) - '
                                       "container 0123456789ab is using its referenced image "
                                       + image.id[7:19]):
        run(svc.remove("busybox"))
    with pytest.raises(Conflict, match="unable to delete .* \\(must be forced\\) - image is being used by "
                                       "stopped container 0123456789ab"):
        run(svc.remove(image.id))
    running["yes"] = True
    with pytest.raises(Conflict, match="unable to delete .* \\(cannot be forced\\) - image is being used by "
                                       "running container 0123456789ab"):
        run(svc.remove(image.id, force=True))
    assert run(svc.inspect(image.id)).repo_tags == ("docker.io/library/busybox:latest",)
    # Forcing by name untags only: the container's snapshot parent stays.
    assert run(svc.remove("busybox", force=True)) == [{"Untagged": "busybox:latest"}]
    assert run(svc.inspect(image.id)).repo_tags == ()
    assert run(svc.prune()) == ([], 0)


def test_prune_dangling_and_all(svc: ImageService, rootfs_tar: Path, tmp_path: Path) -> None:
    tagged = run(svc.import_(rootfs_tar, repo="busybox", tag=None, changes=[], message="", platform=None))
    dangling = run(svc.import_(small_tar(tmp_path / "s.tar", {"f": "x"}), repo=None, tag=None, changes=[],
                               message="", platform=None))
    records, reclaimed = run(svc.prune())
    assert {"Deleted": dangling.id} in records and reclaimed == 1
    assert [i.id for i in run(svc.list())] == [tagged.id]
    records, reclaimed = run(svc.prune(dangling_only=False))
    assert records[0] == {"Untagged": "busybox:latest"} and {"Deleted": tagged.id} in records
    assert reclaimed > 500_000 and run(svc.list()) == []


def test_save_load_round_trip_keeps_the_id(svc: ImageService, rootfs_tar: Path, tmp_path: Path) -> None:
    image = run(svc.import_(rootfs_tar, repo="busybox", tag="latest", changes=['CMD ["sh"]'], message="",
                            platform=None))
    out = tmp_path / "saved.tar"
    run(svc.save(["busybox"], out))
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert {"index.json", "manifest.json", "oci-layout", "repositories"} <= set(names)
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    second = make_service(tmp_path / "b")
    run(second.open())
    lines = run(second.load(out))
    assert lines == ["Loaded image: busybox:latest"]
    loaded = run(second.inspect("busybox:latest"))
    assert loaded.id == image.id and loaded.chain_ids == image.chain_ids
    # Saved by ID: no tags, loads as an ID.
    run(svc.save([image.id[7:19]], tmp_path / "byid.tar"))
    third = make_service(tmp_path / "c")
    run(third.open())
    assert run(third.load(tmp_path / "byid.tar")) == [f"Loaded image ID: {image.id}"]


def test_load_refuses_escaping_member_and_leaves_store_unchanged(svc: ImageService, rootfs_tar: Path,
                                                                  tmp_path: Path) -> None:
    run(svc.import_(rootfs_tar, repo="busybox", tag="latest", changes=[], message="", platform=None))
    good = tmp_path / "good.tar"
    run(svc.save(["busybox"], good))
    before = store_state(tmp_path / "a")
    evil = tmp_path / "evil.tar"
    with tarfile.open(good) as src, tarfile.open(evil, "w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("../evil")
        info.size = 4
        dst.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(InvalidArgument, match="escapes"):
        run(svc.load(evil))
    assert store_state(tmp_path / "a") == before
    assert not (tmp_path / "a" / "evil").exists() and not (tmp_path / "a" / "tmp" / "evil").exists()


def test_failed_load_of_a_corrupt_layer_rolls_back(tmp_path: Path, rootfs_tar: Path) -> None:
    src = make_service(tmp_path / "src")
    run(src.open())
    run(src.import_(rootfs_tar, repo="busybox", tag="latest", changes=[], message="", platform=None))
    run(src.import_(small_tar(tmp_path / "s.tar", {"f": "x"}), repo="small", tag=None, changes=[], message="",
                    platform=None))
    good = tmp_path / "two.tar"
    run(src.save(["busybox", "small"], good))
    broken = tmp_path / "broken.tar"
    with tarfile.open(good) as tar_in, tarfile.open(broken, "w") as tar_out:
        manifest = json.load(tar_in.extractfile("manifest.json"))  # type: ignore[arg-type]
        victim = manifest[1]["Layers"][0]
        for member in tar_in.getmembers():
            data = tar_in.extractfile(member) if member.isfile() else None
            if member.name == victim:
                raw = bytearray(data.read())  # type: ignore[union-attr]
                raw[600] ^= 0xFF  # inside the first file's data: a valid tar, the wrong digest
                data = io.BytesIO(bytes(raw))
            tar_out.addfile(member, data)
    dest = make_service(tmp_path / "dest")
    run(dest.open())
    before = store_state(tmp_path / "dest")
    with pytest.raises(InvalidArgument, match="invalid diffID"):
        run(dest.load(broken))
    assert store_state(tmp_path / "dest") == before
    assert run(dest.list()) == []


def test_import_accepts_gzip_and_empty_tar(svc: ImageService, tmp_path: Path) -> None:
    import gzip

    raw = small_tar(tmp_path / "s.tar", {"hello": "world"}).read_bytes()
    (tmp_path / "s.tar.gz").write_bytes(gzip.compress(raw))
    image = run(svc.import_(tmp_path / "s.tar.gz", repo="gz", tag=None, changes=[], message="",
                            platform=None))
    assert image.size == 5
    with tarfile.open(tmp_path / "empty.tar", "w"):
        pass
    empty = run(svc.import_(tmp_path / "empty.tar", repo="empty", tag=None, changes=[], message="",
                            platform=None))
    assert empty.size == 0 and len(empty.chain_ids) == 1
    with pytest.raises(InvalidArgument, match="not a valid change command"):
        run(svc.import_(tmp_path / "empty.tar", repo=None, tag=None, changes=["RUN x"], message="",
                        platform=None))
