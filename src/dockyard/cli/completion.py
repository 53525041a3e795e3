"""``dockyard completion bash|zsh|fish``: the shell script, and completion of container, image,
network and volume names asked of the daemon while the user types."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

from dockyard.cli.client import Client, CliError

# Which objects a command's positional arguments name, by command path below ``dockyard``.
_IMAGE_COMMANDS = {"run", "create", "rmi", "tag", "history", "push", "save", "image"}
_NETWORK_GROUP, _VOLUME_GROUP = "network", "volume"
_NO_NAMES = {"build", "pull", "login", "logout", "import", "load", "images", "ps", "info",
             "version", "events", "completion", "help", "system", "builder", "compose", "ui"}


def _names(kind: str) -> list[str]:
    client = Client(None)
    try:
        if kind == "container":
            return [n.lstrip("/") for c in client.get_json("/containers/json", {"all": "1"})
                    for n in c.get("Names") or []]
        if kind == "image":
            return [t for i in client.get_json("/images/json") for t in i.get("RepoTags") or []
                    if t != "<none>:<none>"]
        if kind == "network":
            return [n["Name"] for n in client.get_json("/networks")]
        return [v["Name"] for v in client.get_json("/volumes").get("Volumes") or []]
    except (CliError, OSError, ValueError):
        return []  # no daemon: no names, and never an error while the user types
    finally:
        client.close()


def _completer(kind: str) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return [CompletionItem(name) for name in _names(kind) if name.startswith(incomplete)]
    return complete


def _walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _walk(command, (*path, name))


def _kind(path: tuple[str, ...]) -> str | None:
    if path[0] in _NO_NAMES:
        return None
    if path[0] == _NETWORK_GROUP:
        return "network" if path[-1] not in ("create", "ls", "prune") else None
    if path[0] == _VOLUME_GROUP:
        return "volume" if path[-1] not in ("create", "ls", "prune") else None
    if path[0] in _IMAGE_COMMANDS or path[-1] in ("rmi", "history"):
        return "image"
    return "container"


def install_completers(cli: click.Group) -> None:
    """Give each command's first positional argument the names it takes."""
    for path, command in _walk(cli):
        kind = _kind(path)
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        if kind is None or not arguments:
            continue
        arguments[0]._custom_shell_complete = _completer(kind)


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion_command(ctx: click.Context, shell: str) -> None:
    """Generate the autocompletion script for the specified shell"""
    root: Any = ctx.find_root().command
    completion_class = get_completion_class(shell)
    assert completion_class is not None
    click.echo(completion_class(root, {}, "dockyard", "_DOCKYARD_COMPLETE").source())


@click.command("help")
@click.argument("words", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, words: tuple[str, ...]) -> None:
    """Help about any command"""
    root = ctx.find_root()
    command: click.Command = root.command
    parent = root
    for word in words:
        sub = command.get_command(parent, word) if isinstance(command, click.Group) else None
        if sub is None:
            raise CliError(f'unknown help topic: "{" ".join(words)}"', 1)
        command = sub
        parent = click.Context(command, info_name=word, parent=parent)
    click.echo(command.get_help(parent))
