"""``docker import <url>``: the daemon fetches the rootfs tar itself (from a server on loopback)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemon import Daemon


@pytest.fixture
def served(rootfs_tar: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving the busybox rootfs at /rootfs.tar (and 404 elsewhere)."""
    directory = rootfs_tar.parent

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{rootfs_tar.name}"
    finally:
        server.shutdown()
        server.server_close()


def test_import_from_a_url_then_run(daemon: Daemon, served: str) -> None:
    code, out, err = daemon.docker("import", "-c", 'CMD ["echo", "fetched"]', served, "fromurl:v1",
                                   timeout=120)
    assert code == 0, err
    assert out.strip().startswith("sha256:")
    assert daemon.docker("run", "--rm", "fromurl:v1")[:2] == (0, "fetched\n")
    comment = daemon.docker_ok("history", "--format", "{{.Comment}}", "--no-trunc", "fromurl:v1")
    assert comment.strip() == f"Imported from {served}"
    daemon.docker_ok("rmi", "fromurl:v1")


def test_import_from_a_missing_url_fails_and_changes_nothing(daemon: Daemon, served: str) -> None:
    before = daemon.store_state()
    code, _, err = daemon.docker("import", served.replace("rootfs", "nothing-here"), "broken:v1")
    assert code != 0
    assert "404" in err
    # Nothing listens on port 9 of loopback: the daemon says the source is unreachable.
    code, _, err = daemon.docker("import", "http://127.0.0.1:9/x.tar", "broken:v1")
    assert code != 0 and "127.0.0.1:9" in err
    assert daemon.store_state() == before
