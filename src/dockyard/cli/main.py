"""``dockyard``: a docker-compatible command line that talks to the daemon only through its API.

Exit statuses follow docker: 125 for usage and daemon errors of ``run``/``create``, 126/127 when the
container's command cannot be invoked or is not found, otherwise the container's own status; other
commands exit 1 on error. Errors are one line on stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from dockyard import __version__

if TYPE_CHECKING:
    from dockyard.cli.client import CliError

USAGE_STATUS = 125
# -h is help as in docker, except where a command has its own -h (run/create: --hostname).
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Every command by name -> "module:attribute" under dockyard.cli, imported only when it runs (or is
# listed by help): a command costs its own imports, not every other command's (issue 10's start-up).
_TOP_LEVEL = {
    "container": "main:container_group", "image": "main:image_group",
    "run": "run:run_command", "exec": "execs:exec_command", "ps": "ps:ps_command",
    "images": "images:images_command", "info": "system:info_command", "version": "system:version_command",
    "create": "run:create_command", "start": "run:start_command", "stop": "lifecycle:stop_command",
    "restart": "lifecycle:restart_command", "kill": "lifecycle:kill_command", "rm": "lifecycle:rm_command",
    "pause": "lifecycle:pause_command", "unpause": "lifecycle:unpause_command",
    "wait": "lifecycle:wait_command", "rename": "lifecycle:rename_command", "top": "lifecycle:top_command",
    "logs": "lifecycle:logs_command", "attach": "run:attach_command", "inspect": "system:inspect_command",
    "rmi": "images:rmi_command", "tag": "images:tag_command", "history": "images:history_command",
    "import": "images:import_command", "load": "images:load_command", "save": "images:save_command",
    "pull": "registry:pull_command", "push": "registry:push_command", "login": "registry:login_command",
    "logout": "registry:logout_command", "build": "build:build_command", "builder": "build:builder_group",
    "volume": "volumes:volume_group", "network": "networks:network_group", "port": "networks:port_command",
    "cp": "container_files:cp_command", "commit": "container_files:commit_command",
    "export": "container_files:export_command", "diff": "container_files:diff_command",
    "update": "resources:update_command", "stats": "resources:stats_command", "system": "main:system_group",
    "events": "events:events_command", "completion": "completion:completion_command",
    "help": "completion:help_command",
    # Adapters beside this CLI, clients of the API like it: full module paths.
    "compose": "dockyard.compose.cli:compose_group",
    "ui": "dockyard.ui.command:ui_command",
    "context": "context_commands:context_group",
    # Swarm mode (issue 11).
    "swarm": "swarm:swarm_group", "node": "swarm:node_group", "service": "services:service_group",
    "secret": "secrets:secret_group", "config": "secrets:config_group", "stack": "stacks:stack_group",
}
_CONTAINER = {
    "attach": "run:attach_command", "commit": "container_files:commit_command",
    "cp": "container_files:cp_command", "create": "run:create_command",
    "diff": "container_files:diff_command",
    "exec": "execs:exec_command", "export": "container_files:export_command",
    "inspect": "system:container_inspect_command", "kill": "lifecycle:kill_command",
    "logs": "lifecycle:logs_command", "ls": "ps:ps_command", "list": "ps:ps_command", "ps": "ps:ps_command",
    "pause": "lifecycle:pause_command", "port": "networks:port_command",
    "prune": "prune:container_prune_command", "rename": "lifecycle:rename_command",
    "restart": "lifecycle:restart_command", "rm": "lifecycle:rm_command", "remove": "lifecycle:rm_command",
    "run": "run:run_command", "start": "run:start_command", "stats": "resources:stats_command",
    "stop": "lifecycle:stop_command", "top": "lifecycle:top_command", "unpause": "lifecycle:unpause_command",
    "update": "resources:update_command", "wait": "lifecycle:wait_command",
}
_IMAGE = {
    "bootstrap": "bootstrap:bootstrap_group", "build": "build:build_command",
    "history": "images:history_command", "import": "images:import_command",
    "inspect": "system:image_inspect_command", "load": "images:load_command", "ls": "images:images_command",
    "list": "images:images_command", "prune": "prune:image_prune_command", "pull": "registry:pull_command",
    "push": "registry:push_command", "rm": "images:rmi_command", "remove": "images:rmi_command",
    "save": "images:save_command", "tag": "images:tag_command",
}
_SYSTEM = {"df": "resources:df_command", "dial-stdio": "context_commands:dial_stdio_command",
           "events": "events:events_command", "info": "system:info_command",
           "prune": "prune:system_prune_command"}


class DockerGroup(click.Group):
    """Lists commands in registration order, like docker's help; loads each on first use."""

    def __init__(self, *args: object, lazy: dict[str, str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(name for name in self.commands if name not in self.lazy)]

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        return self.resolve(cmd_name)

    def resolve(self, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            module, _, attribute = self.lazy[name].partition(":")
            path = module if "." in module else f"dockyard.cli.{module}"
            command = getattr(importlib.import_module(path), attribute)
            self.commands[name] = command
        return self.commands.get(name)

    def load_all(self) -> None:
        for name in self.lazy:
            command = self.resolve(name)
            if isinstance(command, DockerGroup):
                command.load_all()


@click.group(cls=DockerGroup, lazy=_TOP_LEVEL, context_settings=CONTEXT)
@click.option("-H", "--host", help="Daemon socket to connect to (default: $DOCKER_HOST or "
                                   "unix:///run/dockyard/dockyard.sock)")
@click.option("-c", "--context", "context_name", help="Name of the context to use to connect to the "
              "daemon (overrides DOCKER_HOST env var and default context set with \"docker context use\")")
@click.option("--tls", is_flag=True, help="Use TLS; implied by --tlsverify")
@click.option("--tlsverify", is_flag=True, help="Use TLS and verify the remote")
@click.option("--tlscacert", help="Trust certs signed only by this CA")
@click.option("--tlscert", help="Path to TLS certificate file")
@click.option("--tlskey", help="Path to TLS key file")
@click.option("-D", "--debug", is_flag=True, help="Enable debug mode")
@click.option("-l", "--log-level", help="Set the logging level (accepted for compatibility)")
@click.version_option(package_name="dockyard", message="Dockyard version %(version)s")
@click.pass_context
def cli(ctx: click.Context, host: str | None, context_name: str | None, tls: bool, tlsverify: bool,
        tlscacert: str | None, tlscert: str | None, tlskey: str | None, debug: bool,
        log_level: str | None) -> None:
    """A self-sufficient runtime for containers"""
    # The HTTP client's imports, only for commands that talk to an engine.
    from dockyard.cli.contexts import Selection
    from dockyard.cli.session import Session

    ctx.obj = Session(host, Selection(host=host, context=context_name or None, tls=tls,
                                      tlsverify=tlsverify, tlscacert=tlscacert, tlscert=tlscert,
                                      tlskey=tlskey))
    ctx.call_on_close(ctx.obj.close)


@click.group("container", cls=DockerGroup, lazy=_CONTAINER)
def container_group() -> None:
    """Manage containers"""


@click.group("image", cls=DockerGroup, lazy=_IMAGE)
def image_group() -> None:
    """Manage images"""


@click.group("system", cls=DockerGroup, lazy=_SYSTEM)
def system_group() -> None:
    """Manage Dockyard"""



# docker's boolean flags also accept Go's ``--flag=true|false``; click flags take no value.
def _value_options(argv: list[str]) -> tuple[int, set[str], set[str]]:
    """Where the subcommand's own arguments start, which of its options take a value, and which
    are boolean flags."""
    group: click.Group = cli
    skip = False
    for index, arg in enumerate(argv):
        if skip or arg in ("-H", "--host", "-l", "--log-level", "-c", "--context", "--tlscacert",
                           "--tlscert", "--tlskey"):
            skip = not skip
            continue
        command = group.resolve(arg) if isinstance(group, DockerGroup) else group.commands.get(arg)
        if isinstance(command, click.Group):
            group = command
        elif command is not None:
            options = [p for p in command.params if isinstance(p, click.Option)]
            values = {name for p in options if not p.is_flag for name in p.opts}
            flags = {name for p in options if p.is_flag for name in p.opts}
            return index + 1, values, flags
        elif not arg.startswith("-"):
            break
    return 0, set(), set()


def _rewrite_bool_flags(argv: list[str]) -> list[str]:
    """``--rm=true`` → ``--rm``, ``--rm=false`` → nothing, ``--sig-proxy=false`` → ``--no-sig-proxy``.

    Only the subcommand's own flags are rewritten: everything from its first positional argument on
    (``run IMAGE COMMAND…``) is the container's and passes untouched.
    """
    start, value_options, flags = _value_options(argv)
    out = argv[:start]
    index = start
    while index < len(argv):
        arg = argv[index]
        if arg == "--" or not arg.startswith("-"):
            break
        index += 1
        name, sep, value = arg.partition("=")
        if not sep and arg in value_options and index < len(argv):
            out += [arg, argv[index]]
            index += 1
        elif sep and value.lower() in ("true", "false", "1", "0") and name in flags:
            truth = value.lower() in ("true", "1")
            out += ([name] if truth else []) if name != "--sig-proxy" else [
                "--sig-proxy" if truth else "--no-sig-proxy"]
        else:
            out.append(arg)
    return out + argv[index:]


def _usage_message(exc: click.UsageError) -> str:
    """docker's form: the problem, the usage line, and where to find help."""
    if isinstance(exc, click.NoSuchOption):
        name = exc.option_name
        detail = (f"unknown flag: {name}" if name.startswith("--")
                  else f"unknown shorthand flag: '{name.lstrip('-')[:1]}' in {name}")
    else:
        detail = exc.format_message()
    if exc.ctx is None:
        return f"{detail}\n\nRun 'dockyard --help' for more information"
    path = exc.ctx.command_path
    usage = " ".join(exc.ctx.command.collect_usage_pieces(exc.ctx))
    return f"{detail}\n\nUsage:  {path} {usage}\n\nRun '{path} --help' for more information"


def _error_message(exc: CliError) -> str:
    if exc.help_command:
        return f"dockyard: {exc.message}\n\nRun '{exc.help_command} --help' for more information"
    return exc.message


def main(argv: Sequence[str] | None = None) -> None:
    if list(sys.argv[1:] if argv is None else argv) in (["--version"], ["-v"]):
        sys.stdout.write(f"Dockyard version {__version__}\n")  # no HTTP client to load for this
        sys.exit(0)
    from dockyard.cli.client import CliError

    if "_DOCKYARD_COMPLETE" in os.environ:
        from dockyard.cli.completion import install_completers

        cli.load_all()
        install_completers(cli)
    args = _rewrite_bool_flags(list(sys.argv[1:] if argv is None else argv))
    try:
        status = cli.main(args=args, prog_name="dockyard", standalone_mode=False)
    except click.UsageError as exc:
        click.echo(_usage_message(exc), err=True)
        sys.exit(USAGE_STATUS)
    except click.Abort:
        sys.exit(130)
    except CliError as exc:
        click.echo(_error_message(exc), err=True)
        sys.exit(exc.status)
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
