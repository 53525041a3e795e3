"""Terminals and attached stdin: ``run -it``, ``exec -it``, resize, ``attach``, driven through a pty."""

from __future__ import annotations

import sys
import time

import pexpect

from .daemon import DOCKER, Daemon

PROMPT = r"[#$] "


def _spawn(daemon: Daemon, *args: str, rows: int = 24, cols: int = 80) -> pexpect.spawn:
    return pexpect.spawn(DOCKER, list(args), env=daemon.env(), timeout=20, encoding="utf-8",
                         dimensions=(rows, cols))


def _shell_answers(child: pexpect.spawn) -> None:
    child.expect(PROMPT)
    child.sendline("echo $((6*7))")
    child.expect("42")
    child.expect(PROMPT)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()


def test_run_it_shell(daemon: Daemon) -> None:
    child = _spawn(daemon, "run", "-it", "--rm", "busybox", "sh")
    _shell_answers(child)
    assert child.exitstatus == 0


def test_run_it_exit_status_is_the_shell_s(daemon: Daemon) -> None:
    child = _spawn(daemon, "run", "-it", "--rm", "busybox", "sh")
    child.expect(PROMPT)
    child.sendline("exit 6")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 6


def test_exec_it_shell(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "100")
    child = _spawn(daemon, "exec", "-it", cid, "sh")
    _shell_answers(child)
    assert child.exitstatus == 0


def test_tty_size_follows_resize(daemon: Daemon) -> None:
    child = _spawn(daemon, "run", "-it", "--rm", "busybox", "sh", rows=24, cols=80)
    child.expect(PROMPT)
    child.sendline("stty size")
    child.expect("24 80")
    child.setwinsize(30, 100)  # the CLI gets SIGWINCH and posts /containers/{id}/resize
    deadline = time.monotonic() + 10
    seen = False
    while time.monotonic() < deadline and not seen:
        child.sendline("stty size")
        seen = child.expect(["30 100", "24 80"], timeout=5) == 0
        if not seen:
            time.sleep(0.2)
    assert seen, "the container's tty kept 24x80 after the client's terminal was resized"
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_exec_tty_size_is_the_client_s(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "100")
    child = _spawn(daemon, "exec", "-it", cid, "stty", "size", rows=33, cols=120)
    child.expect("33 120")
    child.expect(pexpect.EOF)


def test_attach_with_stdin(daemon: Daemon, container) -> None:
    cid = container("-i", "busybox", "sh", "-c", "echo ready; read line; echo got $line")
    code, out = daemon.attach_and_send(cid, "hello\n")
    assert (code, out) == (0, "got hello\n")
    assert daemon.docker_ok("wait", cid).strip() == "0"


def test_run_i_stdin_eof_reaches_the_container(daemon: Daemon) -> None:
    # docker run -i sets StdinOnce: the end of the client's stdin closes the container's.
    code, out, err = daemon.docker("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo after-eof",
                                   input="piped\n", timeout=30)
    assert (code, out) == (0, "piped\nafter-eof\n"), err


def test_attach_sees_later_output_and_exit_code(daemon: Daemon, container) -> None:
    cid = container("busybox", "sh", "-c", "sleep 1; echo later; exit 3")
    code, out, err = daemon.docker("attach", "--no-stdin", cid, timeout=30)
    assert (code, out) == (3, "later\n"), err


def test_run_interactive_tty_attach_and_detach_keys(daemon: Daemon, container) -> None:
    cid = container("-it", "busybox", "sh")
    child = _spawn(daemon, "attach", cid)
    child.sendline("echo attached-$((1+1))")
    child.expect("attached-2")
    child.sendcontrol("p")
    child.sendcontrol("q")  # Docker's default detach keys leave the container running
    child.expect(pexpect.EOF)
    assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"


def _dockyard(daemon: Daemon, *args: str) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "dockyard.cli.main", *args], env=daemon.env(),
                         timeout=20, encoding="utf-8", dimensions=(24, 80))


def test_detach_keys_leave_the_shell_running_for_the_next_attach(daemon: Daemon, name) -> None:
    """ctrl-p ctrl-q detaches `run -it` (exit 0, container up); a later attach finds the same shell
    still reading its terminal, and detaching from it is docker attach's "read escape sequence"."""
    box = name("detach")
    child = _spawn(daemon, "run", "-it", "--name", box, "busybox", "sh")
    child.expect(PROMPT)
    child.sendline("x=kept")
    child.expect(PROMPT)
    child.send("\x10\x11")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    try:
        assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", box).strip() == "true"
        again = _dockyard(daemon, "attach", box)
        time.sleep(1)  # the attach is in place before we type
        again.sendline("echo $x-$((6*7))")
        again.expect("kept-42")
        again.send("\x10\x11")
        again.expect("read escape sequence")
        again.expect(pexpect.EOF)
        again.close()
        assert again.exitstatus == 1
        assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", box).strip() == "true"
        mine = _dockyard(daemon, "run", "-it", "--name", box + "-ours", "busybox", "sh")
        mine.expect(PROMPT)
        mine.send("\x10\x11")
        mine.expect(pexpect.EOF)
        mine.close()
        assert mine.exitstatus == 0
        assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", box + "-ours").strip() == "true"
    finally:
        daemon.docker("rm", "-f", box, box + "-ours")
