"""A dockyardd of a module's own: these tests kill and restart it, so the session daemon won't do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conformance.daemon import Daemon
from conformance.fixtures import put_busybox


@contextmanager
def own_daemon(rootfs_tar: Path, *, start: bool = True) -> Iterator[Daemon]:
    """Started with busybox in it (``start=False``: the caller starts it, then busybox is loaded
    on first use of :func:`ready`); cleaned up after, whatever state the test left it in."""
    daemon = Daemon()
    try:
        if start:
            ready(daemon, rootfs_tar)
        yield daemon
    finally:
        daemon.cleanup()


def ready(daemon: Daemon, rootfs_tar: Path) -> None:
    if not daemon.running:
        daemon.start()
    put_busybox(daemon, rootfs_tar)
