"""RuntimeBackend contract: CliRuntime over every runtime that works here (runc; crun where the
host allows it), with conmon holding the containers."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
from oci_harness import Harness, joined, read_all, read_until

from dockyard.backends.oci_cli import CliRuntime
from dockyard.core.runtime.model import RuntimeStatus
from dockyard.errors import InvalidArgument, NotFound, Unavailable, WrongState

pytestmark = pytest.mark.root


def _process(args: list[str], *, terminal: bool = False) -> dict[str, Any]:
    return {"terminal": terminal, "user": {"uid": 0, "gid": 0}, "args": args,
            "env": ["PATH=/bin", "HOME=/root", *(["TERM=xterm"] if terminal else [])], "cwd": "/"}


def test_lifecycle_states(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sleep", "100"), start=False)
        created = await h.runtime.state(cid)
        assert created is not None and created.status is RuntimeStatus.CREATED and created.pid > 0
        await h.runtime.start(cid)
        running = await h.runtime.state(cid)
        assert running is not None and running.status is RuntimeStatus.RUNNING
        assert await h.runtime.pids(cid) == [running.pid]
        await h.runtime.pause(cid)
        paused = await h.runtime.state(cid)
        assert paused is not None and paused.status is RuntimeStatus.PAUSED
        await h.runtime.resume(cid)
        resumed = await h.runtime.state(cid)
        assert resumed is not None and resumed.status is RuntimeStatus.RUNNING
        await h.runtime.kill(cid, signal.SIGKILL)
        assert await asyncio.wait_for(h.monitor.wait(cid), 20) == 137
        stopped = await h.runtime.state(cid)
        assert stopped is not None and stopped.status is RuntimeStatus.STOPPED
        with pytest.raises(WrongState):
            await h.runtime.kill(cid, signal.SIGTERM)
        await h.runtime.delete(cid)
        assert await h.runtime.state(cid) is None
    asyncio.run(scenario())


def test_state_after_the_process_exits(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("true",))
        await asyncio.wait_for(h.monitor.wait(cid), 20)
        state = await h.runtime.state(cid)
        assert state is not None and state.status is RuntimeStatus.STOPPED
    asyncio.run(scenario())


def test_unknown_container(h: Harness) -> None:
    async def scenario() -> None:
        assert await h.runtime.state("nosuch") is None
        with pytest.raises(NotFound, match="No such container: nosuch"):
            await h.runtime.kill("nosuch", signal.SIGKILL)
        with pytest.raises(NotFound):
            await h.runtime.delete("nosuch")
    asyncio.run(scenario())


def test_missing_runtime_binary_is_unavailable(tmp_path: Path) -> None:
    runtime = CliRuntime("runc", str(tmp_path / "no-runc"), root=tmp_path / "root")
    with pytest.raises(Unavailable):
        asyncio.run(runtime.state("x"))


def test_exec_without_tty_separates_streams_and_reports_exit(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sleep", "100"))
        proc = await h.runtime.exec(cid, _process(["sh", "-c", "echo out; echo err >&2; exit 5"]),
                                    detach=False)
        assert proc.pid > 0
        chunks = await read_all(proc)
        assert joined(chunks, 1) == b"out\n"
        assert joined(chunks, 2) == b"err\n"
        assert await asyncio.wait_for(proc.wait(), 20) == 5
    asyncio.run(scenario())


def test_exec_stdin_eof_reaches_cat(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sleep", "100"))
        proc = await h.runtime.exec(cid, _process(["cat"]), detach=False)
        await proc.write(b"hello cat\n")
        await proc.close_stdin()
        assert joined(await read_all(proc), 1) == b"hello cat\n"
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    asyncio.run(scenario())


def test_exec_with_tty_resize_and_exit_code(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sleep", "100"))
        proc = await h.runtime.exec(cid, _process(["sh"], terminal=True), detach=False)
        assert proc.pid > 0
        await proc.resize(40, 120)
        await proc.write(b"stty size; tty\n")
        seen = await read_until(proc, b"/dev/pts/")
        assert b"40 120" in seen
        await proc.write(b"exit 7\n")
        await read_all(proc)
        assert await asyncio.wait_for(proc.wait(), 20) == 7
        await proc.close()
    asyncio.run(scenario())


def test_detached_exec_returns_at_once_with_a_pid(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sleep", "100"))
        proc = await asyncio.wait_for(
            h.runtime.exec(cid, _process(["sh", "-c", "sleep 0.3; exit 4"]), detach=True), 10)
        assert proc.pid > 0
        assert proc.pid in await h.runtime.pids(cid)
        assert await proc.read() is None
        assert await asyncio.wait_for(proc.wait(), 20) == 4
    asyncio.run(scenario())


def test_exec_of_missing_executable_fails_visibly(h: Harness) -> None:
    """The runtime's error is raised, not mixed into the process's stderr: the daemon turns it
    into the exec's exit code (127) and Docker's message on the stream."""
    async def scenario() -> None:
        cid = await h.run(("sleep", "100"))
        with pytest.raises(InvalidArgument, match="nosuchcmd") as info:
            await h.runtime.exec(cid, _process(["nosuchcmd"]), detach=False)
        assert "level=error" not in str(info.value)
        # The container is unharmed and still runs commands.
        proc = await h.runtime.exec(cid, _process(["echo", "still here"]), detach=False)
        assert joined(await read_all(proc), 1) == b"still here\n"
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    asyncio.run(scenario())


def test_detached_exec_errors_are_raised(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sleep", "100"))
        with pytest.raises(InvalidArgument, match="nosuchcmd"):
            await h.runtime.exec(cid, _process(["nosuchcmd"]), detach=True)
        with pytest.raises(InvalidArgument, match="nosuchcmd"):
            await h.runtime.exec(cid, _process(["nosuchcmd"], terminal=True), detach=False)
        await h.runtime.kill(cid, signal.SIGKILL)
        await asyncio.wait_for(h.monitor.wait(cid), 20)
        with pytest.raises(WrongState):
            await h.runtime.exec(cid, _process(["true"]), detach=True)
    asyncio.run(scenario())


def test_tty_exec_in_a_stopped_container_fails_fast(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("true",))
        await asyncio.wait_for(h.monitor.wait(cid), 20)
        with pytest.raises(WrongState):
            await asyncio.wait_for(h.runtime.exec(cid, _process(["sh"], terminal=True), detach=False), 10)
    asyncio.run(scenario())
