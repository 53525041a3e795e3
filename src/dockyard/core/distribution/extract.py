"""``Extracting`` progress while a pulled layer is unpacked: bytes of the blob read so far.

Docker counts the compressed bytes its layer reader has consumed and reports them against the
blob's size, so the stock CLI draws an extraction bar per layer. Our unpacker hands the blob's
*path* to libarchive, which opens and reads the file itself: the file offset of that open file is
the same count. A watcher thread samples it from ``/proc/self/fdinfo`` (Linux, which is all the
engine runs on) rather than wrapping the reader, so the images package needs no progress hook.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.distribution.progress import ProgressEvent, ProgressSink

log = logging.getLogger(__name__)

_INTERVAL = 0.1
_FD_DIR = Path("/proc/self/fd")


def read_offset(path: Path) -> int | None:
    """The offset of an open file of this process that is ``path``; None when none is open."""
    target = os.path.realpath(path)
    try:
        fds = os.listdir(_FD_DIR)
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(_FD_DIR / fd) != target:
                continue
            with open(f"/proc/self/fdinfo/{fd}") as info:
                for line in info:
                    if line.startswith("pos:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return None


@dataclass(frozen=True, slots=True)
class LayerBlob:
    path: Path
    short_id: str
    size: int


class ExtractionWatcher:
    """Reports ``Extracting`` for the layers given, in the order they are unpacked: the first one
    not yet :meth:`finish`-ed is the one being read. Use as a context manager around the unpack."""

    def __init__(self, layers: list[LayerBlob], sink: ProgressSink, interval: float = _INTERVAL) -> None:
        self._pending = list(layers)
        self._sink = sink
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last: tuple[str, int] | None = None
        self._thread = threading.Thread(target=self._run, name="extract-progress", daemon=True)

    def __enter__(self) -> ExtractionWatcher:
        if self._pending:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def finish(self, short_id: str) -> None:
        """The layer is unpacked: its bar is drawn full, and the next layer is watched."""
        with self._lock:
            done = next((layer for layer in self._pending if layer.short_id == short_id), None)
            if done is None:
                return
            self._pending.remove(done)
            self._report(done, done.size)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                if not self._pending:
                    return
                layer = self._pending[0]
                offset = read_offset(layer.path)
                if offset is not None:
                    self._report(layer, min(offset, layer.size))

    def _report(self, layer: LayerBlob, current: int) -> None:
        if self._last == (layer.short_id, current):
            return
        self._last = (layer.short_id, current)
        self._sink(ProgressEvent("Extracting", layer.short_id, current, layer.size))
