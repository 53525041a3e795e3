"""Pull and push through HttpxRegistry against an in-memory registry (httpx.MockTransport), into
and out of an ImageService on a copy snapshotter."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard
from test_distribution_fake import FakeRegistry, digest, manifest_for

from dockyard.backends.overlay import CopySnapshotter
from dockyard.backends.registry import HttpxRegistry
from dockyard.config import DaemonConfig
from dockyard.core.content import ContentStore
from dockyard.core.distribution.download import Downloader
from dockyard.core.distribution.model import AuthConfig
from dockyard.core.distribution.progress import ProgressEvent, ProgressSink
from dockyard.core.distribution.service import DistributionService, PullRequest
from dockyard.core.images.service import ImageService
from dockyard.core.metadata import Metadata
from dockyard.errors import InvalidArgument, NotFound

HOST = "registry.test"


class Engine:
    def __init__(self, root: Path, fake: FakeRegistry) -> None:
        config = DaemonConfig(data_root=root, exec_root=root / "run", snapshotter="copy")
        config.tmp_dir.mkdir(parents=True, exist_ok=True)
        db = Metadata(config.db_path)
        content = ContentStore(config.content_dir)
        snapshotter = CopySnapshotter(config.snapshots_dir)
        self.root = root
        self.images = ImageService(config=config, db=db, content=content, snapshotter=snapshotter)
        self.registry = HttpxRegistry(transport=fake.transport())
        self.dist = DistributionService(registry=self.registry, images=self.images, content=content,
                                        db=db, snapshotter=snapshotter, tmp_dir=config.tmp_dir)
        self.events: list[ProgressEvent] = []

    async def open(self) -> None:
        await self.images.open()

    def sink(self) -> ProgressSink:
        return ProgressSink(self.events.append)

    def state(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for sub in ("content/blobs", "snapshots")
                      for p in (self.root / sub).rglob("*"))

    def statuses(self) -> list[str]:
        return [e.status for e in self.events]


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def image_config(tars: list[bytes], arch: str = "amd64") -> dict[str, object]:
    return {"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [digest(t) for t in tars]}}


@pytest.fixture
def fake() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def engine(tmp_path: Path, fake: FakeRegistry) -> Iterator[Engine]:
    yield Engine(tmp_path / "a", fake)


def publish(fake: FakeRegistry, repo: str, tag: str, files: list[dict[str, bytes]],
            compress: str = "gzip", arch: str = "amd64") -> tuple[list[bytes], str]:
    tars = [layer_tar(f) for f in files]
    if compress == "gzip":
        blobs = [(gzip.compress(t, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip") for t in tars]
    elif compress == "zstd":
        blobs = [(zstandard.ZstdCompressor().compress(t), "application/vnd.oci.image.layer.v1.tar+zstd")
                 for t in tars]
    else:
        blobs = [(t, "application/vnd.oci.image.layer.v1.tar") for t in tars]
    manifest = manifest_for(fake, image_config(tars, arch), blobs)
    return [b for b, _ in blobs], fake.put_manifest(repo, tag, manifest,
                                                    "application/vnd.oci.image.manifest.v1+json")


@pytest.mark.parametrize("compress", ["gzip", "zstd", "none"])
async def test_pull_records_image_tag_and_repo_digest(engine: Engine, fake: FakeRegistry,
                                                      compress: str) -> None:
    await engine.open()
    blobs, manifest_digest = publish(fake, "team/app", "v1", [{"a.txt": b"A" * 5000}, {"b.txt": b"B"}],
                                     compress)
    await engine.dist.pull(PullRequest(f"{HOST}/team/app", "v1"), engine.sink())
    image = engine.images.resolve(f"{HOST}/team/app:v1")
    assert image.repo_digests == (f"{HOST}/team/app@{manifest_digest}",)
    assert len(image.chain_ids) == 2
    assert f"Digest: {manifest_digest}" in engine.statuses()
    assert f"Status: Downloaded newer image for {HOST}/team/app:v1" in engine.statuses()
    assert engine.statuses().count("Pull complete") == 2
    # The registry's blobs are kept as they came: push gives back the same manifest digest.
    assert (engine.root / "content/blobs/sha256" / digest(blobs[0]).split(":")[1]).exists()


async def test_second_pull_of_shared_base_downloads_only_the_new_layer(engine: Engine,
                                                                       fake: FakeRegistry) -> None:
    await engine.open()
    base = {"base.txt": b"base" * 1000}
    publish(fake, "one", "latest", [base])
    blobs, _ = publish(fake, "two", "latest", [base, {"top.txt": b"top"}])
    await engine.dist.pull(PullRequest(f"{HOST}/one"), engine.sink())
    fake.blob_gets.clear()
    engine.events.clear()
    await engine.dist.pull(PullRequest(f"{HOST}/two"), engine.sink())
    assert [name for name, _ in fake.blob_gets if name != digest(json.dumps(
        image_config([layer_tar(base), layer_tar({"top.txt": b"top"})])).encode())] == [digest(blobs[1])]
    assert "Already exists" in engine.statuses()


async def test_corrupt_blob_is_refused_and_leaves_nothing(engine: Engine, fake: FakeRegistry) -> None:
    await engine.open()
    blobs, _ = publish(fake, "bad", "latest", [{"ok.txt": b"fine"}, {"x.txt": b"X" * 10000}])
    fake.corrupt.add(digest(blobs[1]))
    before = engine.state()
    with pytest.raises(InvalidArgument, match="filesystem layer verification failed for digest"):
        await engine.dist.pull(PullRequest(f"{HOST}/bad"), engine.sink())
    assert engine.state() == before
    assert await engine.images.list() == []


async def test_diff_id_mismatch_with_config_is_refused(engine: Engine, fake: FakeRegistry) -> None:
    await engine.open()
    tar = layer_tar({"f": b"data"})
    blob = gzip.compress(tar)
    wrong = {"architecture": "amd64", "os": "linux",
             "rootfs": {"type": "layers", "diff_ids": [digest(b"something else")]}}
    manifest = manifest_for(fake, wrong, [(blob, "application/vnd.oci.image.layer.v1.tar+gzip")])
    fake.put_manifest("mismatch", "latest", manifest, "application/vnd.oci.image.manifest.v1+json")
    before = engine.state()
    with pytest.raises(InvalidArgument, match="don't match image configuration"):
        await engine.dist.pull(PullRequest(f"{HOST}/mismatch"), engine.sink())
    assert engine.state() == before


async def test_dropped_connection_resumes_with_a_range_request(engine: Engine, fake: FakeRegistry) -> None:
    await engine.open()
    blobs, _ = publish(fake, "flaky", "latest", [{"big.bin": bytes(range(256)) * 4000}], compress="none")
    fake.cut_once.add(digest(blobs[0]))
    engine.dist._puller._downloader._retry_delay = 0.0  # noqa: SLF001 - keep the test fast
    await engine.dist.pull(PullRequest(f"{HOST}/flaky"), engine.sink())
    gets = [r for name, r in fake.blob_gets if name == digest(blobs[0])]
    assert gets[0] is None and gets[1] == f"bytes={len(blobs[0]) // 2}-"
    assert any(s.startswith("Retrying") for s in engine.statuses())


async def test_index_selects_platform(engine: Engine, fake: FakeRegistry) -> None:
    await engine.open()
    _, amd = publish(fake, "multi", "amd", [{"arch": b"amd64"}], arch="amd64")
    _, arm = publish(fake, "multi", "arm", [{"arch": b"arm64"}], arch="arm64")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d,
         "size": len(fake.manifests[("multi", d)][0]), "platform": {"os": "linux", "architecture": a}}
        for d, a in ((arm, "arm64"), (amd, "amd64"))]}
    index_digest = fake.put_manifest("multi", "latest", json.dumps(index).encode(), index["mediaType"])
    await engine.dist.pull(PullRequest(f"{HOST}/multi", "latest", platform="linux/arm64"), engine.sink())
    image = engine.images.resolve(f"{HOST}/multi")
    assert image.config["architecture"] == "arm64"
    assert image.repo_digests == (f"{HOST}/multi@{index_digest}",)
    await engine.dist.pull(PullRequest(f"{HOST}/multi", "latest"), engine.sink())
    host_arch = engine.dist.host_platform.architecture
    assert engine.images.resolve(f"{HOST}/multi").config["architecture"] == host_arch
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
        await engine.dist.pull(PullRequest(f"{HOST}/multi", "latest", platform="linux/s390x"), engine.sink())


async def test_unknown_tag_is_not_found(engine: Engine) -> None:
    await engine.open()
    with pytest.raises(NotFound, match="manifest unknown"):
        await engine.dist.pull(PullRequest(f"{HOST}/nothing", "v9"), engine.sink())


async def test_push_then_pull_elsewhere_gives_same_image(tmp_path: Path, fake: FakeRegistry) -> None:
    source = Engine(tmp_path / "src", fake)
    await source.open()
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(layer_tar({"hello.txt": b"hello" * 1000}))
    image = await source.images.import_(tar, repo=f"{HOST}/pushed", tag="v1", changes=[], message="",
                                        platform=None)
    await source.dist.push(f"{HOST}/pushed", "v1", AuthConfig(), source.sink())
    assert "Pushed" in source.statuses()
    assert any(e.aux.get("Tag") == "v1" for e in source.events)
    # A second push finds every blob there.
    source.events.clear()
    await source.dist.push(f"{HOST}/pushed", "v1", AuthConfig(), source.sink())
    assert "Layer already exists" in source.statuses()
    target = Engine(tmp_path / "dst", fake)
    await target.open()
    await target.dist.pull(PullRequest(f"{HOST}/pushed", "v1"), target.sink())
    assert target.images.resolve(f"{HOST}/pushed:v1").id == image.id
    # Pushed again from the pulling side: the same manifest, so the same digest.
    digests = {e.aux["Digest"] for e in source.events if e.aux}
    target.events.clear()
    await target.dist.push(f"{HOST}/pushed", "v1", AuthConfig(), target.sink())
    assert {e.aux["Digest"] for e in target.events if e.aux} == digests


async def test_token_auth_asks_scoped_tokens_with_credentials(tmp_path: Path) -> None:
    fake = FakeRegistry(users={"alice": "pw"})
    engine = Engine(tmp_path / "t", fake)
    await engine.open()
    publish(fake, "private/app", "latest", [{"f": b"x"}])
    with pytest.raises(NotFound, match="pull access denied"):
        await engine.dist.pull(PullRequest(f"{HOST}/private/app", "latest"), engine.sink())
    await engine.dist.pull(PullRequest(f"{HOST}/private/app", "latest", auth=AuthConfig("alice", "pw")),
                           engine.sink())
    assert ["repository:private/app:pull"] in fake.token_scopes
    assert await engine.dist.login(AuthConfig("alice", "pw", server_address=HOST)) == ""


def test_layer_hasher_handles_multi_member_gzip() -> None:
    from dockyard.core.distribution.verify import LayerHasher

    data = b"hello " * 1000 + b"world" * 1000
    blob = gzip.compress(data[:3000]) + gzip.compress(data[3000:])
    hasher = LayerHasher()
    for i in range(0, len(blob), 7):
        hasher.update(blob[i:i + 7])
    assert hasher.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert hasher.digest == digest(blob)


async def test_a_blob_landing_while_a_sibling_fails_is_removed(engine: Engine, fake: FakeRegistry,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A good layer still being committed (fsync, rename: in a thread that cannot be cancelled)
    when another layer fails verification must not survive the failed pull."""
    await engine.open()
    blobs, _ = publish(fake, "race", "latest", [{"ok.txt": b"fine"}, {"x.txt": b"X" * 10000}])
    fake.corrupt.add(digest(blobs[1]))
    good = digest(blobs[0])
    commit = ContentStore._commit  # noqa: SLF001 - slowing the one step that races

    def slow_commit(self: ContentStore, tmp: Path, actual: str, expected: str | None) -> None:
        if actual == good:
            time.sleep(0.3)
        commit(self, tmp, actual, expected)

    transfer = Downloader._transfer  # noqa: SLF001

    async def late_transfer(self: Downloader, repo: object, desc: Any, *args: Any) -> None:
        if desc.digest != good:
            await asyncio.sleep(0.1)  # fail while the good blob is being committed
        await transfer(self, repo, desc, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ContentStore, "_commit", slow_commit)
    monkeypatch.setattr(Downloader, "_transfer", late_transfer)
    before = engine.state()
    with pytest.raises(InvalidArgument, match="filesystem layer verification failed"):
        await engine.dist.pull(PullRequest(f"{HOST}/race"), engine.sink())
    await asyncio.sleep(0.5)  # past the slow commit: whatever it would leave has landed by now
    assert engine.state() == before


async def test_identity_token_login_and_pull(tmp_path: Path) -> None:
    """A token server that gives refresh tokens: login returns it (Docker's IdentityToken), and a
    pull with only that token (no password) trades it for access tokens with the OAuth2 grant."""
    fake = FakeRegistry(users={"alice": "pw"}, oauth=True)
    engine = Engine(tmp_path / "t", fake)
    await engine.open()
    publish(fake, "private/app", "latest", [{"f": b"x"}])
    token = await engine.dist.login(AuthConfig("alice", "pw", server_address=HOST))
    assert token == "refresh-alice"
    assert fake.token_grants == ["get-offline"]
    with pytest.raises(NotFound, match="pull access denied"):
        await engine.dist.pull(PullRequest(f"{HOST}/private/app", "latest",
                                           auth=AuthConfig("alice", identity_token="stolen")), engine.sink())
    await engine.dist.pull(PullRequest(f"{HOST}/private/app", "latest",
                                       auth=AuthConfig("alice", identity_token=token)), engine.sink())
    assert "refresh_token" in fake.token_grants
    assert ["repository:private/app:pull"] in fake.token_scopes


async def test_extracting_reports_blob_bytes_per_layer(engine: Engine, fake: FakeRegistry) -> None:
    await engine.open()
    blobs, _ = publish(fake, "bars", "latest", [{"a.txt": b"A" * 5000}, {"b.txt": b"B" * 9000}])
    await engine.dist.pull(PullRequest(f"{HOST}/bars"), engine.sink())
    for blob in blobs:
        short = digest(blob).split(":")[1][:12]
        mine = [e for e in engine.events if e.id == short]
        extracting = [e for e in mine if e.status == "Extracting"]
        assert extracting and all(e.total == len(blob) for e in extracting)
        assert extracting[-1].current == len(blob)
        statuses = [e.status for e in mine]
        assert statuses.index("Extracting") < statuses.index("Pull complete")


async def test_extraction_watcher_samples_the_open_file_offset(tmp_path: Path) -> None:
    from dockyard.core.distribution.extract import ExtractionWatcher, LayerBlob, read_offset

    blob = tmp_path / "blob"
    blob.write_bytes(b"x" * 10_000)
    assert read_offset(blob) is None
    events: list[ProgressEvent] = []
    with blob.open("rb") as reader:
        reader.read(4096)
        assert read_offset(blob) == 4096
        with ExtractionWatcher([LayerBlob(blob, "abc", 10_000)], ProgressSink(events.append),
                               interval=0.01) as watcher:
            for _ in range(200):
                await asyncio.sleep(0.01)
                if events:
                    break
            watcher.finish("abc")
    assert [(e.status, e.current, e.total) for e in events] == [("Extracting", 4096, 10_000),
                                                                ("Extracting", 10_000, 10_000)]
