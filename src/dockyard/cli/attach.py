"""Attaching to a container or exec: the stream, the terminal, and the wait for the exit code."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.cli.client import Client, CliError
from dockyard.cli.detach import parse_detach_keys
from dockyard.cli.endpoint import Stream
from dockyard.cli.hijack import StreamPump
from dockyard.cli.session import Session
from dockyard.cli.terminal import forward_resize, proxy_signals, raw_terminal


class Waiter(threading.Thread):
    """``POST /containers/{id}/wait`` on its own connection, registered before the container starts.

    The daemon sends the response head as soon as the wait is registered (as moby does), so
    :attr:`registered` tells the caller it is safe to start the container.
    """

    def __init__(self, client: Client, container: str, condition: str) -> None:
        super().__init__(daemon=True)
        self._client = client.clone()
        self._container = container
        self._condition = condition
        self.registered = threading.Event()
        self.status: int | None = None
        self.error: CliError | None = None

    def run(self) -> None:
        try:
            with self._client.stream("POST", f"/containers/{self._container}/wait",
                                     params={"condition": self._condition}) as response:
                self.registered.set()
                payload = json.loads(response.read() or b"{}")
            message = (payload.get("Error") or {}).get("Message")
            if message:
                self.error = CliError(message, 125)
            self.status = int(payload.get("StatusCode", 0))
        except CliError as exc:
            self.error = exc
        except (ValueError, OSError) as exc:
            self.error = CliError(f"error waiting for container: {exc}", 125)
        finally:
            self.registered.set()
            self._client.close()

    def result(self) -> int:
        self.join()
        if self.error is not None:
            raise self.error
        return self.status if self.status is not None else 0


@dataclass
class AttachOptions:
    tty: bool
    stdin: bool
    sig_proxy: bool = True


def open_attach(s: Session, container: str, opts: AttachOptions) -> tuple[Stream, bytes]:
    params = [("stream", "1"), ("stdout", "1"), ("stderr", "1")]
    if opts.stdin:
        params.append(("stdin", "1"))
    return s.hijack(f"/containers/{container}/attach", params)


def stream_session(s: Session, sock: Stream, initial: bytes, *, tty: bool, stdin: bool,
                   resize: Callable[[int, int], None] | None = None,
                   kill: Callable[[str], None] | None = None,
                   detach_keys: str | None = None) -> bool:
    """Pump the hijacked stream until the daemon closes it, handling the local terminal.

    True when the user detached with the key sequence (only on an interactive TTY, as docker)."""
    interactive_tty = tty and stdin and os.isatty(sys.stdin.fileno())
    keys = parse_detach_keys(detach_keys) if interactive_tty else b""
    pump = StreamPump(sock, initial, tty=tty, stdout=s.stdout, stderr=s.stderr, detach_keys=keys)
    with contextlib.ExitStack() as stack:
        if interactive_tty:
            stack.enter_context(raw_terminal())
        if tty and resize is not None and os.isatty(sys.stdout.fileno()):
            stack.enter_context(forward_resize(resize))
        if kill is not None and not tty:
            stack.enter_context(proxy_signals(kill))
        if stdin:
            pump.start_stdin(sys.stdin.fileno())
        try:
            pump.copy_output()
        finally:
            sock.close()
    return pump.detached


def container_resizer(s: Session, container: str) -> Callable[[int, int], None]:
    def resize(height: int, width: int) -> None:
        s.client.request("POST", f"/containers/{container}/resize",
                         params={"h": str(height), "w": str(width)})
    return resize


def container_killer(s: Session, container: str) -> Callable[[str], None]:
    def kill(signal_name: str) -> None:
        s.client.request("POST", f"/containers/{container}/kill", params={"signal": signal_name})
    return kill


def check_input_tty(tty: bool, interactive: bool) -> None:
    if tty and interactive and not os.isatty(sys.stdin.fileno()):
        raise CliError("the input device is not a TTY", 1)
