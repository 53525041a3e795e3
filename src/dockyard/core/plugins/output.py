"""A managed plugin's stdout and stderr in the daemon's log, as moby forwards them (a logrus
writer with the field ``plugin=<id>``, one info line per line the plugin wrote).

conmon spools the plugin's output (k8s-file, ``plugin.log`` in its bundle); the containers'
shipper (core/logging/shipper.py) reads it in bounded chunks, joins conmon's pieces up to
Docker's 16K cap, records how far it got (a daemon restart goes on from there) and punches out
what it shipped, so neither the daemon's memory nor the spool grows with the plugin's output.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from dockyard.core.logging.driver import LogMessage
from dockyard.core.logging.shipper import Shipper

log = logging.getLogger("dockyard.plugin")

SPOOL = "plugin.log"
_POSITION = "log-spool.pos"  # the shipper's record, beside the spool


class DaemonLogSink:
    """A LogDriver writing each line to the daemon's log."""

    def __init__(self, plugin_id: str) -> None:
        self._id = plugin_id

    def write(self, messages: Sequence[LogMessage]) -> None:
        for message in messages:
            # Control characters escaped: a plugin must not forge lines of the daemon's log.
            text = message.line.decode("utf-8", "replace").encode("unicode_escape").decode("ascii")
            log.info("%s plugin=%s stream=%s", text, self._id, message.stream)

    def close(self) -> None:
        return None


def forget(bundle: Path) -> None:
    """Before a new run of the plugin: conmon starts a new spool, the shipper from its start.
    Blocking."""
    for name in (SPOOL, _POSITION):
        (bundle / name).unlink(missing_ok=True)


def forward(plugin_id: str, bundle: Path, is_running: Callable[[], bool]) -> asyncio.Task[None]:
    """Ship the plugin's spool to the daemon's log until the plugin has exited and it is drained."""
    shipper = Shipper(plugin_id, bundle / SPOOL, [DaemonLogSink(plugin_id)])
    return asyncio.get_running_loop().create_task(shipper.run(is_running))
