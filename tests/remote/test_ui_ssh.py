"""The web UI manages an engine over ``ssh://``, through a real sshd on 127.0.0.1 whose far side
runs the stock docker CLI's ``system dial-stdio`` against the session's dockyardd."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from conformance.daemon import Daemon
from ui.conftest import api_session, start_ui

from remote.sshd import Sshd


@pytest.fixture(scope="module")
def sshd(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = Sshd(tmp_path_factory.mktemp("sshd"), daemon.host)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_ui_environment_over_ssh(daemon: Daemon, sshd: Sshd, tmp_path: Path,
                                 container: Callable[..., str], name: Callable[[str], str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cname = name("far")
    container("--name", cname, "busybox", "sh", "-c", "echo from-the-far-side; sleep 60")
    monkeypatch.setenv("PATH", sshd.env({})["PATH"])  # the ssh wrapper with the test's config
    server = start_ui(daemon, tmp_path / "ui", "--env", "far=ssh://dyhost")
    try:
        client, _ = api_session(server)
        with closing(client):
            page = client.get("/e/far/containers")
            assert page.status_code == 200 and cname in page.text
            inspected = client.get(f"/api/e/far/containers/{cname}/inspect")
            assert inspected.status_code == 200
            assert json.loads(inspected.text)["Name"] == f"/{cname}"
            with client.stream("GET", f"/api/e/far/containers/{cname}/logs") as logs:
                first = next(logs.iter_text())
            assert "from-the-far-side" in first
    finally:
        server.stop()
