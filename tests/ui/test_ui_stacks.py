"""Stacks: compose projects found by their labels, stopped and taken down from the page; a pasted
compose file deployed through dockyard.compose when that package is present."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conformance.daemon import Daemon

from .conftest import UiServer


def _compose_deployer_missing() -> str | None:
    from dockyard.ui.stacks import ComposeUnavailable, load_deployer

    try:
        load_deployer()
    except ComposeUnavailable as exc:
        return str(exc)
    return None


def _labels(project: str, service: str, n: int) -> list[str]:
    return ["--label", f"com.docker.compose.project={project}",
            "--label", f"com.docker.compose.service={service}",
            "--label", f"com.docker.compose.container-number={n}", "--name", f"{project}-{service}-{n}"]


def test_project_listed_stopped_and_taken_down(page: Any, ui: UiServer, daemon: Daemon, name: Any,
                                               shot: Callable[[Any, str], Any]) -> None:
    project = name("ship").lower()
    net = f"{project}_default"
    daemon.docker_ok("network", "create", "--label", f"com.docker.compose.project={project}", net)
    try:
        for service in ("web", "db"):
            daemon.docker_ok("run", "-d", "--network", net, *_labels(project, service, 1), "busybox",
                             "sh", "-c", f"echo {service}-says-hello; sleep 300")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Stacks").click()
        stack = page.get_by_role("region", name=project)
        assert "2/2 running" in stack.get_by_role("heading").inner_text()
        assert stack.get_by_role("cell", name="web", exact=True).is_visible()
        assert stack.get_by_role("cell", name="db", exact=True).is_visible()
        stack.get_by_role("button", name="Logs").click()
        page.get_by_label(f"Logs of {project}").get_by_text(f"{project}-web-1 | web-says-hello").wait_for()
        shot(page, "stacks-project")
        stack.get_by_role("button", name=f"Stop stack {project}").click()
        page.get_by_role("region", name=project).get_by_text("0/2 running").wait_for()
        assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", f"{project}-web-1").strip() == "false"
        page.get_by_role("region", name=project).get_by_role("button", name=f"Down stack {project}").click()
        page.wait_for_function(f"!document.body.textContent.includes('{project}-web-1')")
        assert daemon.docker("inspect", f"{project}-web-1")[0] != 0
        assert daemon.docker("network", "inspect", net)[0] != 0
    finally:
        daemon.docker("rm", "-f", f"{project}-web-1", f"{project}-db-1")
        daemon.docker("network", "rm", net)


def test_deploy_without_compose_package_says_why(ui: UiServer) -> None:
    reason = _compose_deployer_missing()
    if reason is None:
        pytest.skip("dockyard.compose is present: the deploy test below covers it")
    from .conftest import api_session

    client, csrf = api_session(ui)
    answer = client.post("/api/e/local/stacks", headers={"X-CSRF-Token": csrf},
                         json={"project": "demo", "compose": "services:\n  a:\n    image: busybox\n"})
    client.close()
    assert answer.status_code == 501
    assert "not available" in answer.json()["message"]


def test_deploy_a_pasted_compose_file(page: Any, ui: UiServer, daemon: Daemon, name: Any) -> None:
    reason = _compose_deployer_missing()
    if reason is not None:
        pytest.skip(f"deploying needs dockyard.compose: {reason}")
    project = name("dep").lower()
    page.goto(f"{ui.url}/e/local/stacks")
    deploy = page.get_by_role("region", name="Deploy a compose file")
    deploy.get_by_label("Project name").fill(project)
    deploy.get_by_label("Compose file").fill(
        "services:\n  app:\n    image: busybox\n    command: sleep 300\n")
    deploy.get_by_role("button", name="Deploy").click()
    stack = page.get_by_role("region", name=project)
    stack.wait_for(timeout=60_000)
    assert "1/1 running" in stack.get_by_role("heading").inner_text()
    stack.get_by_role("button", name=f"Down stack {project}").click()
    page.wait_for_function(f"!document.body.textContent.includes('{project}-app-1')")
    listed = daemon.docker_ok("ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "-q")
    assert listed.strip() == ""
