"""The local terminal during ``-t`` sessions: raw mode, size forwarding, signal proxying."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

Resize = Callable[[int, int], None]


def terminal_size() -> tuple[int, int]:
    """(height, width) of stdout's terminal."""
    size = shutil.get_terminal_size((80, 24))
    return size.lines, size.columns


@contextmanager
def raw_terminal(fd: int | None = None) -> Iterator[None]:
    """Put ``fd`` (stdin) in raw mode so keys reach the container untouched; restore on exit."""
    fd = sys.stdin.fileno() if fd is None else fd
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextmanager
def forward_resize(resize: Resize) -> Iterator[None]:
    """Send the terminal size now and on every SIGWINCH (``/containers/{id}/resize``)."""

    def on_winch(signum: int, frame: FrameType | None) -> None:
        _safe_resize(resize)

    _safe_resize(resize)
    previous = signal.signal(signal.SIGWINCH, on_winch)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def _safe_resize(resize: Resize) -> None:
    height, width = terminal_size()
    try:
        resize(height, width)
    except Exception:  # noqa: BLE001 - a failed resize must not end the session, docker ignores it too
        pass


@contextmanager
def proxy_signals(send: Callable[[str], None]) -> Iterator[None]:
    """``--sig-proxy``: relay the signals the CLI receives to the container, as docker does."""
    names: dict[int, str] = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP",
             signal.SIGQUIT: "SIGQUIT", signal.SIGUSR1: "SIGUSR1", signal.SIGUSR2: "SIGUSR2"}

    def relay(signum: int, frame: FrameType | None) -> None:
        try:
            send(names[signum])
        except Exception:  # noqa: BLE001 - the container may already be gone
            pass

    previous = {signum: signal.signal(signum, relay) for signum in names}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
