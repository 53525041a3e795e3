"""The container pages in a real browser: the list, logs, Stop, the exec console; a screenshot of
each page goes to tests/ui/artifacts/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from conformance.daemon import Daemon

from .conftest import UiServer

Shot = Callable[[Any, str], Any]


def _running(daemon: Daemon, cid: str) -> bool:
    return daemon.docker_ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"


def test_list_shows_the_container_and_its_page_shows_logs(page: Any, ui: UiServer, container: Any,
                                                          name: Any, shot: Shot) -> None:
    cname = name("ui-logs")
    container("--name", cname, "-p", "127.0.0.1::80", "busybox", "sh", "-c",
              "for i in 1 2 3; do echo line-$i; done; echo to-stderr >&2; sleep 300")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Containers").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=cname))
    assert row.get_by_text("running").first.is_visible()
    assert row.get_by_text("busybox").is_visible()
    assert re.search(r"\d+→80/tcp", row.inner_text())
    page.get_by_label("Search").fill(cname)
    assert page.locator("#ctr-table tbody tr:not([hidden])").count() == 1
    shot(page, "containers")
    row.get_by_role("link", name=cname).click()
    logs = page.get_by_label("Log output")
    for text in ("line-1", "line-3", "to-stderr"):
        page.wait_for_function(f"document.getElementById('logs').textContent.includes('{text}')")
    assert logs.is_visible()
    for button in ("Start", "Stop", "Restart", "Remove"):
        assert page.get_by_role("button", name=button, exact=True).is_visible()
    page.get_by_label("Search", exact=True).fill("line-2")
    page.wait_for_function("document.getElementById('log-count').textContent.startsWith('1 of')")
    assert logs.inner_text().strip() == "line-2"
    shot(page, "container-logs")


def test_stop_in_the_page_stops_the_container(page: Any, ui: UiServer, daemon: Daemon, container: Any,
                                             name: Any) -> None:
    cname = name("ui-stop")
    cid = container("--name", cname, "busybox", "sleep", "300")
    page.goto(f"{ui.url}/e/local/containers/{cid[:12]}")
    page.get_by_role("button", name="Stop", exact=True).click()
    page.wait_for_load_state()
    deadline = time.monotonic() + 20
    while _running(daemon, cid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(daemon, cid)
    page.get_by_role("button", name="Start", exact=True).click()
    deadline = time.monotonic() + 20
    while not _running(daemon, cid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _running(daemon, cid)


def test_bulk_remove_and_create_form(page: Any, ui: UiServer, daemon: Daemon, container: Any,
                                     name: Any) -> None:
    first, second = name("ui-bulk"), name("ui-bulk")
    for cname in (first, second):
        container("--name", cname, "busybox", "sleep", "300")
    page.goto(f"{ui.url}/e/local/containers")
    for cname in (first, second):
        page.get_by_label(f"Select {cname}").check()
    page.get_by_role("button", name="Remove selected").click()
    page.wait_for_function(f"!document.body.textContent.includes('{first}')")
    assert daemon.docker("inspect", first)[0] != 0 and daemon.docker("inspect", second)[0] != 0
    made = name("ui-made")
    page.get_by_text("Create a container").click()
    form = page.locator("#create-form")
    form.get_by_label("Image").fill("busybox")
    form.get_by_label("Name").fill(made)
    form.get_by_label("Command").fill("sleep 300")
    form.get_by_label("Environment (KEY=value per line)").fill("GREETING=ahoy")
    form.get_by_label("Labels (key=value per line)").fill("made.by=ui")
    form.get_by_role("button", name="Create and start").click()
    page.get_by_role("link", name=made).wait_for()
    try:
        assert _running(daemon, made)
        assert "GREETING=ahoy" in daemon.docker_ok("inspect", "-f", "{{json .Config.Env}}", made)
        assert daemon.docker_ok("inspect", "-f", "{{index .Config.Labels \"made.by\"}}", made).strip() == "ui"
    finally:
        daemon.docker("rm", "-f", made)


def test_exec_console_runs_echo(page: Any, ui: UiServer, container: Any, name: Any, shot: Shot) -> None:
    cid = container("--name", name("ui-exec"), "busybox", "sleep", "300")
    page.goto(f"{ui.url}/e/local/containers/{cid[:12]}")
    page.get_by_role("tab", name="Console").click()
    page.get_by_role("button", name="Connect").click()
    page.get_by_text("connected", exact=True).wait_for()
    page.locator("#terminal .xterm-helper-textarea").focus()
    page.keyboard.type("echo $((6*7))-answer\n")
    page.wait_for_function("document.getElementById('terminal').innerText.includes('42-answer')")
    shot(page, "container-console")


def test_stats_inspect_top_tabs(page: Any, ui: UiServer, container: Any, name: Any, shot: Shot) -> None:
    cid = container("--name", name("ui-stats"), "busybox", "sleep", "300")
    page.goto(f"{ui.url}/e/local/containers/{cid[:12]}")
    page.get_by_role("tab", name="Stats").click()
    page.wait_for_function("Number(document.getElementById('stats').dataset.samples || 0) >= 2",
                           timeout=30_000)
    shot(page, "container-stats")
    page.get_by_role("tab", name="Processes").click()
    page.get_by_role("cell", name="sleep 300").wait_for()
    page.get_by_role("tab", name="Inspect").click()
    assert f'"Id": "{cid}"' in page.get_by_label("Inspect output").inner_text()


@pytest.mark.parametrize("section", ["Dashboard", "Images", "Volumes", "Networks", "Stacks", "Swarm"])
def test_every_page_renders(page: Any, ui: UiServer, section: str, shot: Shot) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=section).click()
    page.get_by_role("heading", level=1, name=re.compile(section)).wait_for()
    if section == "Dashboard":
        assert page.get_by_role("heading", name="Disk usage").is_visible()
    if section == "Swarm":
        assert page.get_by_text("not a swarm manager").is_visible()
    shot(page, section.lower())
