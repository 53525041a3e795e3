"""The API scaffolding: version negotiation, error mapping, ping headers (no daemon needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from app_client import AppClient

from dockyard import errors
from dockyard.api.app import build_app
from dockyard.api.errors import status_of
from dockyard.config import DaemonConfig
from dockyard.core.engine import Engine
from dockyard.core.system import SystemService


class _Containers:
    async def counts(self) -> tuple[int, int, int]:
        return (1, 2, 3)


class _Images:
    async def count(self) -> int:
        return 4


def _engine(tmp_path: Path) -> Engine:
    config = DaemonConfig(data_root=tmp_path / "root", exec_root=tmp_path / "run")
    images: Any = _Images()
    containers: Any = _Containers()
    volumes: Any = None
    return Engine(config=config, images=images, containers=containers, system=SystemService(config),
                  volumes=volumes)


@pytest.fixture
async def client(tmp_path: Path) -> Any:
    async with AppClient(build_app(_engine(tmp_path))) as c:
        yield c


@pytest.mark.parametrize(
    ("cls", "status"),
    [(errors.NotFound, 404), (errors.InvalidArgument, 400), (errors.AlreadyExists, 409),
     (errors.WrongState, 409), (errors.NotModified, 304), (errors.Unimplemented, 501),
     (errors.Unavailable, 503), (RuntimeError, 500)],
)
def test_error_classes_map_to_docker_statuses(cls: type[Exception], status: int) -> None:
    assert status_of(cls("x")) == status


async def test_ping_answers_with_api_version_headers(client: Any) -> None:
    for path in ("/_ping", "/v1.24/_ping", "/v1.50/_ping"):
        resp = await client.get(path)
        assert resp.status == 200
        assert await resp.text() == "OK"
        assert resp.headers["Api-Version"] == "1.50"
    head = await client.head("/_ping")
    assert head.status == 200 and head.headers["Api-Version"] == "1.50"


async def test_too_new_and_too_old_versions_are_refused(client: Any) -> None:
    resp = await client.get("/v9.99/version")
    assert resp.status == 400
    assert (await resp.json())["message"] == (
        "client version 9.99 is too new. Maximum supported API version is 1.50")
    resp = await client.get("/v1.12/version")
    assert resp.status == 400
    assert "is too old. Minimum supported API version is 1.24" in (await resp.json())["message"]


async def test_info_counts_come_from_the_services(client: Any) -> None:
    body = await (await client.get("/v1.50/info")).json()
    assert (body["ContainersRunning"], body["ContainersPaused"], body["ContainersStopped"]) == (1, 2, 3)
    assert body["Containers"] == 6 and body["Images"] == 4


async def test_unknown_path_is_a_json_404(client: Any) -> None:
    resp = await client.get("/v1.50/nothing/here")
    assert resp.status == 404
    assert "message" in await resp.json()
