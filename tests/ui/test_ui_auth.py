"""Login, sessions, CSRF, the read-only user and login throttling, as a browser and a script see them."""

from __future__ import annotations

import ssl
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from conformance.daemon import Daemon

from .conftest import ADMIN_PASSWORD, VIEWER_PASSWORD, UiServer, api_session, login, start_ui


def test_wrong_password_refused_right_one_accepted(browser: object, ui: UiServer, shot: object) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    login(page, ui.url, password="not-the-password")
    assert page.get_by_role("alert").inner_text() == "Wrong user name or password"
    assert "/login" in page.url
    shot(page, "login-refused")  # type: ignore[operator]
    login(page, ui.url)
    page.wait_for_url("**/e/local/dashboard")
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Dashboard", "Containers", "Images", "Volumes", "Networks", "Stacks"):
        assert nav.get_by_role("link", name=name).is_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "dockyard_ui_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    context.close()


def test_nothing_served_without_a_session(ui: UiServer) -> None:
    with httpx.Client(base_url=ui.url) as anon:
        assert anon.get("/e/local/containers").status_code == 302
        answer = anon.get("/api/e/local/containers/x/inspect")
        assert answer.status_code == 401
        assert answer.json() == {"message": "authentication required"}
        bulk = anon.post("/api/e/local/containers/bulk", json={"action": "stop", "ids": ["x"]})
        assert bulk.status_code == 401
        assert anon.get("/static/app.js").status_code == 200


def test_state_changes_need_the_csrf_token(ui: UiServer, daemon: Daemon, container: object) -> None:
    cid = container("busybox", "sleep", "300")  # type: ignore[operator]
    client, csrf = api_session(ui)
    with closing(client):
        refused = client.post(f"/api/e/local/containers/{cid}/stop")
        assert refused.status_code == 403
        assert refused.json()["message"] == "missing or invalid CSRF token"
        wrong = client.post(f"/api/e/local/containers/{cid}/stop", headers={"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403
        assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"
        done = client.post(f"/api/e/local/containers/{cid}/kill", headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200, done.text
        assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "false"
        missing = client.post("/api/e/local/containers/nope-nope/start", headers={"X-CSRF-Token": csrf})
        assert missing.status_code == 404
        assert missing.json()["message"] == "No such container: nope-nope"


def test_read_only_user_reads_but_cannot_act(ui: UiServer, daemon: Daemon, container: object) -> None:
    cid = container("busybox", "sleep", "300")  # type: ignore[operator]
    client, csrf = api_session(ui, VIEWER_PASSWORD, user="viewer")
    with closing(client):
        assert client.get(f"/e/local/containers/{cid[:12]}").status_code == 200
        refused = client.post(f"/api/e/local/containers/{cid}/stop", headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403
        assert "read-only" in refused.json()["message"]
        assert client.get(f"/api/e/local/containers/{cid}/archive?path=/etc").status_code == 403
    assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"


def test_secret_env_values_never_reach_the_browser(ui: UiServer, container: object) -> None:
    cid = container("-e", "DB_PASSWORD=hunter2-xyz", "-e", "MODE=prod", "busybox", "sleep", "300")  # type: ignore[operator]
    client, _ = api_session(ui)
    with closing(client):
        page = client.get(f"/e/local/containers/{cid[:12]}").text
        inspect = client.get(f"/api/e/local/containers/{cid}/inspect").json()
    assert "hunter2-xyz" not in page and "hunter2-xyz" not in str(inspect)
    assert "MODE=prod" in inspect["Config"]["Env"]


def test_login_attempts_are_rate_limited(daemon: Daemon, tmp_path: Path) -> None:
    server = start_ui(daemon, tmp_path / "ui")
    try:
        with httpx.Client(base_url=server.url) as c:
            token = c.get("/login").text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
            statuses = [c.post("/login", data={"password": f"guess{i}", "login_token": token}).status_code
                        for i in range(6)]
            assert statuses == [401] * 5 + [429]
            # Even the right password waits out the window: the throttle is per address, not per guess.
            right = c.post("/login", data={"password": ADMIN_PASSWORD, "login_token": token})
            assert right.status_code == 429
    finally:
        server.stop()


def test_non_loopback_listen_needs_tls(daemon: Daemon, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="refusing to serve on 0.0.0.0 without TLS"):
        start_ui(daemon, tmp_path / "ui", "--listen", "0.0.0.0:9999")


def test_console_needs_a_websocket_handshake_with_the_token(ui: UiServer, container: object) -> None:
    cid = container("busybox", "sleep", "300")  # type: ignore[operator]
    client, csrf = api_session(ui)
    with closing(client):
        plain = client.get(f"/api/e/local/containers/{cid}/console?csrf={csrf}")
        assert plain.status_code == 400
        handshake = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": ui.url}
        no_token = client.get(f"/api/e/local/containers/{cid}/console", headers=handshake)
        assert no_token.status_code == 403
        elsewhere = client.get(f"/api/e/local/containers/{cid}/console?csrf={csrf}",
                               headers=dict(handshake, Origin="http://evil.example"))
        assert elsewhere.status_code == 403
        assert elsewhere.json()["message"] == "cross-origin WebSocket refused"


def test_archive_download(ui: UiServer, container: object) -> None:
    import io
    import tarfile

    cid = container("--hostname", "dl-host", "busybox", "sleep", "300")  # type: ignore[operator]
    client, _ = api_session(ui)
    with closing(client):
        answer = client.get(f"/api/e/local/containers/{cid}/archive", params={"path": "/etc/hostname"})
        assert answer.status_code == 200
        assert answer.headers["content-disposition"] == 'attachment; filename="hostname.tar"'
        with tarfile.open(fileobj=io.BytesIO(answer.content)) as tar:
            member = tar.extractfile("hostname")
            assert member is not None and member.read().strip() == b"dl-host"
        assert client.get(f"/api/e/local/containers/{cid}/archive", params={"path": "etc"}).status_code == 400


def test_https_with_secure_cookies(daemon: Daemon, tmp_path: Path) -> None:
    from conformance.registries import make_tls

    ca, cert, key = make_tls(tmp_path, "localhost")
    server = start_ui(daemon, tmp_path / "ui", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert server.url.startswith("https://")
        with httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=str(ca))) as c:
            token = c.get("/login").text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
            answer = c.post("/login", data={"password": ADMIN_PASSWORD, "login_token": token})
            assert answer.status_code == 302
            cookie = answer.headers["set-cookie"]
            assert "dockyard_ui_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    finally:
        server.stop()


def test_logout_ends_the_session(ui: UiServer) -> None:
    client, csrf = api_session(ui)
    with closing(client):
        assert client.post("/api/logout").status_code == 403  # a logout needs the token too
        assert client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert client.get("/api/e/local/containers/x/inspect").status_code == 401


def test_second_environment_is_listed_and_used(browser: object, daemon: Daemon, tmp_path: Path) -> None:
    server = start_ui(daemon, tmp_path / "ui", "--env", f"second={daemon.host}")
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        login(page, server.url)
        page.wait_for_url("**/e/local/dashboard")
        page.get_by_label("Environment").select_option("second")
        page.wait_for_url("**/e/second/dashboard")
        assert page.get_by_role("heading", level=1).inner_text().startswith("Dashboard second")
        missing = page.goto(f"{server.url}/api/e/nowhere/containers/x/inspect")
        assert missing is not None and missing.status == 404
    finally:
        context.close()
        server.stop()
    with pytest.raises(RuntimeError, match="fd endpoints are not available"):
        start_ui(daemon, tmp_path / "ui2", "--env", "far=fd://3")
