"""Gaps of issue 6 closed with fakes: network events, and the remapped ids ``docker cp`` records."""

from __future__ import annotations

from pathlib import Path

from test_networks import FakeBackend, FakeResolver

from dockyard.core.events import EventBus
from dockyard.core.metadata import Metadata
from dockyard.core.networks.model import EndpointRequest
from dockyard.core.networks.service import NetworkCreate, NetworkService
from dockyard.core.runtime.userns import OVERFLOW_ID, IdRange, UsernsRemap


async def test_network_verbs_and_endpoints_are_events(tmp_path: Path) -> None:
    bus = EventBus()
    service = NetworkService(db=Metadata(tmp_path / "db"), backend=FakeBackend(("192.0.2.0/24",)),
                             resolver=FakeResolver(), default_bridge="dytest0", events=bus)
    await service.open()
    network = await service.create(NetworkCreate(name="app"))
    await service.join("a" * 64, "db", [EndpointRequest("app")], [])
    await service.leave("a" * 64)
    await service.remove("app")
    seen = [(e.type, e.action, e.actor_id, dict(e.attributes)) for e in bus.history()]
    assert seen == [
        ("network", "create", network.id, {"name": "app", "type": "bridge"}),
        ("network", "connect", network.id, {"name": "app", "type": "bridge", "container": "a" * 64}),
        ("network", "disconnect", network.id, {"name": "app", "type": "bridge", "container": "a" * 64}),
        ("network", "destroy", network.id, {"name": "app", "type": "bridge"}),
    ]


def test_unshift_is_the_inverse_of_shift() -> None:
    remap = UsernsRemap(user="dockremap", uids=(IdRange(100000, 1000), IdRange(300000, 64536)),
                        gids=(IdRange(200000, 65536),))
    for uid, gid in ((0, 0), (999, 5), (1000, 1000), (65535, 65535)):
        assert remap.unshift(*remap.shift(uid, gid)) == (uid, gid)
    assert remap.shift(1000, 0) == (300000, 200000)  # the second uid range starts at 1000 inside
    assert remap.unshift(0, 0) == (OVERFLOW_ID, OVERFLOW_ID)  # host root is unmapped inside
