"""Monitor contract: conmon around every runtime that works here (runc; crun where the host allows)."""

from __future__ import annotations

import asyncio
import signal

import pytest
from oci_harness import Harness, joined, read_all, read_until

from dockyard.backends.conmon import ConmonMonitor
from dockyard.errors import InvalidArgument, Unavailable, WrongState

pytestmark = pytest.mark.root


def test_echo_reaches_the_log_and_exit_code_is_zero(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("echo", "hello"))
        assert await asyncio.wait_for(h.monitor.wait(cid), 20) == 0
        assert h.monitor.exit_code(cid) == 0
        assert not h.monitor.is_alive(cid)
        assert " stdout F hello" in h.log(cid)
    asyncio.run(scenario())


def test_exit_status_is_reported(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sh", "-c", "echo oops >&2; exit 3"))
        assert await asyncio.wait_for(h.monitor.wait(cid), 20) == 3
        assert " stderr F oops" in h.log(cid)
    asyncio.run(scenario())


def test_killed_container_reports_128_plus_signal(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sleep", "100"))
        assert h.monitor.is_alive(cid)
        assert h.monitor.exit_code(cid) is None
        await h.runtime.kill(cid, signal.SIGKILL)
        assert await asyncio.wait_for(h.monitor.wait(cid), 20) == 128 + signal.SIGKILL
    asyncio.run(scenario())


def test_sigterm_reaches_the_container(h: Harness) -> None:
    # A pid-1 without a handler ignores SIGTERM (pid namespaces), so the process traps it the way
    # a well-behaved service does and exits as a SIGTERM death would be reported.
    async def scenario() -> None:
        cid = await h.run(("sh", "-c", "trap 'exit 143' TERM; echo ready; while :; do sleep 0.05; done"))
        await asyncio.sleep(0.2)
        await h.runtime.kill(cid, signal.SIGTERM)
        assert await asyncio.wait_for(h.monitor.wait(cid), 20) == 128 + signal.SIGTERM
    asyncio.run(scenario())


def test_missing_executable_is_a_clear_error_and_leaves_nothing(h: Harness) -> None:
    async def scenario() -> None:
        cid, bundle = h.bundle(("nosuchcmd",))
        with pytest.raises(InvalidArgument) as info:
            await h.monitor.create(h.start_spec(cid, bundle))
        # Each runtime words it its own way; both name the command and the $PATH lookup.
        expected = {"runc": 'exec: "nosuchcmd": executable file not found in $PATH',
                    "crun": "executable file `nosuchcmd` not found in $PATH"}[h.runtime.name]
        assert expected in str(info.value)
        assert await h.runtime.state(cid) is None
        assert not h.monitor.is_alive(cid)
        assert not (h.base / "run" / "c" / cid).exists()
    asyncio.run(scenario())


def test_stdin_through_attach_reaches_cat_and_eof_ends_it(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("cat",), stdin=True, stdin_once=True, start=False)
        stream = await h.monitor.attach(cid)
        await h.runtime.start(cid)
        await stream.write(b"ping\n")
        await stream.close_stdin()
        chunks = await read_all(stream)
        assert joined(chunks, 1) == b"ping\n"
        assert await asyncio.wait_for(h.monitor.wait(cid), 20) == 0
        await stream.close()
        assert " stdout F ping" in h.log(cid)
    asyncio.run(scenario())


def test_attach_separates_stdout_and_stderr(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sh", "-c", "read x; echo out; echo err >&2"), stdin=True, stdin_once=True)
        stream = await h.monitor.attach(cid)
        await stream.write(b"go\n")
        chunks = await read_all(stream)
        assert joined(chunks, 1) == b"out\n"
        assert joined(chunks, 2) == b"err\n"
        assert await asyncio.wait_for(h.monitor.wait(cid), 20) == 0
    asyncio.run(scenario())


def test_tty_attach_and_resize(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("sh",), terminal=True, stdin=True, start=False)
        stream = await h.monitor.attach(cid)
        await h.monitor.resize(cid, 30, 100)
        await h.runtime.start(cid)
        await stream.write(b"stty size\n")
        seen = await read_until(stream, b"30 100")
        assert b"30 100" in seen
        await stream.write(b"exit 6\n")
        assert await asyncio.wait_for(h.monitor.wait(cid), 20) == 6
        await stream.close()
    asyncio.run(scenario())


def test_attach_to_an_exited_container_is_refused(h: Harness) -> None:
    async def scenario() -> None:
        cid = await h.run(("true",))
        await asyncio.wait_for(h.monitor.wait(cid), 20)
        with pytest.raises(WrongState):
            await h.monitor.attach(cid)
    asyncio.run(scenario())


def test_a_new_monitor_instance_sees_containers_of_the_old_one(h: Harness) -> None:
    """As after a daemon restart: nothing the monitor needs lives only in memory."""
    async def scenario() -> None:
        cid = await h.run(("sleep", "100"))
        fresh = ConmonMonitor(h.monitor._conmon, exec_root=h.base / "run")
        assert fresh.is_alive(cid)
        waiter = asyncio.create_task(fresh.wait(cid))
        await asyncio.sleep(0.1)
        assert not waiter.done()  # it waits, and it does not spin
        await h.runtime.kill(cid, signal.SIGKILL)
        assert await asyncio.wait_for(waiter, 20) == 137
        assert fresh.exit_code(cid) == 137
        assert not fresh.is_alive(cid)
        await fresh.cleanup(cid)
        assert not (h.base / "run" / "c" / cid).exists()
    asyncio.run(scenario())


def test_container_restarts_under_a_new_monitor_run(h: Harness) -> None:
    """docker start after an exit: the same id and bundle get a fresh conmon and a fresh status."""
    async def scenario() -> None:
        cid, bundle = h.bundle(("sh", "-c", "exit 2"))
        for _ in range(2):
            await h.monitor.create(h.start_spec(cid, bundle))
            assert h.monitor.exit_code(cid) is None
            await h.runtime.start(cid)
            assert await asyncio.wait_for(h.monitor.wait(cid), 20) == 2
            await h.runtime.delete(cid)
    asyncio.run(scenario())


def test_missing_conmon_is_unavailable_and_leaves_nothing(h: Harness) -> None:
    async def scenario() -> None:
        broken = ConmonMonitor(str(h.base / "no-conmon"), exec_root=h.base / "run")
        cid, bundle = h.bundle(("true",))
        with pytest.raises(Unavailable):
            await broken.create(h.start_spec(cid, bundle))
        assert not (h.base / "run" / "c" / cid).exists()
        assert await h.runtime.state(cid) is None
    asyncio.run(scenario())
