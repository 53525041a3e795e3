"""What every command shares: the daemon connection, created on first use from ``-H``/``DOCKER_HOST``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, TypeVar

import click

from dockyard.cli.client import Client
from dockyard.cli.contexts import Selection, resolve_endpoint
from dockyard.cli.endpoint import Stream

F = TypeVar("F", bound=Callable[..., Any])


class Session:
    """Lazily connected client plus the process's binary stdio (replaced in tests)."""

    def __init__(self, host: str | None, selection: Selection | None = None) -> None:
        self.selection = selection or Selection(host=host)
        self._client: Client | None = None
        self.stdout: BinaryIO = sys.stdout.buffer
        self.stderr: BinaryIO = sys.stderr.buffer

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(endpoint=resolve_endpoint(self.selection))
        return self._client

    def hijack(self, path: str, params: Sequence[tuple[str, str]] = (),
               body: bytes | None = None) -> tuple[Stream, bytes]:
        from dockyard.cli.hijack import hijack  # for the commands that stream both ways

        client = self.client
        return hijack(client.endpoint, client.url(path), params, body)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def out(self, text: str) -> None:
        """Write command output; click.echo keeps it testable with CliRunner."""
        click.echo(text, nl=False)


def session() -> Session:
    ctx = click.get_current_context()
    obj = ctx.find_object(Session)
    if obj is None:
        obj = Session(None)
        ctx.obj = obj
    return obj


def warn(message: str) -> None:
    click.echo(message, err=True)
