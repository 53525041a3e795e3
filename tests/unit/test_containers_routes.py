"""The container routes through the aiohttp app: errors, wait, logs, and a hijacked attach."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from app_client import AppClient
from test_containers_fakes import Harness

from dockyard.api.app import build_app
from dockyard.core.engine import Engine
from dockyard.core.system import SystemService

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def env(tmp_path: Path) -> Any:
    h = Harness(tmp_path)
    await h.service.open()
    images: Any = h.images
    volumes: Any = None
    engine = Engine(config=h.config, images=images, containers=h.service, system=SystemService(h.config),
                    volumes=volumes)
    async with AppClient(build_app(engine)) as client:
        yield h, client


async def test_create_conflict_not_found_and_bad_json(env: Any) -> None:
    h, client = env
    body = {"Image": "busybox", "Cmd": ["echo", "hi"]}
    resp = await client.post("/v1.50/containers/create?name=web", json=body)
    assert resp.status == 201
    cid = (await resp.json())["Id"]
    resp = await client.post("/v1.50/containers/create?name=web", json=body)
    assert resp.status == 409
    assert (await resp.json())["message"] == (
        f'Conflict. The container name "/web" is already in use by container "{cid}". '
        "You have to remove (or rename) that container to be able to reuse that name.")
    resp = await client.get("/v1.50/containers/nosuch/json")
    assert resp.status == 404 and (await resp.json())["message"] == "No such container: nosuch"
    resp = await client.post("/v1.50/containers/create", data=b"{not json",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400
    resp = await client.post("/containers/create", json={"Image": "nope:latest"})
    assert resp.status == 404 and (await resp.json())["message"] == "No such image: nope:latest"
    resp = await client.get("/v1.50/containers/web/json")
    data = await resp.json()
    assert data["Id"] == cid and data["State"]["Status"] == "created" and data["Path"] == "echo"
    resp = await client.get("/containers/json", params={"all": "1"})
    assert [c["Names"] for c in await resp.json()] == [["/web"]]


async def test_start_wait_stop_logs_remove(env: Any) -> None:
    h, client = env
    resp = await client.post("/containers/create?name=job", json={"Image": "busybox"})
    cid = (await resp.json())["Id"]
    wait = asyncio.ensure_future(client.post(f"/containers/{cid}/wait?condition=next-exit"))
    await asyncio.sleep(0.05)
    assert (await client.post("/containers/job/start")).status == 204
    assert (await client.post("/containers/job/start")).status == 304
    resp = await client.delete("/containers/job")
    assert resp.status == 409 and "container is running" in (await resp.json())["message"]
    log = h.service.paths(await h.service.inspect("job")).log
    log.write_text("2024-05-01T10:00:00.000000000Z stdout F out\n"
                   "2024-05-01T10:00:01.000000000Z stderr F err\n")
    assert (await client.post("/containers/job/stop?t=1")).status == 204
    resp = await wait
    assert resp.status == 200 and await resp.json() == {"StatusCode": 143}
    resp = await client.get("/containers/job/logs?stdout=1&stderr=1&timestamps=1")
    assert resp.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    raw = await resp.read()
    assert raw == (b"\x01\x00\x00\x00\x00\x00\x00\x23" + b"2024-05-01T10:00:00.000000000Z out\n"
                   + b"\x02\x00\x00\x00\x00\x00\x00\x23" + b"2024-05-01T10:00:01.000000000Z err\n")
    resp = await client.post("/containers/job/kill")
    assert resp.status == 409
    assert (await resp.json())["message"] == f"Cannot kill container: job: container {cid} is not running"
    assert (await client.delete("/containers/job")).status == 204
    assert (await client.get("/containers/job/json")).status == 404


async def test_attach_is_hijacked_with_101(env: Any) -> None:
    h, client = env
    h.monitor.end_attach = True
    resp = await client.post("/containers/create?name=att", json={"Image": "busybox", "OpenStdin": True})
    assert resp.status == 201
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"POST /v1.50/containers/att/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                 b"Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert b"application/vnd.docker.multiplexed-stream" in head
    assert (await client.post("/containers/att/start")).status == 204
    writer.write(b"typed")
    body = await asyncio.wait_for(reader.read(), 2)  # the server closes when output ends
    assert body == b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n\x02\x00\x00\x00\x00\x00\x00\x05warn\n"
    writer.close()
    assert h.monitor.streams[0].closed


async def test_exec_routes(env: Any) -> None:
    h, client = env
    await client.post("/containers/create?name=ex", json={"Image": "busybox"})
    resp = await client.post("/containers/ex/exec", json={"Cmd": ["ls"], "AttachStdout": True})
    assert resp.status == 409
    await client.post("/containers/ex/start")
    resp = await client.post("/containers/ex/exec", json={"Cmd": ["ls"], "AttachStdout": True})
    exec_id = (await resp.json())["Id"]
    resp = await client.post(f"/exec/{exec_id}/start", json={"Detach": True})
    assert resp.status == 200
    await asyncio.sleep(0.05)
    data = await (await client.get(f"/exec/{exec_id}/json")).json()
    assert data["ExitCode"] == 3 and data["Running"] is False and data["ProcessConfig"]["entrypoint"] == "ls"
    top = await (await client.get("/containers/ex/top")).json()
    assert "PID" in top["Titles"]
    assert json.loads(await (await client.get("/exec/nope/json")).text())["message"] == \
        "No such exec instance: nope"
