"""``docker run`` as a user types it: output, exit codes, entrypoint, env, init, stdin."""

from __future__ import annotations

import re
from pathlib import Path

from .daemon import Daemon


def test_run_rm_echo_prints_and_exits_zero(daemon: Daemon) -> None:
    code, out, err = daemon.docker("run", "--rm", "busybox", "echo", "hi")
    assert (code, out) == (0, "hi\n"), err


def test_run_exit_code_is_the_container_s(daemon: Daemon) -> None:
    code, out, err = daemon.docker("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert code == 3, err
    assert out == ""


def test_run_unknown_command_exits_127_with_docker_message(daemon: Daemon) -> None:
    before = daemon.store_state()
    code, _, err = daemon.docker("run", "--rm", "busybox", "nosuchcmd")
    assert code == 127, err
    assert err.startswith("docker: Error response from daemon:"), err
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in err
    # --rm removes a container that failed to start, as dockerd does.
    assert daemon.store_state() == before


def test_run_detached_prints_full_id(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "100")
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"


def test_run_stdout_and_stderr_are_separate(daemon: Daemon) -> None:
    code, out, err = daemon.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (code, out, err) == (0, "out\n", "err\n")


def test_entrypoint_replaces_the_image_s(daemon: Daemon) -> None:
    code, out, err = daemon.docker("run", "--rm", "--entrypoint", "echo", "busybox", "a", "b")
    assert (code, out) == (0, "a b\n"), err
    code, out, err = daemon.docker("run", "--rm", "--entrypoint", "/bin/sh", "busybox", "-c", "echo $0")
    assert (code, out) == (0, "/bin/sh\n"), err


def test_image_cmd_is_the_default(daemon: Daemon) -> None:
    # busybox's CMD is ["sh"]: with stdin attached it reads commands from it.
    code, out, err = daemon.docker("run", "--rm", "-i", "busybox", input="echo from-stdin\n")
    assert (code, out) == (0, "from-stdin\n"), err


def test_env_and_env_file(daemon: Daemon, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nB=2\nC=three words\n")
    code, out, err = daemon.docker("run", "--rm", "-e", "A=1", "--env-file", str(env_file),
                                   "-h", "envhost", "busybox", "env")
    assert code == 0, err
    lines = out.splitlines()
    for expected in ("A=1", "B=2", "C=three words", "HOSTNAME=envhost", "HOME=/root"):
        assert expected in lines, out
    assert any(line.startswith("PATH=") and "/bin" in line for line in lines), out


def test_without_init_pid1_is_the_command(daemon: Daemon) -> None:
    code, out, err = daemon.docker("run", "--rm", "busybox", "cat", "/proc/1/comm")
    assert (code, out) == (0, "cat\n"), err


def test_init_makes_pid1_an_init(daemon: Daemon) -> None:
    code, out, err = daemon.docker("run", "--rm", "--init", "busybox", "cat", "/proc/1/comm")
    assert code == 0, err
    assert out.strip() in ("docker-init", "catatonit", "tini"), out
    # The command itself runs as a child of the init.
    code, out, err = daemon.docker("run", "--rm", "--init", "busybox", "sh", "-c", "echo $$")
    assert code == 0 and out.strip() != "1", (out, err)


def test_stdin_is_piped_with_i(daemon: Daemon) -> None:
    code, out, err = daemon.docker("run", "-i", "--rm", "busybox", "cat", input="hi\n")
    assert (code, out) == (0, "hi\n"), err


def test_large_stdin_round_trips(daemon: Daemon) -> None:
    data = "".join(f"line {i}\n" for i in range(20000))
    code, out, err = daemon.docker("run", "-i", "--rm", "busybox", "cat", input=data)
    assert code == 0, err
    assert out == data


def test_user_workdir_hostname_seen_inside(daemon: Daemon) -> None:
    code, out, err = daemon.docker("run", "--rm", "-u", "65534", "-w", "/tmp", "-h", "myhost",
                                   "busybox", "sh", "-c", "id -u; pwd; hostname")
    assert (code, out) == (0, "65534\n/tmp\nmyhost\n"), err


def test_rm_leaves_no_container(daemon: Daemon, name) -> None:
    n = name("rm")
    daemon.docker_ok("run", "--rm", "--name", n, "busybox", "true")
    code, _, err = daemon.docker("container", "inspect", n)
    assert code == 1
    assert f"No such container: {n}" in err
