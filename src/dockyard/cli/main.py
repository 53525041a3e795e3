"""``dockyard``: a docker-compatible command line that talks to the daemon only through its API.

Exit statuses follow docker: 125 for usage and daemon errors of ``run``/``create``, 126/127 when the
container's command cannot be invoked or is not found, otherwise the container's own status; other
commands exit 1 on error. Errors are one line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from dockyard.cli import bootstrap, execs, images, lifecycle, ps, registry, run, system
from dockyard.cli import build as build_cli
from dockyard.cli import container_files as files_cli
from dockyard.cli import events as events_cli
from dockyard.cli import networks as networks_cli
from dockyard.cli import prune as prune_cli
from dockyard.cli import resources as resources_cli
from dockyard.cli import secrets as secrets_cli
from dockyard.cli import services as services_cli
from dockyard.cli import stacks as stacks_cli
from dockyard.cli import swarm as swarm_cli
from dockyard.cli import volumes as volumes_cli
from dockyard.cli.client import CliError
from dockyard.cli.session import Session

USAGE_STATUS = 125
CONTEXT = {"help_option_names": ["--help"], "max_content_width": 100}


class DockerGroup(click.Group):
    """Lists commands in registration order, like docker's help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=DockerGroup, context_settings=CONTEXT)
@click.option("-H", "--host", help="Daemon socket to connect to (default: $DOCKER_HOST or "
                                   "unix:///run/dockyard/dockyard.sock)")
@click.option("-D", "--debug", is_flag=True, help="Enable debug mode")
@click.option("-l", "--log-level", help="Set the logging level (accepted for compatibility)")
@click.version_option(package_name="dockyard", message="Dockyard version %(version)s")
@click.pass_context
def cli(ctx: click.Context, host: str | None, debug: bool, log_level: str | None) -> None:
    """A self-sufficient runtime for containers"""
    ctx.obj = Session(host)
    ctx.call_on_close(ctx.obj.close)


@cli.group("container", cls=DockerGroup)
def container_group() -> None:
    """Manage containers"""


@cli.group("image", cls=DockerGroup)
def image_group() -> None:
    """Manage images"""


_TOP_LEVEL = [run.run_command, execs.exec_command, ps.ps_command, images.images_command,
              system.info_command, system.version_command, run.create_command, run.start_command,
              lifecycle.stop_command, lifecycle.restart_command, lifecycle.kill_command, lifecycle.rm_command,
              lifecycle.pause_command, lifecycle.unpause_command, lifecycle.wait_command,
              lifecycle.rename_command, lifecycle.top_command,
              lifecycle.logs_command, run.attach_command,
              system.inspect_command, images.rmi_command, images.tag_command, images.history_command,
              images.import_command, images.load_command, images.save_command,
              registry.pull_command, registry.push_command, registry.login_command,
              registry.logout_command]

_CONTAINER = {"attach": run.attach_command, "create": run.create_command, "exec": execs.exec_command,
              "inspect": system.container_inspect_command, "kill": lifecycle.kill_command,
              "logs": lifecycle.logs_command, "ls": ps.ps_command, "list": ps.ps_command,
              "ps": ps.ps_command, "pause": lifecycle.pause_command, "rename": lifecycle.rename_command,
              "restart": lifecycle.restart_command, "rm": lifecycle.rm_command,
              "remove": lifecycle.rm_command,
              "run": run.run_command, "start": run.start_command, "stop": lifecycle.stop_command,
              "top": lifecycle.top_command, "unpause": lifecycle.unpause_command,
              "wait": lifecycle.wait_command}

_IMAGE = {"history": images.history_command, "import": images.import_command,
          "inspect": system.image_inspect_command, "load": images.load_command, "ls": images.images_command,
          "list": images.images_command, "rm": images.rmi_command, "remove": images.rmi_command,
          "save": images.save_command, "tag": images.tag_command,
          "pull": registry.pull_command, "push": registry.push_command,
          "bootstrap": bootstrap.bootstrap_group}

for _command in _TOP_LEVEL:
    cli.add_command(_command)
cli.add_command(build_cli.build_command)
cli.add_command(build_cli.builder_group)
cli.add_command(volumes_cli.volume_group)
cli.add_command(networks_cli.network_group)
cli.add_command(networks_cli.port_command)
container_group.add_command(networks_cli.port_command)
for _command in (files_cli.cp_command, files_cli.commit_command, files_cli.export_command,
                 files_cli.diff_command):
    cli.add_command(_command)
    container_group.add_command(_command)
for _name, _command in _CONTAINER.items():
    container_group.add_command(_command, _name)
for _name, _command in _IMAGE.items():
    image_group.add_command(_command, _name)
for _command in (resources_cli.update_command, resources_cli.stats_command):
    cli.add_command(_command)
    container_group.add_command(_command)
# `system` may be another command module's group too (prune): join it rather than replace it.
_system = cli.commands.get("system")
if not isinstance(_system, click.Group):
    _system = click.Group("system", help="Manage Dockyard")
    cli.add_command(_system)
_system.add_command(resources_cli.df_command)
_system.add_command(prune_cli.system_prune_command)
container_group.add_command(prune_cli.container_prune_command)
image_group.add_command(prune_cli.image_prune_command)
cli.add_command(events_cli.events_command)
# Swarm mode (issue 11): swarm, node, service, secret, config, stack.
for _group in (swarm_cli.swarm_group, swarm_cli.node_group, services_cli.service_group,
               secrets_cli.secret_group, secrets_cli.config_group, stacks_cli.stack_group):
    cli.add_command(_group)
_system.add_command(events_cli.events_command)


# docker's boolean flags also accept Go's ``--flag=true|false``; click flags take no value.
def _value_options(argv: list[str]) -> tuple[int, set[str], set[str]]:
    """Where the subcommand's own arguments start, which of its options take a value, and which
    are boolean flags."""
    group: click.Group = cli
    skip = False
    for index, arg in enumerate(argv):
        if skip or arg in ("-H", "--host", "-l", "--log-level"):
            skip = not skip
            continue
        command = group.commands.get(arg)
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
