"""The plugin registry, the HTTP transport and legacy discovery against real plugin servers on UNIX
sockets in a temp dir (no daemon, any user): activation once, moby's error texts, re-activation
after a plugin restarts, the bounded retry, spec files."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.backends.plugins.discovery import LegacyDiscovery
from dockyard.backends.plugins.transport import connect
from dockyard.core.plugins.registry import (
    VOLUME_DRIVER,
    PluginError,
    PluginRegistry,
    PluginUnreachable,
)
from dockyard.errors import NotFound
from plugins.fake_plugins import FakePlugin, short_dir

pytestmark = pytest.mark.asyncio


@pytest.fixture
def plugin_dir() -> Iterator[Path]:
    path = short_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _registry(plugin_dir: Path, retry_for: float = 3.0) -> PluginRegistry:
    return PluginRegistry(connect=connect, sources=[LegacyDiscovery([plugin_dir], [plugin_dir])],
                          retry_for=retry_for)


def _echo(req: dict[str, object]) -> dict[str, object]:
    return {"Echo": req}


async def test_activates_once_and_calls(plugin_dir: Path) -> None:
    with FakePlugin(plugin_dir / "vp.sock", [VOLUME_DRIVER], {"VolumeDriver.List": _echo}) as fake:
        registry = _registry(plugin_dir)
        try:
            first = await registry.get("vp", VOLUME_DRIVER)
            second = await registry.get("vp:latest", VOLUME_DRIVER)
            assert first is second
            assert await first.call("VolumeDriver.List", {"x": 1}) == {"Echo": {"x": 1}}
            assert fake.activations == 1
            assert await registry.names(VOLUME_DRIVER) == ["vp"]
        finally:
            await registry.close()


async def test_unknown_name_and_kind(plugin_dir: Path) -> None:
    with FakePlugin(plugin_dir / "az.sock", ["authz"]):
        registry = _registry(plugin_dir)
        try:
            with pytest.raises(NotFound, match='^plugin "nope" not found$'):
                await registry.get("nope", VOLUME_DRIVER)
            with pytest.raises(NotFound, match="does not implement VolumeDriver"):
                await registry.get("az", VOLUME_DRIVER)
            assert await registry.names(VOLUME_DRIVER) == []
        finally:
            await registry.close()


async def test_plugin_errors_carry_moby_texts(plugin_dir: Path) -> None:
    with FakePlugin(plugin_dir / "vp.sock", [VOLUME_DRIVER],
                    {"VolumeDriver.Get": lambda req: {"Err": "plain err"}}) as fake:
        fake.fail["VolumeDriver.Create"] = "disk on fire"
        registry = _registry(plugin_dir)
        try:
            plugin = await registry.get("vp", VOLUME_DRIVER)
            # A non-200 reply: moby's statusError "<method>: <Err>".
            with pytest.raises(PluginError, match="^VolumeDriver.Create: disk on fire$") as info:
                await plugin.call("VolumeDriver.Create", {"Name": "v"})
            assert info.value.status == 500
            # A 200 with Err: the text as it is (moby's generated proxies).
            with pytest.raises(PluginError, match="^plain err$"):
                await plugin.call("VolumeDriver.Get", {"Name": "v"})
        finally:
            await registry.close()


async def test_restarted_plugin_is_activated_again(plugin_dir: Path) -> None:
    fake = FakePlugin(plugin_dir / "vp.sock", [VOLUME_DRIVER], {"VolumeDriver.List": _echo}).start()
    registry = _registry(plugin_dir)
    try:
        plugin = await registry.get("vp", VOLUME_DRIVER)
        await plugin.call("VolumeDriver.List")
        fake.stop(keep_socket=True)  # crashed: the socket file stays, nobody answers
        revived = FakePlugin(plugin_dir / "vp.sock", [VOLUME_DRIVER], {"VolumeDriver.List": _echo})
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, revived.start)  # comes back while the call is being retried
        assert await plugin.call("VolumeDriver.List", {"n": 2}) == {"Echo": {"n": 2}}
        assert revived.methods() == ["Plugin.Activate", "VolumeDriver.List"]
        revived.stop()
    finally:
        await registry.close()


async def test_retry_is_bounded(plugin_dir: Path) -> None:
    fake = FakePlugin(plugin_dir / "vp.sock", [VOLUME_DRIVER], {"VolumeDriver.List": _echo}).start()
    registry = _registry(plugin_dir, retry_for=1.0)
    try:
        plugin = await registry.get("vp", VOLUME_DRIVER)
        fake.stop(keep_socket=True)
        started = time.monotonic()
        with pytest.raises(PluginUnreachable, match="on plugin vp: .*Connection refused"):
            await plugin.call("VolumeDriver.List")
        assert 0.5 < time.monotonic() - started < 3.0
        # A plugin whose socket is gone is not waited for.
        (plugin_dir / "vp.sock").unlink()
        started = time.monotonic()
        with pytest.raises(PluginError):
            await plugin.call("VolumeDriver.List")
        assert time.monotonic() - started < 0.5
        with pytest.raises(NotFound):
            await registry.get("vp", VOLUME_DRIVER)
    finally:
        await registry.close()


async def test_spec_and_json_files(plugin_dir: Path) -> None:
    sockets = short_dir()
    try:
        with FakePlugin(sockets / "real.sock", [VOLUME_DRIVER], {"VolumeDriver.List": _echo}):
            (plugin_dir / "byspec.spec").write_text(f"unix://{sockets / 'real.sock'}\n")
            (plugin_dir / "byjson.json").write_text(json.dumps(
                {"Name": "byjson", "Addr": f"unix://{sockets / 'real.sock'}"}))
            (plugin_dir / "broken.json").write_text("{not json")
            registry = _registry(plugin_dir)
            try:
                for name in ("byspec", "byjson"):
                    plugin = await registry.get(name, VOLUME_DRIVER)
                    assert await plugin.call("VolumeDriver.List", {"via": name}) == {"Echo": {"via": name}}
                assert await registry.names(VOLUME_DRIVER) == ["byjson", "byspec"]
            finally:
                await registry.close()
    finally:
        shutil.rmtree(sockets, ignore_errors=True)


async def test_discovery_ignores_other_names(plugin_dir: Path) -> None:
    discovery = LegacyDiscovery([plugin_dir], [plugin_dir])
    (plugin_dir / "x.spec").write_text("tcp://127.0.0.1:1\n")
    assert discovery.lookup("../x") is None
    assert discovery.lookup("x") is not None
    assert discovery.lookup("x").address == "tcp://127.0.0.1:1"  # type: ignore[union-attr]
    (plugin_dir / "notasocket.sock").write_text("")
    assert discovery.lookup("notasocket") is None
