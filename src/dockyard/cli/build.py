"""``dockyard build`` and ``dockyard builder prune``: docker's flags over ``POST /build``.

The context directory is sent as a tar; the daemon applies ``.dockerignore`` (with Docker's exact
rules, so the CLI need not duplicate them). On a terminal (``--progress=auto|tty``) the running step
is shown with a live spinner and elapsed time above its output; otherwise (``plain``) the daemon's
lines are printed as they come, as docker's classic builder prints them.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from dockyard.cli.client import CliError, iter_json_stream
from dockyard.cli.connection import Response
from dockyard.cli.session import session

_CHUNK = 1 << 20


_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def _stdin_context(dockerfile: str | None) -> tuple[IO[bytes], str]:
    """``build -``: stdin is the context when it is an archive, else the Dockerfile of an empty
    context (docker's rule)."""
    data = sys.stdin.buffer.read()
    handle = tempfile.TemporaryFile()
    if data.startswith(_ARCHIVE_MAGIC) or data[257:262] == b"ustar":
        handle.write(data)
        handle.seek(0)
        return handle, dockerfile or "Dockerfile"
    with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    handle.seek(0)
    return handle, "Dockerfile"


def _context_tar(context: Path, dockerfile: str | None) -> tuple[IO[bytes], str]:
    """A temporary tar of ``context``; the Dockerfile's name inside it."""
    if str(context) == "-":
        return _stdin_context(dockerfile)
    if not context.is_dir():
        raise CliError(f'unable to prepare context: path "{context}" not found', 1)
    name = "Dockerfile"
    extra: Path | None = None
    if dockerfile and dockerfile != "-":
        path = Path(dockerfile)
        path = path if path.is_absolute() else Path.cwd() / path
        try:
            name = str(path.resolve().relative_to(context.resolve()))
        except ValueError:
            extra, name = path, f".dockerfile.{uuid.uuid4().hex[:12]}"
    handle = tempfile.TemporaryFile()
    with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(context)):
            tar.add(context / entry, arcname=entry)
        if extra is not None:
            tar.add(extra, arcname=name)
    handle.seek(0)
    return handle, name


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk


class _Display:
    """Per-step progress: a spinner line for the running step on a terminal, plain lines else."""

    def __init__(self, tty: bool, quiet: bool) -> None:
        self.tty = tty
        self.quiet = quiet
        self._status: Any = None
        self._started = 0.0
        self._step = ""
        if tty:
            from rich.console import Console

            self._console = Console(stderr=False, highlight=False)

    def line(self, text: str) -> None:
        if self.quiet:
            return
        if not self.tty:
            session().out(text)
            return
        if text.startswith("Step "):
            self._finish()
            self._step, self._started = text.strip(), time.monotonic()
            self._status = self._console.status(f"[bold]{self._step}[/bold]")
            self._status.start()
            self._console.print(f"[bold blue]{self._step}[/]", markup=True, soft_wrap=True)
            return
        self._console.print(text.rstrip("\n"), markup=False, soft_wrap=True)

    def _finish(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
            self._console.print(f"[dim] done in {time.monotonic() - self._started:.2f}s[/]", markup=True)

    def close(self) -> None:
        if self.tty:
            self._finish()


def _consume(response: Response, display: _Display) -> str:
    image_id = ""
    try:
        for message in iter_json_stream(response):
            if "error" in message or "errorDetail" in message:
                detail = message.get("errorDetail") or {}
                display.close()
                raise CliError(str(message.get("error") or detail.get("message")),
                               int(detail.get("code") or 1))
            if message.get("stream"):
                display.line(str(message["stream"]))
            aux = message.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
    finally:
        display.close()
    return image_id


@click.command("build")
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (name:tag)")
@click.option("-f", "--file", "dockerfile", help="Name of the Dockerfile (default: PATH/Dockerfile)")
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables")
@click.option("--target", default="", help="Set the target build stage to build")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image")
@click.option("--label", "labels", multiple=True, help="Set metadata for an image")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success")
@click.option("--progress", type=click.Choice(["auto", "plain", "tty"]), default="auto",
              help="Set type of progress output")
@click.option("--network", default="", help="Networking mode for the RUN instructions")
@click.option("--platform", default="", help="Set platform if server is multi-platform capable")
@click.option("--secret", "secrets", multiple=True,
              help="Secret to expose to the build (format: id=mysecret[,src=/local/secret|env=VAR])")
@click.argument("context", type=click.Path(path_type=Path))
def build_command(tags: tuple[str, ...], dockerfile: str | None, build_args: tuple[str, ...], target: str,
                  no_cache: bool, labels: tuple[str, ...], quiet: bool, progress: str, network: str,
                  platform: str, secrets: tuple[str, ...], context: Path) -> None:
    """Build an image from a Dockerfile"""
    s = session()
    args: dict[str, str | None] = {}
    for item in build_args:
        key, eq, value = item.partition("=")
        args[key] = value if eq else os.environ.get(key)
    params: list[tuple[str, str]] = [("t", t) for t in tags]
    params += [("buildargs", json.dumps(args)), ("labels", json.dumps(dict(
        (lab.partition("=")[0], lab.partition("=")[2]) for lab in labels)))]
    params += [("target", target), ("nocache", "1" if no_cache else "0"), ("q", "1" if quiet else "0"),
               ("rm", "1"), ("networkmode", network or "default"), ("platform", platform)]
    if secrets:
        params.append(("dockyard-secrets", json.dumps(_secret_values(secrets))))
    handle, name = _context_tar(context, dockerfile)
    params.append(("dockerfile", name))
    tty = progress == "tty" or (progress == "auto" and sys.stdout.isatty())
    display = _Display(tty, quiet)
    with handle, s.client.stream("POST", "/build", params=params, content=_chunks(handle),
                                 headers={"Content-Type": "application/x-tar"}) as response:
        image_id = _consume(response, display)
    if quiet and image_id:
        s.out(image_id + "\n")


def _secret_values(specs: tuple[str, ...]) -> dict[str, str]:
    """``--secret id=x,src=file`` (or ``env=VAR``; ``id`` alone reads the variable of that name),
    base64 for the daemon's ``dockyard-secrets`` query parameter."""
    values: dict[str, str] = {}
    for spec in specs:
        fields = dict(part.partition("=")[::2] for part in spec.split(",") if part)
        ident = fields.get("id", "")
        src = fields.get("src") or fields.get("source") or ""
        env = fields.get("env", "")
        if not ident:
            raise CliError(f"invalid secret {spec!r}: id is required", 1)
        if src:
            try:
                data = Path(src).expanduser().read_bytes()
            except OSError as exc:
                raise CliError(f"failed to read secret {ident} from {src}: {exc.strerror}", 1) from exc
        else:
            value = os.environ.get(env or ident)
            if value is None:
                raise CliError(f"secret {ident}: env {env or ident} not set and no src given", 1)
            data = value.encode()
        values[ident] = base64.b64encode(data).decode()
    return values


@click.group("builder")
def builder_group() -> None:
    """Manage builds"""


@builder_group.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused build cache")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def prune_command(all_: bool, force: bool) -> None:
    """Remove build cache"""
    s = session()
    if not force and not click.confirm("WARNING! This will remove all dangling build cache. "
                                       "Are you sure you want to continue?", default=False):
        return
    result = s.client.post_json("/build/prune")
    for cache_id in (result or {}).get("CachesDeleted") or []:
        s.out(f"Deleted build cache object: {cache_id}\n")
    s.out(f"Total reclaimed space: {(result or {}).get('SpaceReclaimed', 0)}B\n")
