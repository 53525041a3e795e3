"""``run``/``create`` flag parsing into the ``POST /containers/create`` body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest

from dockyard.cli.client import CliError
from dockyard.cli.create_opts import (
    build_create_body,
    build_env,
    build_labels,
    create_options,
    parse_ports,
    parse_ram,
    parse_restart,
    validate_env,
)
from dockyard.cli.run import familiar_ref, start_status


def parse(args: list[str], environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Parse ``args`` with the real run options and return the create body."""
    captured: dict[str, Any] = {}

    @click.command(context_settings={"allow_interspersed_args": False})
    @create_options
    @click.argument("image")
    @click.argument("command", nargs=-1, type=click.UNPROCESSED)
    def fake_run(image: str, command: tuple[str, ...], **opts: Any) -> None:
        captured.update(build_create_body(image, command, opts, environ or {}))
        captured["_name"] = opts["name"]

    fake_run.main(args=args, standalone_mode=False)
    return captured


def test_env_var_without_value_comes_from_local_environment() -> None:
    env = {"HOME": "/root", "EMPTY": ""}
    assert validate_env("HOME", env) == "HOME=/root"
    assert validate_env("EMPTY", env) == "EMPTY="
    assert validate_env("UNSET", env) == "UNSET"
    assert validate_env("A=b=c", env) == "A=b=c"
    with pytest.raises(CliError):
        validate_env("=x", env)


def test_env_file_then_flags(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\n\nA=1\n  B= spaced value \nFROMHOST\nNOTSET\nC=\n")
    result = build_env(["D=4", "FROMHOST"], [str(env_file)], {"FROMHOST": "h"})
    assert result == ["A=1", "B= spaced value ", "FROMHOST=h", "C=", "D=4", "FROMHOST=h"]


def test_env_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("MY VAR=1\n")
    with pytest.raises(CliError, match="contains whitespaces"):
        build_env([], [str(bad)], {})
    with pytest.raises(CliError) as info:
        build_env([], [str(tmp_path / "missing")], {})
    assert info.value.status == 125


def test_labels_from_files_and_flags(tmp_path: Path) -> None:
    label_file = tmp_path / "labels"
    label_file.write_text("tier=back\n# x\nflag\n")
    assert build_labels(["tier=front", "empty="], [str(label_file)]) == {
        "tier": "front", "flag": "", "empty": ""}


def test_run_flags_make_the_create_body(tmp_path: Path) -> None:
    body = parse(["--name", "web", "-e", "A=1", "-e", "USER", "-l", "k=v", "-w", "/srv", "-u", "1000:1000",
                  "--entrypoint", "/bin/sh", "-h", "box", "--init", "--rm", "--network", "none",
                  "--runtime", "runc", "--stop-signal", "SIGINT", "--stop-timeout", "3", "-it",
                  "-p", "127.0.0.1:8080:80", "-m", "64m",
                  "busybox", "-c", "echo hi"], environ={"USER": "me"})
    assert body["_name"] == "web"
    assert body["Image"] == "busybox"
    assert body["Cmd"] == ["-c", "echo hi"]
    assert body["Entrypoint"] == ["/bin/sh"]
    assert body["Env"] == ["A=1", "USER=me"]
    assert body["Labels"] == {"k": "v"}
    assert (body["WorkingDir"], body["User"], body["Hostname"]) == ("/srv", "1000:1000", "box")
    assert body["Tty"] and body["OpenStdin"] and body["AttachStdin"] and body["StdinOnce"]
    assert (body["StopSignal"], body["StopTimeout"]) == ("SIGINT", 3)
    host = body["HostConfig"]
    assert host["AutoRemove"] is True and host["Init"] is True
    assert (host["NetworkMode"], host["Runtime"], host["Memory"]) == ("none", "runc", 64 * 1024 * 1024)
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert body["ExposedPorts"] == {"80/tcp": {}}


def test_defaults_and_detach() -> None:
    body = parse(["-d", "busybox"])
    assert body["Cmd"] is None and body["Entrypoint"] is None
    assert not body["AttachStdout"] and not body["AttachStdin"] and not body["Tty"]
    assert body["HostConfig"]["NetworkMode"] == "default"
    assert "Init" not in body["HostConfig"]
    attached = parse(["busybox", "echo", "hi"])
    assert attached["AttachStdout"] and attached["AttachStderr"] and not attached["AttachStdin"]


def test_flags_after_the_image_belong_to_the_command() -> None:
    body = parse(["busybox", "sh", "-c", "exit 3", "--rm"])
    assert body["Cmd"] == ["sh", "-c", "exit 3", "--rm"]
    assert body["HostConfig"]["AutoRemove"] is False


def test_unknown_flag_is_a_usage_error() -> None:
    with pytest.raises(click.NoSuchOption):
        parse(["--no-such-flag", "busybox"])


def test_small_parsers() -> None:
    assert parse_ram("1g") == 1024 ** 3 and parse_ram("512") == 512 and parse_ram("1.5k") == 1536
    assert parse_restart("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert parse_restart("no") == {"Name": "no", "MaximumRetryCount": 0}  # as the docker CLI sends it
    with pytest.raises(CliError):
        parse_restart("always:3")
    exposed, bindings = parse_ports(["53/udp", "8080:80"], ["9000"])
    assert set(exposed) == {"53/udp", "80/tcp", "9000/tcp"}
    assert bindings["53/udp"] == [{"HostIp": "", "HostPort": ""}]
    assert familiar_ref("busybox") == "busybox:latest"
    assert familiar_ref("localhost:5000/app") == "localhost:5000/app:latest"
    assert familiar_ref("busybox:1.36") == "busybox:1.36"


@pytest.mark.parametrize(("message", "status"), [
    ('exec: "nope": executable file not found in $PATH', 127),
    ("open /x: no such file or directory", 127),
    ("exec /etc: permission denied", 126),
    ("runtime failed", 125),
])
def test_start_errors_map_to_docker_exit_codes(message: str, status: int) -> None:
    assert start_status(CliError(message)).status == status


def test_go_style_boolean_flags_are_rewritten() -> None:
    from dockyard.cli.main import _rewrite_bool_flags

    args = ["run", "--rm=true", "-d", "--tty=false", "--sig-proxy=false", "--name=x", "busybox"]
    assert _rewrite_bool_flags(args) == ["run", "--rm", "-d", "--no-sig-proxy", "--name=x", "busybox"]
    assert _rewrite_bool_flags(["run", "--", "--rm=false"]) == ["run", "--", "--rm=false"]
    # After the image, arguments belong to the container's command.
    assert _rewrite_bool_flags(["-H", "unix:///x", "container", "run", "-e", "--rm=true", "busybox",
                                "prog", "--rm=false"]) == [
        "-H", "unix:///x", "container", "run", "-e", "--rm=true", "busybox", "prog", "--rm=false"]
    assert _rewrite_bool_flags(["-H", "unix:///x", "ps", "--all=true", "--no-trunc=false"]) == [
        "-H", "unix:///x", "ps", "--all"]
    # Every boolean flag of the command is known, not only a fixed list.
    assert _rewrite_bool_flags(["run", "--oom-kill-disable=true", "--privileged=false", "busybox"]) == [
        "run", "--oom-kill-disable", "busybox"]
