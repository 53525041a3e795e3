"""Images in the browser: a pull from Debian's docker-registry on 127.0.0.1 with per-layer progress,
a build from a pasted Dockerfile with its output streaming, then the new image in the list."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance.daemon import Daemon
from conformance.registries import REGISTRY_BIN, Registry

from .conftest import UiServer

pytestmark = pytest.mark.skipif(not Path(REGISTRY_BIN).exists(), reason="docker-registry not installed")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("ui-registry"))
    yield reg
    reg.stop()


def test_pull_shows_layer_progress(page: Any, ui: UiServer, daemon: Daemon, registry: Registry,
                                   shot: Callable[[Any, str], Any]) -> None:
    ref = f"{registry.host}/ui/pulled:1"
    daemon.docker_ok("tag", "busybox", ref)
    daemon.docker_ok("push", ref, timeout=120)
    daemon.docker_ok("rmi", ref)
    try:
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Images").click()
        pull = page.get_by_role("region", name="Pull")
        pull.get_by_label("Image").fill(ref)
        pull.get_by_role("button", name="Pull", exact=True).click()
        progress = page.get_by_label("Pull progress")
        progress.get_by_text("Done.").wait_for(timeout=60_000)
        # One row per layer ID, each ending at its last status (docker's own progress display).
        rows = progress.locator("[data-layer]").all_inner_texts()
        assert any(r.endswith(("Pull complete", "Already exists")) for r in rows), rows
        assert daemon.docker("image", "inspect", ref)[0] == 0
        shot(page, "images-pull")
    finally:
        daemon.docker("rmi", ref)


def test_pull_error_is_shown(page: Any, ui: UiServer, registry: Registry) -> None:
    page.goto(f"{ui.url}/e/local/images")
    pull = page.get_by_role("region", name="Pull")
    pull.get_by_label("Image").fill(f"{registry.host}/ui/missing:1")
    pull.get_by_role("button", name="Pull", exact=True).click()
    alert = page.get_by_label("Pull progress").get_by_role("alert")
    alert.wait_for(timeout=30_000)
    assert "not found" in alert.inner_text() or "unknown" in alert.inner_text()


def test_build_streams_its_output(page: Any, ui: UiServer, daemon: Daemon, name: Any,
                                  shot: Callable[[Any, str], Any]) -> None:
    tag = f"{name('ui-built')}:1"
    page.goto(f"{ui.url}/e/local/images")
    build = page.get_by_role("region", name="Build")
    build.get_by_label("Tag").fill(tag)
    build.get_by_label("Dockerfile").fill(
        "FROM busybox\nRUN echo built-by-the-ui > /made\nCMD [\"cat\", \"/made\"]\n")
    build.get_by_role("button", name="Build", exact=True).click()
    output = page.get_by_label("Build output")
    output.get_by_text("Done.").wait_for(timeout=120_000)
    try:
        assert "built-by-the-ui" in output.inner_text() or "RUN echo" in output.inner_text()
        assert daemon.docker_ok("run", "--rm", tag).strip() == "built-by-the-ui"
        shot(page, "images-build")
        page.reload()
        assert page.get_by_role("cell", name=tag, exact=True).is_visible()
    finally:
        daemon.docker("rmi", "-f", tag)


def test_push_streams_progress(ui: UiServer, daemon: Daemon, registry: Registry) -> None:
    from .conftest import api_session

    ref = f"{registry.host}/ui/pushed:2"
    daemon.docker_ok("tag", "busybox", ref)
    client, csrf = api_session(ui)
    try:
        answer = client.post("/api/e/local/images/push", json={"image": ref}, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 200
        messages = [json.loads(line) for line in answer.text.splitlines() if line.strip()]
        assert not [m for m in messages if "error" in m], messages
        assert any(m.get("status") in ("Pushed", "Layer already exists") for m in messages), messages
        daemon.docker_ok("rmi", ref)
        daemon.docker_ok("pull", ref, timeout=120)
    finally:
        client.close()
        daemon.docker("rmi", ref)


def test_history_and_remove_from_the_list(page: Any, ui: UiServer, daemon: Daemon, name: Any) -> None:
    tag = f"{name('ui-rm')}:1"
    daemon.docker_ok("build", "-t", tag, "-", input=f"FROM busybox\nLABEL made.for={tag}\n", timeout=120)
    try:
        page.goto(f"{ui.url}/e/local/images")
        page.get_by_role("button", name=f"History of {tag}").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("row").nth(1).wait_for()  # the history arrives after the dialog opens
        assert dialog.get_by_role("row").count() >= 2
        dialog.get_by_role("button", name="Close").click()
        page.get_by_role("button", name=f"Remove {tag}").click()
        page.wait_for_function(f"!document.body.textContent.includes('{tag}')")
        assert daemon.docker("image", "inspect", tag)[0] != 0
        assert daemon.docker("image", "inspect", "busybox")[0] == 0
    finally:
        daemon.docker("rmi", tag)
