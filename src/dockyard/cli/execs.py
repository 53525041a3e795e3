"""``exec``: run a command in a running container."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from dockyard.cli.attach import check_input_tty, stream_session
from dockyard.cli.client import CliError
from dockyard.cli.create_opts import build_env
from dockyard.cli.session import Session, session


def exec_body(command: tuple[str, ...], *, interactive: bool, tty: bool, detach: bool,
              env: tuple[str, ...], env_file: tuple[str, ...], workdir: str | None, user: str | None,
              privileged: bool) -> dict[str, Any]:
    """``POST /containers/{id}/exec`` body for the exec flags."""
    return {
        "User": user or "",
        "Privileged": privileged,
        "Tty": tty,
        "AttachStdin": interactive and not detach,
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "Detach": detach,
        "Env": build_env(env, env_file, os.environ),
        "WorkingDir": workdir or "",
        "Cmd": list(command),
    }


def _exec_resizer(s: Session, exec_id: str) -> Callable[[int, int], None]:
    def resize(height: int, width: int) -> None:
        s.client.request("POST", f"/exec/{exec_id}/resize", params={"h": str(height), "w": str(width)})
    return resize


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables")
@click.option("-w", "--workdir", help="Working directory inside the container")
@click.option("-u", "--user", help="Username or UID (format: \"<name|uid>[:<group|gid>]\")")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command")
@click.option("--detach-keys", help="Override the key sequence for detaching a container")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(detach: bool, interactive: bool, tty: bool, env: tuple[str, ...], env_file: tuple[str, ...],
                 workdir: str | None, user: str | None, privileged: bool, detach_keys: str | None,
                 container: str, command: tuple[str, ...]) -> None:
    """Execute a command in a running container"""
    s = session()
    check_input_tty(tty, interactive and not detach)
    body = exec_body(command, interactive=interactive, tty=tty, detach=detach, env=env, env_file=env_file,
                     workdir=workdir, user=user, privileged=privileged)
    created = s.client.post_json(f"/containers/{container}/exec", body=body)
    exec_id = str(created["Id"])
    start = {"Detach": detach, "Tty": tty}
    if detach:
        s.client.request("POST", f"/exec/{exec_id}/start", body=start)
        return
    sock, initial = s.hijack(f"/exec/{exec_id}/start", body=json.dumps(start).encode())
    stdin = interactive
    if stream_session(s, sock, initial, tty=tty, stdin=stdin, resize=_exec_resizer(s, exec_id),
                      detach_keys=detach_keys):
        return  # detached: the exec'd process keeps running
    inspected = s.client.get_json(f"/exec/{exec_id}/json")
    code = inspected.get("ExitCode")
    if code is None:
        raise CliError("exec finished without an exit code", 1)
    sys.exit(int(code))
