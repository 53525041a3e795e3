"""The /images routes through aiohttp's test client on a real engine (copy snapshotter, temp root)."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from app_client import AppClient
from conformance.images import busybox_rootfs_tar

from dockyard.api.app import build_app
from dockyard.config import DaemonConfig
from dockyard.daemon import build_engine

pytestmark = pytest.mark.root

Scenario = Callable[[AppClient, Path], Awaitable[None]]


def run_api(tmp_path: Path, scenario: Scenario) -> None:
    async def main() -> None:
        config = DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "run", snapshotter="copy",
                              hosts=(f"unix://{tmp_path}/d.sock",))
        engine = build_engine(config)
        await engine.images.open()
        await engine.containers.open()
        client = AppClient(build_app(engine))
        await client.start_server()
        try:
            await scenario(client, tmp_path)
        finally:
            await client.close()
            await engine.containers.close()
            await engine.images.close()

    asyncio.run(main())


async def _import(client: AppClient, tar: Path, repo: str) -> str:
    params = [("fromSrc", "-"), ("repo", repo), ("changes", 'CMD ["sh"]'), ("changes", "LABEL a=b")]
    resp = await client.post("/v1.50/images/create", params=params, data=tar.read_bytes())
    assert resp.status == 200, await resp.text()
    lines = [json.loads(line) for line in (await resp.text()).splitlines() if line.strip()]
    status = lines[-1]["status"]
    assert isinstance(status, str) and status.startswith("sha256:")
    return status


def test_import_list_inspect_tag_history_delete(tmp_path: Path) -> None:
    (tmp_path / "bb.tar").write_bytes(busybox_rootfs_tar())

    async def scenario(client: AppClient, tmp: Path) -> None:
        image_id = await _import(client, tmp / "bb.tar", "busybox:latest")
        listed = await (await client.get("/images/json")).json()
        assert [i["RepoTags"] for i in listed] == [["busybox:latest"]]
        assert listed[0]["Id"] == image_id and listed[0]["Labels"] == {"a": "b"}
        resp = await client.post("/v1.50/images/busybox/tag",
                                 params={"repo": "localhost:5000/foo/bar", "tag": "v1"})
        assert resp.status == 201
        body = await (await client.get("/v1.50/images/localhost:5000/foo/bar:v1/json")).json()
        assert body["Id"] == image_id and body["Config"]["Cmd"] == ["sh"]
        assert body["RootFS"]["Type"] == "layers" and len(body["RootFS"]["Layers"]) == 1
        assert body["GraphDriver"]["Name"] == "overlay2" and body["Metadata"]["LastTagTime"]
        history = await (await client.get(f"/images/{image_id[7:19]}/history")).json()
        assert history[0]["Id"] == image_id and history[0]["Comment"] == "Imported from -"
        missing = await client.get("/images/nosuch/json")
        assert missing.status == 404 and (await missing.json())["message"] == "No such image: nosuch:latest"
        bad = await client.get("/images/Bad/json")
        assert bad.status == 400  # moby's GetImage: a reference that does not parse is a 400
        assert "must be lowercase" in (await bad.json())["message"]
        conflict = await client.delete(f"/images/{image_id}")
        assert conflict.status == 409
        assert "image is referenced in multiple repositories" in (await conflict.json())["message"]
        deleted = await (await client.delete(f"/images/{image_id}", params={"force": "1"})).json()
        assert {"Deleted": image_id} in deleted and {"Untagged": "localhost:5000/foo/bar:v1"} in deleted
        assert await (await client.get("/images/json")).json() == []

    run_api(tmp_path, scenario)


def test_save_load_prune_and_errors(tmp_path: Path) -> None:
    (tmp_path / "bb.tar").write_bytes(busybox_rootfs_tar())

    async def scenario(client: AppClient, tmp: Path) -> None:
        image_id = await _import(client, tmp / "bb.tar", "busybox")
        saved = await client.get("/images/busybox/get")
        assert saved.status == 200 and saved.headers["Content-Type"] == "application/x-tar"
        archive = await saved.read()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            assert "manifest.json" in tar.getnames()
        assert (await client.delete("/images/busybox")).status == 200
        loaded = await client.post("/images/load?quiet=1", data=archive)
        assert loaded.status == 200
        lines = [json.loads(line) for line in (await loaded.text()).splitlines() if line.strip()]
        assert lines == [{"stream": "Loaded image: busybox:latest\n"}]
        again = await client.get("/images/get", params=[("names", "busybox"), ("names", image_id)])
        assert again.status == 200
        garbage = await client.post("/images/load", data=b"not a tar at all" * 100)
        # As dockerd: the stream is already a 200 when the archive turns out to be broken.
        assert garbage.status == 200
        failure = json.loads((await garbage.read()).splitlines()[-1])
        assert "invalid" in failure["error"] and failure["errorDetail"]["message"] == failure["error"]
        # Pulls are issue 5's (tests/conformance/test_registry.py); a registry nobody serves is a 503.
        pull = await client.post("/images/create",
                                 params={"fromImage": "127.0.0.1:1/alpine", "tag": "latest"})
        assert pull.status == 503 and "127.0.0.1:1" in (await pull.json())["message"]
        await client.post("/images/busybox/tag", params={"repo": "other"})
        assert (await client.delete("/images/busybox")).status == 200
        pruned = await (await client.post("/images/prune")).json()
        assert pruned == {"ImagesDeleted": None, "SpaceReclaimed": 0}
        assert (await client.delete("/images/other")).status == 200
        empty = await (await client.post("/images/prune")).json()
        assert empty["ImagesDeleted"] is None

    run_api(tmp_path, scenario)
