"""Volumes, networks and the dashboard's live event feed in the browser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.daemon import Daemon

from .conftest import UiServer

Shot = Callable[[Any, str], Any]


def test_volume_created_and_removed(page: Any, ui: UiServer, daemon: Daemon, name: Any) -> None:
    vol = name("ui-vol")
    page.goto(f"{ui.url}/e/local/volumes")
    page.get_by_label("Name").fill(vol)
    page.get_by_role("button", name="Create volume").click()
    page.get_by_role("cell", name=vol, exact=True).wait_for()
    assert daemon.docker("volume", "inspect", vol)[0] == 0
    page.get_by_role("button", name=f"Remove {vol}").click()
    page.wait_for_function(f"!document.body.textContent.includes('{vol}')")
    assert daemon.docker("volume", "inspect", vol)[0] != 0


def test_network_create_connect_disconnect_remove(page: Any, ui: UiServer, daemon: Daemon, container: Any,
                                                  name: Any, shot: Shot) -> None:
    net, cname = name("ui-net"), name("ui-netc")
    container("--name", cname, "busybox", "sleep", "300")
    page.goto(f"{ui.url}/e/local/networks")
    page.get_by_label("Name").fill(net)
    page.get_by_role("button", name="Create network").click()
    try:
        page.get_by_role("link", name=net).click()
        page.get_by_label("Container").select_option(cname)
        page.get_by_role("button", name="Connect").click()
        page.get_by_role("cell", name=cname).wait_for()
        attached = daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", cname)
        assert net in attached
        shot(page, "network")
        page.get_by_role("button", name="Disconnect").click()
        page.wait_for_function(f"!document.querySelector('tbody').textContent.includes('{cname}')")
        assert net not in daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", cname)
        page.goto(f"{ui.url}/e/local/networks")
        page.get_by_role("button", name=f"Remove {net}").click()
        page.wait_for_function(f"!document.body.textContent.includes('{net}')")
        assert daemon.docker("network", "inspect", net)[0] != 0
    finally:
        daemon.docker("network", "rm", net)


def test_dashboard_streams_events(page: Any, ui: UiServer, daemon: Daemon, name: Any, shot: Shot) -> None:
    cname = name("ui-ev")
    page.goto(f"{ui.url}/e/local/dashboard")
    page.wait_for_function("document.getElementById('events').dataset.live === '1'")
    daemon.docker_ok("run", "--rm", "--name", cname, "busybox", "true")
    feed = page.get_by_role("region", name="Live events")
    feed.get_by_text(f"container start  {cname}").wait_for()
    feed.get_by_text(f"container destroy  {cname}").wait_for()
    shot(page, "dashboard-events")


def test_container_list_follows_the_engine(page: Any, ui: UiServer, daemon: Daemon, name: Any) -> None:
    cname = name("ui-live")
    page.goto(f"{ui.url}/e/local/containers")
    page.wait_for_function("document.getElementById('ctr-table').dataset.live === '1'")
    daemon.docker_ok("run", "-d", "--name", cname, "busybox", "sleep", "300")
    try:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=cname))
        row.get_by_text("running", exact=True).wait_for()
        daemon.docker_ok("kill", cname)
        row.get_by_text("exited", exact=True).wait_for()
    finally:
        daemon.docker("rm", "-f", cname)
