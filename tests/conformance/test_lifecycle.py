"""Detached containers through their life: logs, exec, stop, kill, wait, restart, pause, rename, rm."""

from __future__ import annotations

import json
import time

from .daemon import Daemon


def _inspect(daemon: Daemon, ref: str) -> dict:
    return json.loads(daemon.docker_ok("container", "inspect", ref))[0]


def test_logs_follow_ends_with_the_container(daemon: Daemon, container) -> None:
    cid = container("busybox", "sh", "-c", "echo one; echo two >&2; sleep 1; echo three")
    code, out, err = daemon.docker("logs", "-f", cid, timeout=30)
    assert code == 0, err
    assert out == "one\nthree\n"
    assert err == "two\n"
    assert _inspect(daemon, cid)["State"]["Status"] == "exited"


def test_logs_tail_and_timestamps(daemon: Daemon, container) -> None:
    cid = container("busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done")
    daemon.docker_ok("wait", cid)
    assert daemon.docker_ok("logs", "--tail", "2", cid) == "line4\nline5\n"
    stamped = daemon.docker_ok("logs", "-t", cid).splitlines()
    assert len(stamped) == 5
    assert stamped[0].endswith(" line1") and stamped[0][:4].isdigit() and "T" in stamped[0].split()[0]


def test_exec_output_and_exit_code(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "100")
    assert daemon.docker("exec", cid, "echo", "hello")[:2] == (0, "hello\n")
    code, _, _ = daemon.docker("exec", cid, "sh", "-c", "exit 5")
    assert code == 5
    code, out, _ = daemon.docker("exec", "-e", "X=y", "-w", "/tmp", "-u", "65534", cid,
                                 "sh", "-c", "echo $X; pwd; id -u")
    assert (code, out) == (0, "y\n/tmp\n65534\n")
    code, out, _ = daemon.docker("exec", "-i", cid, "cat", input="through exec\n")
    assert (code, out) == (0, "through exec\n")


def test_exec_unknown_command_exits_126_or_127(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "100")
    code, out, err = daemon.docker("exec", cid, "nosuchcmd")
    assert code in (126, 127), (code, out, err)
    assert "nosuchcmd" in out + err


def test_stop_sends_sigkill_after_stop_timeout(daemon: Daemon, container) -> None:
    # sleep as PID 1 has no handler for SIGTERM: the kernel ignores it, so stop must SIGKILL.
    cid = container("--stop-timeout", "1", "busybox", "sleep", "100")
    started = time.monotonic()
    code, out, err = daemon.docker("stop", cid, timeout=30)
    elapsed = time.monotonic() - started
    assert (code, out.strip()) == (0, cid), err
    assert 0.9 <= elapsed < 6, elapsed
    state = _inspect(daemon, cid)["State"]
    assert (state["Status"], state["Running"], state["ExitCode"]) == ("exited", False, 137)
    assert state["FinishedAt"] > state["StartedAt"]


def test_stop_t_overrides_and_stopped_container_can_be_removed(daemon: Daemon, name) -> None:
    n = name("stop")
    daemon.docker_ok("run", "-d", "--name", n, "busybox", "sleep", "100")
    started = time.monotonic()
    assert daemon.docker("stop", "-t", "2", n, timeout=30)[:2] == (0, f"{n}\n")
    assert 1.9 <= time.monotonic() - started < 8
    # Stopping a stopped container is not an error.
    assert daemon.docker("stop", n)[0] == 0
    assert daemon.docker("rm", n)[:2] == (0, f"{n}\n")
    assert n not in daemon.docker_ok("ps", "-a", "--format", "{{.Names}}").split()


def test_stop_signal_is_sent_by_stop(daemon: Daemon, container) -> None:
    script = 'trap "echo got-usr1; exit 7" USR1; while true; do sleep 0.1; done'
    cid = container("--stop-signal", "SIGUSR1", "busybox", "sh", "-c", script)
    assert _inspect(daemon, cid)["Config"]["StopSignal"] == "SIGUSR1"
    started = time.monotonic()
    daemon.docker_ok("stop", cid, timeout=30)
    assert time.monotonic() - started < 5
    assert _inspect(daemon, cid)["State"]["ExitCode"] == 7
    assert "got-usr1" in daemon.docker_ok("logs", cid)


def test_kill_and_kill_signal(daemon: Daemon, container) -> None:
    cid = container("busybox", "sh", "-c", 'trap "echo hup; exit 9" HUP; while true; do sleep 0.1; done')
    assert daemon.docker("kill", "-s", "HUP", cid)[0] == 0
    assert daemon.docker_ok("wait", cid).strip() == "9"
    cid2 = container("busybox", "sleep", "100")
    assert daemon.docker("kill", cid2)[:2] == (0, f"{cid2}\n")
    assert daemon.docker_ok("wait", cid2).strip() == "137"
    code, _, err = daemon.docker("kill", cid2)
    assert code == 1 and "is not running" in err, err


def test_wait_prints_exit_code(daemon: Daemon, container) -> None:
    cid = container("busybox", "sh", "-c", "sleep 1; exit 4")
    code, out, err = daemon.docker("wait", cid, timeout=30)
    assert (code, out) == (0, "4\n"), err


def test_restart_runs_the_container_again(daemon: Daemon, container) -> None:
    cid = container("--stop-timeout", "1", "busybox", "sleep", "100")
    before = _inspect(daemon, cid)["State"]
    assert daemon.docker("restart", cid, timeout=30)[:2] == (0, f"{cid}\n")
    after = _inspect(daemon, cid)["State"]
    assert after["Running"] is True
    assert after["Pid"] != before["Pid"] and after["Pid"] > 0
    assert after["StartedAt"] > before["StartedAt"]
    assert _inspect(daemon, cid)["RestartCount"] == 0  # a manual restart is not counted


def test_start_of_a_running_container_is_not_an_error(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "100")
    assert daemon.docker("start", cid)[:2] == (0, f"{cid}\n")


def test_create_then_start_attached(daemon: Daemon, name) -> None:
    n = name("created")
    cid = daemon.docker_ok("create", "--name", n, "busybox", "echo", "created-then-started").strip()
    assert _inspect(daemon, n)["State"]["Status"] == "created"
    try:
        code, out, err = daemon.docker("start", "-a", n)
        assert (code, out) == (0, "created-then-started\n"), err
    finally:
        daemon.docker("rm", "-f", cid)


def test_pause_and_unpause(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "100")
    assert daemon.docker("pause", cid)[0] == 0
    state = _inspect(daemon, cid)["State"]
    assert (state["Status"], state["Paused"], state["Running"]) == ("paused", True, True)
    assert "(Paused)" in daemon.docker_ok("ps", "--filter", f"id={cid}", "--format", "{{.Status}}")
    code, _, err = daemon.docker("pause", cid)
    assert code == 1 and "is already paused" in err, err
    assert daemon.docker("unpause", cid)[0] == 0
    state = _inspect(daemon, cid)["State"]
    assert (state["Status"], state["Paused"]) == ("running", False)
    assert daemon.docker("exec", cid, "true")[0] == 0


def test_top_lists_the_container_processes(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "100")
    code, out, err = daemon.docker("top", cid)
    assert code == 0, err
    header, *rows = out.splitlines()
    assert "PID" in header and "CMD" in header
    assert any(row.rstrip().endswith("sleep 100") for row in rows), out
    pid = _inspect(daemon, cid)["State"]["Pid"]
    assert any(str(pid) in row.split() for row in rows), out


def test_rename(daemon: Daemon, container, name) -> None:
    old, new = name("old"), name("new")
    cid = container("--name", old, "busybox", "sleep", "100")
    assert daemon.docker("rename", old, new)[0] == 0
    assert _inspect(daemon, new)["Id"] == cid
    assert _inspect(daemon, new)["Name"] == f"/{new}"
    code, _, err = daemon.docker("container", "inspect", old)
    assert code == 1 and f"No such container: {old}" in err
