"""Fixtures of the web UI's end-to-end tests: a ``dockyard ui`` on the session daemon, Debian's
Chromium driven by Playwright (never a downloaded browser), and a screenshot helper.

Screenshots land in tests/ui/artifacts/ (git-ignored) so a person can look at every page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conformance.daemon import Daemon

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).parent / "artifacts"
ADMIN_PASSWORD = "harbour-master-7"
VIEWER_PASSWORD = "look-dont-touch-3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class UiServer:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_ui(daemon: Daemon, workdir: Path, *extra: str) -> UiServer:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "admin.pw").write_text(ADMIN_PASSWORD + "\n")
    (workdir / "viewer.pw").write_text(VIEWER_PASSWORD + "\n")
    port = free_port()
    log = workdir / "ui.log"
    argv = [sys.executable, "-m", "dockyard.cli.main", "-H", daemon.host, "ui",
            "--listen", f"127.0.0.1:{port}", "--admin-password-file", str(workdir / "admin.pw"),
            "--readonly-password-file", str(workdir / "viewer.pw"), "--state-dir", str(workdir / "state"),
            *extra]
    env = daemon.env()
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    url = f"{'https' if '--tls-cert' in extra else 'http'}://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockyard ui exited with {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/login", timeout=1, verify=False).status_code == 200:  # readiness only
                return UiServer(url, proc, log)
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"dockyard ui did not answer within 30 s: {log.read_text()}")


@pytest.fixture(scope="session")
def ui(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    server = start_ui(daemon, tmp_path_factory.mktemp("ui"))
    yield server
    server.stop()


# Package scope: playwright's sync API keeps an event loop running in this thread while it lives,
# which would stop every asyncio test collected after tests/ui (tests/unit) from running.
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt package chromium, scripts/deps/ui.apt)")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def login(page: object, url: str, password: str = ADMIN_PASSWORD, user: str = "admin") -> None:
    page.goto(f"{url}/login")  # type: ignore[attr-defined]
    page.get_by_label("User").fill(user)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]


@pytest.fixture
def page(browser: object, ui: UiServer) -> Iterator[object]:
    """A fresh browser context, logged in as admin; dialogs (confirmations) are accepted."""
    # bypass_csp: wait_for_function evaluates strings, which our CSP (no unsafe-eval) forbids.
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.on("dialog", lambda d: d.accept())
    pg.set_default_timeout(20_000)
    login(pg, ui.url)
    pg.wait_for_url("**/dashboard")
    yield pg
    context.close()


@pytest.fixture
def shot() -> Callable[[object, str], Path]:
    ARTIFACTS.mkdir(exist_ok=True)

    def take(pg: object, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path
    return take


def api_session(ui: UiServer, password: str = ADMIN_PASSWORD,
                user: str = "admin") -> tuple[httpx.Client, str]:
    """An HTTP client logged in through the login form, and its CSRF token (from a page's meta)."""
    client = httpx.Client(base_url=ui.url, timeout=30)
    form = client.get("/login").text
    token = form.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/login", data={"username": user, "password": password, "login_token": token})
    assert answer.status_code == 302, answer.text
    page = client.get("/e/local/dashboard").text
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    return client, csrf
