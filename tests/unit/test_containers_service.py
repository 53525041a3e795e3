"""ContainerService over fakes: lifecycle verbs, names, rollback, wait, auto-remove, reconnect."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from test_containers_fakes import Harness

from dockyard.core.containers.model import ContainerConfig, CreateRequest, HostOptions, State
from dockyard.core.containers.names import NAME_RE
from dockyard.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    NotModified,
    WrongState,
)

pytestmark = pytest.mark.asyncio


def request(name: str = "", cmd: list[str] | None = None, **host: object) -> CreateRequest:
    return CreateRequest(image="busybox", name=name,
                         config=ContainerConfig(image="busybox", cmd=cmd),
                         host=HostOptions(**host))  # type: ignore[arg-type]


@pytest.fixture
async def h(tmp_path: Path) -> Harness:
    harness = Harness(tmp_path)
    await harness.service.open()
    return harness


async def test_create_writes_files_and_record(h: Harness) -> None:
    c = await h.service.create(request("web", ["echo", "hi"]))
    assert c.name == "/web" and c.state == State.CREATED
    assert (c.path, c.args) == ("echo", ["hi"])
    paths = h.service.paths(c)
    hosts = paths.hosts.read_text()
    assert "127.0.0.1\tlocalhost" in hosts and c.id[:12] in hosts
    assert paths.hostname.read_text() == c.id[:12] + "\n"
    assert h.snapshotter.exists(c.id)
    assert (await h.service.inspect("web")).id == c.id
    assert (await h.service.inspect(c.id[:5])).id == c.id
    assert [u.container_id for u in await h.service.image_users(c.image_id)] == [c.id]


async def test_name_conflict_uses_dockers_text(h: Harness) -> None:
    first = await h.service.create(request("xx"))
    with pytest.raises(AlreadyExists) as err:
        await h.service.create(request("xx"))
    assert str(err.value) == (
        f'Conflict. The container name "/xx" is already in use by container "{first.id}". '
        "You have to remove (or rename) that container to be able to reuse that name.")
    with pytest.raises(InvalidArgument):
        await h.service.create(request("-bad name"))


async def test_generated_names_look_like_dockers(h: Harness) -> None:
    c = await h.service.create(request())
    assert NAME_RE.match(c.name) and re.match(r"^/[a-z]+_[a-z]+\d?$", c.name)


async def test_missing_image_is_not_found(h: Harness) -> None:
    with pytest.raises(NotFound, match="No such image: nope:latest"):
        await h.service.create(CreateRequest(image="nope:latest"))


async def test_failed_create_leaves_nothing(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("dockyard.core.containers.service.write_host_files", boom)
    with pytest.raises(OSError):
        await h.service.create(request("web"))
    assert await h.service.list(all=True) == []
    assert not any(h.snapshotter.root.iterdir()) if h.snapshotter.root.exists() else True
    assert not any(h.config.containers_dir.iterdir())
    h.snapshotter.fail_prepare = True
    monkeypatch.undo()
    with pytest.raises(InvalidArgument):
        await h.service.create(request("web"))
    assert h.db.query("SELECT id FROM containers") == []


async def test_start_stop_and_states(h: Harness) -> None:
    c = await h.service.create(request("web", ["sleep", "9"]))
    waiter = h.service.wait("web", "next-exit")
    await h.service.start("web")
    assert c.state == State.RUNNING and c.pid == 4242
    assert h.service.paths(c).rootfs in h.mounter.mounted
    assert (h.service.paths(c).bundle / "config.json").exists()
    with pytest.raises(NotModified):
        await h.service.start("web")
    await h.service.stop("web", timeout=1)
    assert c.state == State.EXITED and c.exit_code == 143
    assert (await waiter).status_code == 143
    assert h.service.paths(c).rootfs not in h.mounter.mounted
    assert c.id in h.runtime.deleted
    with pytest.raises(NotModified):
        await h.service.stop("web")
    with pytest.raises(WrongState) as err:
        await h.service.kill("web")
    assert str(err.value) == f"Cannot kill container: web: container {c.id} is not running"


async def test_stop_escalates_to_sigkill(h: Harness) -> None:
    await h.service.create(request("stubborn"))
    await h.service.start("stubborn")
    h.runtime.ignore_signals.add(15)
    await h.service.stop("stubborn", timeout=0)
    c = await h.service.inspect("stubborn")
    assert c.exit_code == 137 and [s for _, s in h.runtime.signals] == [15, 9]


async def test_start_failure_surfaces_runtime_message(h: Harness) -> None:
    c = await h.service.create(request("bad", ["nosuchcmd"]))
    h.runtime.start_error = InvalidArgument(
        'exec: "nosuchcmd": executable file not found in $PATH: unknown')
    with pytest.raises(InvalidArgument, match="failed to create task for container: exec"):
        await h.service.start("bad")
    assert c.state == State.CREATED and c.exit_code == 127
    assert h.service.paths(c).rootfs not in h.mounter.mounted
    assert c.id in h.runtime.deleted


async def test_remove_running_needs_force(h: Harness) -> None:
    c = await h.service.create(request("web"))
    await h.service.start("web")
    with pytest.raises(WrongState) as err:
        await h.service.remove("web")
    assert str(err.value) == ('cannot remove container "/web": container is running: '
                              "stop the container before removing or force remove")
    await h.service.remove("web", force=True)
    with pytest.raises(NotFound, match="No such container: web"):
        await h.service.inspect("web")
    assert not h.snapshotter.exists(c.id) and not h.service.paths(c).root.exists()


async def test_auto_remove_and_wait_removed(h: Harness) -> None:
    c = await h.service.create(request("tmp", auto_remove=True))
    waiter = h.service.wait("tmp", "removed")
    await h.service.start("tmp")
    h.monitor.exit(c.id, 3)
    result = await asyncio.wait_for(waiter, 2)
    assert result.status_code == 3
    assert await h.service.list(all=True) == []


async def test_a_failed_auto_removal_still_releases_what_the_exit_left(h: Harness) -> None:
    """The release of a --rm container waits for its removal (core/containers/teardown.py); when
    that removal fails, the exit releases the runtime state and the mount itself."""
    c = await h.service.create(request("tmp-fail", auto_remove=True))

    async def refuse(ref: str, *, force: bool = False, volumes: bool = False) -> None:
        raise WrongState("removal refused for the test")

    h.service.remove = refuse  # type: ignore[method-assign]
    await h.service.start("tmp-fail")
    rootfs = h.service.paths(c).rootfs
    assert rootfs in h.mounter.mounted
    h.monitor.exit(c.id, 0)
    await asyncio.wait_for(h.service.wait("tmp-fail", "not-running"), 2)
    for _ in range(100):  # the exit's bookkeeping finishes just after the waiter's answer
        if c.id in h.runtime.deleted and rootfs not in h.mounter.mounted:
            break
        await asyncio.sleep(0.01)
    assert c.id in h.runtime.deleted and rootfs not in h.mounter.mounted


async def test_pause_unpause_and_transition_table(h: Harness) -> None:
    c = await h.service.create(request("pp"))
    with pytest.raises(WrongState):
        await h.service.pause("pp")
    await h.service.start("pp")
    await h.service.pause("pp")
    assert c.state == State.PAUSED and await h.service.counts() == (0, 1, 0)
    with pytest.raises(WrongState):
        await h.service.start("pp")
    await h.service.unpause("pp")
    assert c.state == State.RUNNING
    with pytest.raises(WrongState):
        State.CREATED.check(State.PAUSED)
    with pytest.raises(WrongState):
        State.DEAD.check(State.RUNNING)
    State.EXITED.check(State.RUNNING)


async def test_rename(h: Harness) -> None:
    await h.service.create(request("aa"))
    other = await h.service.create(request("bb"))
    with pytest.raises(AlreadyExists):
        await h.service.rename("aa", "bb")
    await h.service.rename("aa", "cc")
    assert (await h.service.inspect("cc")).name == "/cc"
    assert (await h.service.inspect("/bb")).id == other.id


async def test_reconnect_after_restart_records_exit(h: Harness) -> None:
    c = await h.service.create(request("web"))
    await h.service.start("web")
    await h.service.close()
    # The container died while no daemon ran: its monitor recorded 7.
    h.monitor.exits[c.id] = asyncio.get_running_loop().create_future()
    h.monitor.exits[c.id].set_result(7)
    fresh = h.new_service()
    await fresh.open()
    again = await fresh.inspect("web")
    assert again.state == State.EXITED and again.exit_code == 7


async def test_reconnect_keeps_live_container(h: Harness) -> None:
    c = await h.service.create(request("web"))
    await h.service.start("web")
    await h.service.close()
    fresh = h.new_service()
    await fresh.open()
    assert (await fresh.inspect("web")).state == State.RUNNING
    h.monitor.exit(c.id, 0)
    await asyncio.wait_for(fresh.wait("web"), 2)
    assert (await fresh.inspect("web")).state == State.EXITED


async def test_attach_before_start_gets_stream_at_start(h: Harness) -> None:
    c = await h.service.create(request("ii"))
    pending = h.service.attach(c)
    assert not pending.done()
    await h.service.start("ii")
    stream = await asyncio.wait_for(pending, 1)
    assert await stream.read() == (1, b"hello\n")


async def test_exec_session(h: Harness) -> None:
    from dockyard.core.containers.execs import ExecConfig

    c = await h.service.create(request("ee"))
    with pytest.raises(WrongState, match="is not running"):
        await h.service.execs.create("ee", ExecConfig(cmd=["ls"]))
    await h.service.start("ee")
    session = await h.service.execs.create("ee", ExecConfig(cmd=["ls", "-l"], env=["A=1"]))
    process = await h.service.execs.start(session.id)
    assert process is not None
    assert await h.service.execs.wait(session.id) == 3
    assert h.service.execs.inspect(session.id).running is False
    assert h.runtime.exec_processes[0]["args"] == ["ls", "-l"]
    assert "A=1" in h.runtime.exec_processes[0]["env"]
    assert h.service.exec_ids(c) == [session.id]
    with pytest.raises(WrongState):
        await h.service.execs.start(session.id)
    with pytest.raises(NotFound):
        h.service.execs.inspect("nope")


async def test_open_removes_what_a_crash_in_create_left(h: Harness) -> None:
    kept = await h.service.create(request("kept"))
    await h.service.close()
    # A create that crashed after its directory and snapshot were made, before its record.
    orphan = "ab" * 32
    (h.config.containers_dir / orphan).mkdir()
    h.snapshotter.prepare(orphan, None)
    fresh = h.new_service()
    await fresh.open()
    assert not (h.config.containers_dir / orphan).exists()
    assert not h.snapshotter.exists(orphan)
    assert (h.config.containers_dir / kept.id).exists() and h.snapshotter.exists(kept.id)
    assert [c.id for c in await fresh.list(all=True)] == [kept.id]


async def test_commit_goes_on_when_the_container_exits_before_the_pause(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.core.containers.commit import CommitRequest
    from dockyard.core.images.model import Image

    c = await h.service.create(request("leaving", ["sleep", "9"]))
    await h.service.start(c.id)

    async def exited_meanwhile(ref: str) -> None:
        raise WrongState(f"Container {ref} is not running")

    monkeypatch.setattr(h.service, "pause", exited_meanwhile)
    committed: list[Path | None] = []

    class Images:
        async def inspect(self, ref: str) -> Image:
            return await h.images.inspect(ref)

        async def commit(self, parent: Image | None, layer_tar: Path | None, options: object, *,
                         repo: str | None = None, tag: str | None = None) -> Image:
            committed.append(layer_tar)
            assert parent is not None
            return parent

    image = await h.service.commit(CommitRequest(container=c.id), Images())  # type: ignore[arg-type]
    assert committed and image.id == (await h.images.inspect("busybox")).id
