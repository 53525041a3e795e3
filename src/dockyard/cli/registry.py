"""``pull``, ``push``, ``login`` and ``logout``: registry commands over the daemon's API.

Credentials come from (and ``login`` writes to) the docker CLI's ``config.json``; they travel to
the daemon in ``X-Registry-Auth``. Progress is drawn as docker does: one line per layer with a bar
on a terminal, plain status lines otherwise.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from dockyard.cli import credentials
from dockyard.cli.client import CliError, DaemonError, iter_json_stream
from dockyard.cli.session import Session, session

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def _full_name(image: str) -> tuple[str, str]:
    """(repository, tag or digest) as the docker CLI sends them; ``latest`` by default."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = image.rpartition(":")
        return name, tag
    return image, "latest"


class ProgressDisplay:
    """Draws progress messages: a rich bar per layer on a terminal, status lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self._quiet = quiet
        self._tty = sys.stdout.isatty() and not quiet
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressDisplay:
        if self._tty:
            # rich only for bars on a terminal: it costs a command a fifth of its start-up budget.
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self._progress = Progress(TextColumn("{task.fields[layer]}: {task.description}"), BarColumn(),
                                      DownloadColumn(), console=Console(), transient=False)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def show(self, message: dict[str, Any]) -> None:
        if "error" in message:
            raise CliError(str(message["error"]))
        if message.get("stream"):  # load's result lines
            text = str(message["stream"])
            if self._progress is not None:
                self._progress.console.print(text.rstrip("\n"), highlight=False)
            else:
                click.echo(text, nl=False)
            return
        status = str(message.get("status") or "")
        layer = str(message.get("id") or "")
        if self._quiet or not status:
            return
        if self._progress is None:
            if "progressDetail" in message and message["progressDetail"].get("current") is not None:
                return  # a non-terminal shows no bars, as docker
            click.echo(f"{layer}: {status}" if layer else status)
            return
        if not layer:
            self._progress.console.print(status, highlight=False)
            return
        detail = message.get("progressDetail") or {}
        if layer not in self._tasks:
            self._tasks[layer] = self._progress.add_task(status, layer=layer, total=None)
        self._progress.update(self._tasks[layer], description=status, completed=detail.get("current"),
                              total=detail.get("total"))


def _stream(s: Session, path: str, params: list[tuple[str, str]], server: str, quiet: bool) -> None:
    auth = credentials.load(server)
    with s.client.stream("POST", path, params=params, headers={"X-Registry-Auth": auth.header()}) as response:
        with ProgressDisplay(quiet) as display:
            for message in iter_json_stream(response):
                display.show(message)


def pull(s: Session, image: str, *, platform: str | None, all_tags: bool, quiet: bool) -> None:
    name, tag = _full_name(image)
    if all_tags and ("@" in image or ":" in image.rsplit("/", 1)[-1]):
        raise CliError("tag can't be used with --all-tags/-a")
    params = [("fromImage", name), ("tag", "" if all_tags else tag)]
    if platform:
        params.append(("platform", platform))
    _stream(s, "/images/create", params, credentials.server_of_reference(name), quiet)


@click.command("pull")
@click.option("-a", "--all-tags", is_flag=True, help="Download all tagged images in the repository")
@click.option("--platform", help="Set platform if server is multi-platform capable")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.argument("image")
def pull_command(all_tags: bool, platform: str | None, quiet: bool, image: str) -> None:
    """Download an image from a registry"""
    pull(session(), image, platform=platform, all_tags=all_tags, quiet=quiet)
    if not all_tags:
        name, tag = _full_name(image)
        click.echo(f"{_qualified(name)}{'@' if tag.startswith('sha256:') else ':'}{tag}")


def _qualified(name: str) -> str:
    """``busybox`` → ``docker.io/library/busybox``, as docker prints the name it pulled."""
    first, sep, _ = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return name
    return f"docker.io/{name}" if sep else f"docker.io/library/{name}"


@click.command("push")
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of an image to the repository")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.argument("image")
def push_command(all_tags: bool, quiet: bool, image: str) -> None:
    """Upload an image to a registry"""
    name, tag = _full_name(image)
    params = [("tag", "" if all_tags else tag)]
    _stream(session(), f"/images/{name}/push", params, credentials.server_of_reference(name), quiet)


def _prompt_credentials(username: str | None, password: str | None, password_stdin: bool) -> tuple[str, str]:
    if password_stdin:
        if password:
            raise CliError("--password and --password-stdin are mutually exclusive")
        if not username:
            raise CliError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        username = click.prompt("Username", err=True)
    if not password:
        password = click.prompt("Password", hide_input=True, err=True)
    return str(username), str(password)


@click.command("login")
@click.option("-u", "--username", help="Username")
@click.option("-p", "--password", help="Password or Personal Access Token (PAT)")
@click.option("--password-stdin", is_flag=True, help="Take the Password or PAT from stdin")
@click.argument("server", required=False, default="")
def login_command(username: str | None, password: str | None, password_stdin: bool, server: str) -> None:
    """Authenticate to a registry"""
    key = credentials.server_of_address(server)
    if password:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True)
    username, password = _prompt_credentials(username, password, password_stdin)
    body = {"username": username, "password": password, "serveraddress": key}
    try:
        answer = session().client.post_json("/auth", body=body)
    except DaemonError as exc:
        raise CliError(str(exc)) from exc
    # As the docker CLI: a registry that gave an identity token gets that kept, not the password.
    token = str((answer or {}).get("IdentityToken") or "")
    credentials.store(credentials.Credentials(username, "" if token else password, key, token))
    click.echo(str((answer or {}).get("Status") or "Login Succeeded"))


@click.command("logout")
@click.argument("server", required=False, default="")
def logout_command(server: str) -> None:
    """Log out from a registry"""
    key = credentials.server_of_address(server)
    if credentials.erase(key):
        click.echo(f"Removing login credentials for {key.removeprefix('https://').split('/')[0]}")
    else:
        click.echo(f"Not logged in to {key}")
