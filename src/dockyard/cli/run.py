"""``run``, ``create``, ``start`` and ``attach``: the commands that create or join a container."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from dockyard.cli import credentials
from dockyard.cli.attach import (
    AttachOptions,
    Waiter,
    check_input_tty,
    container_killer,
    container_resizer,
    open_attach,
    stream_session,
)
from dockyard.cli.client import CliError, DaemonError, iter_json_stream
from dockyard.cli.create_opts import build_create_body, create_options
from dockyard.cli.session import Session, session, warn

RUN_SETTINGS = {"allow_interspersed_args": False, "ignore_unknown_options": False}


def familiar_ref(image: str) -> str:
    """``busybox`` → ``busybox:latest``: the reference docker names in its messages."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else image + ":latest"


def full_name(ref: str) -> str:
    """``busybox`` → ``docker.io/library/busybox``: the fully qualified name docker pulls."""
    first, sep, rest = ref.partition("/")
    if not sep:
        return "docker.io/library/" + ref
    if "." in first or ":" in first or first == "localhost":
        return ref
    return "docker.io/" + ref


def pull_image(s: Session, image: str, platform: str | None, quiet: bool) -> None:
    """``POST /images/create?fromImage=``; progress goes to stderr, errors raise."""
    ref = full_name(familiar_ref(image))
    name, _, tag = ref.rpartition(":") if "@" not in ref else (ref, "", "")
    params = [("fromImage", name), ("tag", tag)] if tag else [("fromImage", ref)]
    if platform:
        params.append(("platform", platform))
    # As docker run: the stored login for the image's registry travels with the pull.
    auth = credentials.load(credentials.server_of_reference(name if tag else ref)).header()
    with s.client.stream("POST", "/images/create", params=params,
                         headers={"X-Registry-Auth": auth}) as response:
        for message in iter_json_stream(response):
            if "error" in message:
                raise CliError(str(message.get("error")), 125)
            if not quiet and message.get("status"):
                prefix = f"{message['id']}: " if message.get("id") else ""
                warn(prefix + str(message["status"]))


def create_container(s: Session, image: str, command: Sequence[str], opts: dict[str, Any]) -> str:
    """Create, pulling first as ``--pull`` says; returns the container ID; errors exit 125."""
    body = build_create_body(image, command, opts)
    params = [("name", opts["name"])] if opts["name"] else []
    if opts["platform"]:
        params.append(("platform", opts["platform"]))
    try:
        if opts["pull"] == "always":
            pull_image(s, image, opts["platform"], opts["quiet"])
        try:
            created = s.client.post_json("/containers/create", params, body)
        except DaemonError as exc:
            missing_image = exc.http_status == 404 and "image" in exc.daemon_message.lower()
            if not missing_image or opts["pull"] != "missing":
                raise
            warn(f"Unable to find image '{familiar_ref(image)}' locally")
            pull_image(s, image, opts["platform"], opts["quiet"])
            created = s.client.post_json("/containers/create", params, body)
    except CliError as exc:
        exc.status = 125
        exc.help_command = _command_path()
        raise
    for warning in created.get("Warnings") or []:
        warn(f"WARNING: {warning}")
    container = str(created["Id"])
    if opts["cidfile"]:
        Path(opts["cidfile"]).write_text(container)
    return container


def start_status(exc: CliError) -> CliError:
    """docker's toStatusError: 127 for a missing command, 126 for one that cannot be invoked."""
    text = exc.message
    if any(s in text for s in ("executable file not found", "no such file or directory",
                               "system cannot find the file specified")):
        exc.status = 127
    elif "permission denied" in text or "is a directory" in text:
        exc.status = 126
    else:
        exc.status = 125
    exc.help_command = _command_path()
    return exc


def _command_path() -> str | None:
    ctx = click.get_current_context(silent=True)
    return ctx.command_path if ctx is not None else None


def _start(s: Session, container: str) -> None:
    s.client.request("POST", f"/containers/{container}/start")


@click.command("run", context_settings=RUN_SETTINGS)
@create_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run_command(image: str, command: tuple[str, ...], **opts: Any) -> None:
    """Create and run a new container from an image"""
    s = session()
    # As docker, a detached -it needs no local terminal.
    check_input_tty(opts["tty"], opts["interactive"] and not opts["detach"])
    container = create_container(s, image, command, opts)
    if opts["detach"]:
        try:
            _start(s, container)
        except CliError as exc:
            raise start_status(exc) from exc
        s.out(container + "\n")
        return
    sys.exit(run_attached(s, container, opts))


def run_attached(s: Session, container: str, opts: dict[str, Any]) -> int:
    """Attach before start, register the wait, start, stream, then return the exit code."""
    attach = AttachOptions(tty=opts["tty"], stdin=opts["interactive"], sig_proxy=opts["sig_proxy"])
    sock, initial = open_attach(s, container, attach)
    waiter = Waiter(s.client, container, "removed" if opts["auto_remove"] else "next-exit")
    waiter.start()
    waiter.registered.wait(timeout=10)
    try:
        _start(s, container)
    except CliError as exc:
        sock.close()
        raise start_status(exc) from exc
    if stream_session(s, sock, initial, tty=attach.tty, stdin=attach.stdin,
                      resize=container_resizer(s, container),
                      kill=container_killer(s, container) if attach.sig_proxy else None,
                      detach_keys=opts.get("detach_keys")):
        return 0  # detached: the container keeps running
    return waiter.result()


@click.command("create", context_settings=RUN_SETTINGS)
@create_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def create_command(image: str, command: tuple[str, ...], **opts: Any) -> None:
    """Create a new container"""
    s = session()
    s.out(create_container(s, image, command, opts) + "\n")


def _container_config(s: Session, container: str) -> dict[str, Any]:
    info = s.client.get_json(f"/containers/{container}/json")
    return dict(info.get("Config") or {})


@click.command("start")
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@click.option("--detach-keys", help="Override the key sequence for detaching a container")
@click.argument("containers", nargs=-1, required=True)
def start_command(attach: bool, interactive: bool, detach_keys: str | None,
                  containers: tuple[str, ...]) -> None:
    """Start one or more stopped containers"""
    s = session()
    if attach or interactive:
        if len(containers) > 1:
            raise CliError("you cannot start and attach multiple containers at once", 1)
        sys.exit(_start_attached(s, containers[0], interactive, detach_keys))
    failed = []
    for container in containers:
        try:
            _start(s, container)
            s.out(container + "\n")
        except CliError as exc:
            warn(exc.message)
            failed.append(container)
    if failed:
        raise CliError(f"Error: failed to start containers: {', '.join(failed)}", 1)


def _start_attached(s: Session, container: str, interactive: bool, detach_keys: str | None) -> int:
    config = _container_config(s, container)
    tty = bool(config.get("Tty"))
    stdin = interactive and bool(config.get("OpenStdin"))
    sock, initial = open_attach(s, container, AttachOptions(tty=tty, stdin=stdin))
    waiter = Waiter(s.client, container, "next-exit")
    waiter.start()
    waiter.registered.wait(timeout=10)
    try:
        _start(s, container)
    except CliError:
        sock.close()
        raise
    if stream_session(s, sock, initial, tty=tty, stdin=stdin, resize=container_resizer(s, container),
                      kill=container_killer(s, container), detach_keys=detach_keys):
        return 0
    return waiter.result()


@click.command("attach")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Proxy all received signals to the process")
@click.option("--detach-keys", help="Override the key sequence for detaching a container")
@click.argument("container")
def attach_command(no_stdin: bool, sig_proxy: bool, detach_keys: str | None, container: str) -> None:
    """Attach local standard input, output, and error streams to a running container"""
    s = session()
    info = s.client.get_json(f"/containers/{container}/json")
    state = info.get("State") or {}
    if not state.get("Running"):
        raise CliError("You cannot attach to a stopped container, start it first", 1)
    if state.get("Paused"):
        raise CliError("You cannot attach to a paused container, unpause it first", 1)
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = not no_stdin and bool(config.get("OpenStdin"))
    check_input_tty(tty, stdin)
    sock, initial = open_attach(s, container, AttachOptions(tty=tty, stdin=stdin))
    if stream_session(s, sock, initial, tty=tty, stdin=stdin, resize=container_resizer(s, container),
                      kill=container_killer(s, container) if sig_proxy else None,
                      detach_keys=detach_keys):
        # docker attach reports the detach as its error, and exits 1.
        s.stderr.write(b"read escape sequence\n")
        s.stderr.flush()
        sys.exit(1)
    waited = s.client.post_json(f"/containers/{container}/wait", {"condition": "not-running"})
    sys.exit(int((waited or {}).get("StatusCode", 0)))
