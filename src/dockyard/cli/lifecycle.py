"""Container verbs that act on existing containers: stop, restart, kill, rm, pause, wait, logs…"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click

from dockyard.cli.client import CliError
from dockyard.cli.formatter import tabwrite
from dockyard.cli.hijack import FrameDemuxer, write_output
from dockyard.cli.session import Session, session
from dockyard.cli.units import parse_since


def for_each(containers: Sequence[str], action: Callable[[Session, str], str | None]) -> None:
    """Apply ``action`` to each argument, printing what it returns; failures are reported at the end.

    docker keeps going after a failure, prints each error on stderr and exits 1.
    """
    s = session()
    errors = []
    for container in containers:
        try:
            printed = action(s, container)
        except CliError as exc:
            errors.append(exc.message)
            continue
        if printed is not None:
            s.out(printed + "\n")
    if errors:
        raise CliError("\n".join(errors), 1)


@click.command("stop")
@click.option("-t", "--time", "--timeout", "timeout", type=int,
              help="Seconds to wait before killing the container")
@click.option("-s", "--signal", "signal_name", help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
def stop_command(timeout: int | None, signal_name: str | None, containers: tuple[str, ...]) -> None:
    """Stop one or more running containers"""
    params = _stop_params(timeout, signal_name)

    def stop(s: Session, container: str) -> str:
        s.client.request("POST", f"/containers/{container}/stop", params=params)
        return container
    for_each(containers, stop)


def _stop_params(timeout: int | None, signal_name: str | None) -> dict[str, str]:
    params = {}
    if timeout is not None:
        params["t"] = str(timeout)
    if signal_name:
        params["signal"] = signal_name
    return params


@click.command("restart")
@click.option("-t", "--time", "--timeout", "timeout", type=int,
              help="Seconds to wait before killing the container")
@click.option("-s", "--signal", "signal_name", help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
def restart_command(timeout: int | None, signal_name: str | None, containers: tuple[str, ...]) -> None:
    """Restart one or more containers"""
    params = _stop_params(timeout, signal_name)

    def restart(s: Session, container: str) -> str:
        s.client.request("POST", f"/containers/{container}/restart", params=params)
        return container
    for_each(containers, restart)


@click.command("kill")
@click.option("-s", "--signal", "signal_name", help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
def kill_command(signal_name: str | None, containers: tuple[str, ...]) -> None:
    """Kill one or more running containers"""
    params = {"signal": signal_name} if signal_name else {}

    def kill(s: Session, container: str) -> str:
        s.client.request("POST", f"/containers/{container}/kill", params=params)
        return container
    for_each(containers, kill)


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL)")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container")
@click.option("-l", "--link", is_flag=True, help="Remove the specified link")
@click.argument("containers", nargs=-1, required=True)
def rm_command(force: bool, volumes: bool, link: bool, containers: tuple[str, ...]) -> None:
    """Remove one or more containers"""
    params = {"force": "1" if force else "0", "v": "1" if volumes else "0", "link": "1" if link else "0"}

    def remove(s: Session, container: str) -> str:
        s.client.request("DELETE", f"/containers/{container.strip('/')}", params=params)
        return container
    for_each(containers, remove)


def _simple(verb: str, doc: str) -> click.Command:
    @click.command(verb, help=doc)
    @click.argument("containers", nargs=-1, required=True)
    def command(containers: tuple[str, ...]) -> None:
        def act(s: Session, container: str) -> str:
            s.client.request("POST", f"/containers/{container}/{verb}")
            return container
        for_each(containers, act)
    return command


pause_command = _simple("pause", "Pause all processes within one or more containers")
unpause_command = _simple("unpause", "Unpause all processes within one or more containers")


@click.command("wait")
@click.argument("containers", nargs=-1, required=True)
def wait_command(containers: tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes"""
    def wait(s: Session, container: str) -> str:
        result = s.client.post_json(f"/containers/{container}/wait") or {}
        return str(result.get("StatusCode", 0))
    for_each(containers, wait)


@click.command("rename")
@click.argument("container")
@click.argument("new_name")
def rename_command(container: str, new_name: str) -> None:
    """Rename a container"""
    if not new_name.strip():
        raise CliError("Error: Neither old nor new names may be empty", 1)
    session().client.request("POST", f"/containers/{container}/rename", params={"name": new_name})


@click.command("top", context_settings={"allow_interspersed_args": False})
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
def top_command(container: str, ps_args: tuple[str, ...]) -> None:
    """Display the running processes of a container"""
    s = session()
    params = {"ps_args": " ".join(ps_args)} if ps_args else {}
    result = s.client.get_json(f"/containers/{container}/top", params)
    lines = ["\t".join(result.get("Titles") or [])]
    lines.extend("\t".join(row) for row in result.get("Processes") or [])
    s.out(tabwrite(lines, min_width=20, padding=3))


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("--since", help="Show logs since timestamp or relative (e.g. 42m for 42 minutes)")
@click.option("--until", help="Show logs before a timestamp or relative (e.g. 42m for 42 minutes)")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.argument("container")
def logs_command(follow: bool, since: str | None, until: str | None, timestamps: bool, tail: str,
                 details: bool, container: str) -> None:
    """Fetch the logs of a container"""
    s = session()
    info = s.client.get_json(f"/containers/{container}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    params = {"stdout": "1", "stderr": "1", "follow": "1" if follow else "0",
              "timestamps": "1" if timestamps else "0", "tail": tail, "details": "1" if details else "0"}
    if since:
        params["since"] = parse_since(since)
    if until:
        params["until"] = parse_since(until)
    demux = FrameDemuxer()
    with s.client.stream("GET", f"/containers/{container}/logs", params=params) as response:
        for chunk in response.iter_raw():
            write_output(chunk, demux, tty=tty, stdout=s.stdout, stderr=s.stderr)
