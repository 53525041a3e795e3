"""Boot order of Compose projects' containers: from labels only."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.core.containers import boot_order
from dockyard.core.containers.model import Container, ContainerConfig, HostOptions, State
from dockyard.core.ids import ContainerId, ImageId


def _container(cid: str, service: str, depends: str = "", project: str = "p") -> Container:
    labels = {boot_order.PROJECT: project, boot_order.SERVICE: service, boot_order.DEPENDS_ON: depends}
    return Container(id=ContainerId(cid * 64), name=f"/{service}", created="", image_id=ImageId("sha256:x"),
                     config=ContainerConfig(image="busybox", labels=labels), host=HostOptions(), path="sh",
                     args=[], runtime="runc")


def test_depends_on_label_is_parsed() -> None:
    web = _container("a", "web", "db:service_healthy:false,cache:service_started:true")
    assert boot_order.depends_on(web) == [("db", "service_healthy"), ("cache", "service_started")]
    assert boot_order.gate_for(_container("b", "db"), [web]) is None
    other_project = _container("c", "db", project="q")
    assert boot_order.gate_for(web, [web, other_project]) is None


async def test_the_gate_opens_once_the_dependency_is_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boot_order, "POLL", 0.01)
    db = _container("b", "db")
    web = _container("a", "web", "db:service_healthy:false")
    gate = boot_order.gate_for(web, [web, db])
    assert gate is not None
    task = asyncio.ensure_future(gate())
    await asyncio.sleep(0.05)
    db.state = State.RUNNING
    await asyncio.sleep(0.05)
    assert not task.done(), "running is not healthy"
    db.health = {"Status": "healthy"}
    await asyncio.wait_for(task, 1.0)
