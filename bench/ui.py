"""Web UI: time to first render of the container list with 200 containers, and of a log view of
100,000 lines, in headless Chromium (Debian's, driven by Playwright).

One command, as root: ``.venv/bin/python bench/ui.py [--containers 200] [--lines 100000] [--runs 3]``.
It starts a dockyardd on a temporary root and a ``dockyard ui`` on 127.0.0.1, creates the containers
through the API (created, not started: the list renders the same rows), runs one container that
prints ``--lines`` lines, then for each run opens a fresh, logged-in page and measures:

- *list*: from navigation to the 200th row of the container list being in the DOM (server-rendered);
- *logs*: from navigation to the container page having streamed and drawn the last log line
  (``?follow=0``, so the stream ends and the page marks itself done).

Median and best over the runs, in milliseconds. Everything is removed afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "src"))

from conformance.daemon import Daemon  # noqa: E402
from conformance.fixtures import put_busybox  # noqa: E402
from conformance.images import busybox_rootfs_tar  # noqa: E402
from ui.conftest import CHROMIUM, CHROMIUM_ARGS, login, start_ui  # noqa: E402


def _prepare(daemon: Daemon, containers: int, lines: int) -> str:
    for i in range(containers):
        status, body = daemon.request_json("POST", f"{daemon.api}/containers/create?name=bench-ui-{i}",
                                           {"Image": "busybox", "Cmd": ["true"]})
        if status != 201:
            raise RuntimeError(f"create failed: {status} {body}")
    cid = daemon.docker_ok("run", "-d", "--name", "bench-ui-logs", "busybox", "seq", "1", str(lines)).strip()
    daemon.docker_ok("wait", cid, timeout=120)
    return cid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    rootfs = workdir / "rootfs.tar"
    rootfs.write_bytes(busybox_rootfs_tar())
    daemon = Daemon()
    ui = None
    try:
        daemon.start()
        put_busybox(daemon, rootfs)
        cid = _prepare(daemon, args.containers, args.lines)
        ui = start_ui(daemon, workdir / "ui")
        list_ms: list[float] = []
        logs_ms: list[float] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for _ in range(args.runs):
                context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
                page = context.new_page()
                page.set_default_timeout(120_000)
                login(page, ui.url)
                page.wait_for_url("**/dashboard")
                start = time.perf_counter()
                page.goto(f"{ui.url}/e/local/containers", wait_until="commit")
                rows = f"document.querySelectorAll('#ctr-table tbody tr').length >= {args.containers}"
                page.wait_for_function(rows)
                list_ms.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                page.goto(f"{ui.url}/e/local/containers/{cid[:12]}?follow=0", wait_until="commit")
                done = "(document.getElementById('logs') || {dataset: {}}).dataset.done === '1'"
                page.wait_for_function(done)
                logs_ms.append((time.perf_counter() - start) * 1000)
                text = page.evaluate("document.getElementById('logs').textContent")
                if not text.rstrip().endswith(str(args.lines)):
                    raise RuntimeError("the log view does not end with the last line")
                context.close()
            browser.close()
        print(f"container list, {args.containers} containers: median {statistics.median(list_ms):.0f} ms, "
              f"best {min(list_ms):.0f} ms ({args.runs} runs)")
        print(f"log view, {args.lines} lines: median {statistics.median(logs_ms):.0f} ms, "
              f"best {min(logs_ms):.0f} ms ({args.runs} runs)")
    finally:
        if ui is not None:
            ui.stop()
        daemon.cleanup()


if __name__ == "__main__":
    main()
