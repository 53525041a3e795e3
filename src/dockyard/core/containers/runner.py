"""Running containers: start through the monitor and runtime, signals, pause, and exit watching.

The container service decides *whether* a verb applies (state checks, Docker's messages); the
runner does the work and records the outcome. One exit watcher task per running container waits
on the monitor, then unmounts the rootfs, deletes the runtime state and records the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import re
import shutil
import signal as signals
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from dockyard.config import DaemonConfig
from dockyard.core.containers import events as container_events
from dockyard.core.containers.bundle import find_init, spec_input
from dockyard.core.containers.defaults import apply_daemon_defaults
from dockyard.core.containers.execs import ExecSession, exec_process, read_bundle_process
from dockyard.core.containers.hardening import rootfs_mounts, security_of
from dockyard.core.containers.health import HealthMonitor
from dockyard.core.containers.model import Container, ContainerPaths, State
from dockyard.core.containers.networking import PendingJoin
from dockyard.core.containers.store import LiveContainers
from dockyard.core.containers.teardown import DeferredRemovals
from dockyard.core.events import EventBus
from dockyard.core.ids import ContainerId
from dockyard.core.layers.snapshots import Mounter, Snapshotter
from dockyard.core.logging.service import LogService
from dockyard.core.runtime.backend import ExecProcess, Monitor, MonitorStart, RuntimeBackend, StdioStream
from dockyard.core.runtime.userns import UsernsRemap
from dockyard.core.timestamps import now_rfc3339
from dockyard.core.trace import span
from dockyard.errors import DockyardError, InvalidArgument

log = logging.getLogger(__name__)

_KILL_GRACE_SECONDS = 10.0


def parse_signal(value: str | int) -> int:
    """``SIGTERM``, ``TERM``, ``term`` or ``15`` -> 15; Docker's 400 for anything else."""
    text = str(value).strip()
    if text.isdigit():
        number = int(text)
        if 0 < number < 65:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        with contextlib.suppress(KeyError):
            return int(signals.Signals[name])
    raise InvalidArgument(f"Invalid signal: {value}")


def _exit_code_of(message: str) -> int:
    # moby's setExitCodeFromError: the CLI shows these codes for a command that cannot run.
    # runc: "executable file not found in $PATH"; crun: "executable file `x` not found in $PATH".
    lowered = message.lower()
    if ("executable file" in lowered and "not found" in lowered) or "no such file or directory" in lowered:
        return 127
    if "permission denied" in message:
        return 126
    return 128


# crun's wording of a missing command; the docker CLI picks exit code 127 by runc's (Docker's) text.
_CRUN_NOT_FOUND = re.compile(r"executable file `([^`]*)` not found in \$PATH(?:: No such file or directory)?")


async def _failure_of(task: asyncio.Future[None]) -> BaseException | None:
    """What a task raised once it has ended, None if nothing (a cancellation of the caller still
    reaches the caller: ``wait`` neither raises the task's error nor cancels it)."""
    await asyncio.wait([task])
    return None if task.cancelled() else task.exception()


def start_error(exc: DockyardError) -> DockyardError:
    message = _CRUN_NOT_FOUND.sub(r'exec: "\1": executable file not found in $PATH', str(exc))
    if not message.startswith("failed to create task"):
        message = f"failed to create task for container: {message}"
    if _exit_code_of(message) in (126, 127):
        return InvalidArgument(message)
    return type(exc)(message)


class Runner:
    """Does the running part of Docker's verbs for the container service."""

    def __init__(self, *, config: DaemonConfig, live: LiveContainers, snapshotter: Snapshotter,
                 mounter: Mounter, runtimes: dict[str, RuntimeBackend], monitor: Monitor,
                 events: EventBus | None = None) -> None:
        self._config = config
        self._events = events or EventBus()
        self.health = HealthMonitor(live=live, runtime_of=self.runtime_of,
                                    bundle_of=lambda c: self.paths(c).bundle, events=self._events)
        self._live = live
        self._snapshotter = snapshotter
        self._mounter = mounter
        self._runtimes = runtimes
        self._monitor = monitor
        self._watchers: dict[ContainerId, asyncio.Task[None]] = {}
        # Watchers past the monitor's answer, recording an exit (and queueing an auto-removal):
        # close() lets them finish instead of cancelling them half-way (see close).
        self._exiting: dict[ContainerId, asyncio.Task[None]] = {}
        self._attachers: dict[ContainerId, list[asyncio.Future[StdioStream]]] = {}
        self._exec_watchers: set[asyncio.Task[None]] = set()
        # Set by the service: called after an exit is recorded (AutoRemove).
        self.on_exit: Callable[[Container], Awaitable[None]] | None = None
        # Set by the service: volumes mounted and filled (copy-up) once the rootfs is mounted.
        self.prepare_mounts: Callable[[Container, ContainerPaths], Awaitable[None]] | None = None
        # Set by the service: undoes prepare_mounts when the start fails after it.
        self.release_mounts: Callable[[Container], Awaitable[None]] | None = None
        # Set by the service: tears the container's endpoints down before its exit is recorded, so
        # a restart or a waiter that removes it never races the teardown (moby's releaseNetwork).
        self.release_network: Callable[[Container], Awaitable[None]] | None = None
        # Set by the service: whether the OOM killer struck, read before the cgroup is deleted.
        self.oom_killed: Callable[[Container], Awaitable[bool]] | None = None
        # Set by the service: the daemon's --userns-remap ranges (core/runtime/userns.py), None without.
        self.userns: UsernsRemap | None = None
        # Set by the service: the legacy links' environment of a container (networking.link_env).
        self.linked_env: Callable[[Container], list[str]] | None = None
        # Set by the daemon: log drivers and the shipper of conmon's spool (core/logging/service.py).
        self.logging: LogService | None = None
        # Set by the service: whether a container's teardown (runtime state, mount, endpoints,
        # snapshot) may wait until after its removal has been answered (core/containers/teardown.py).
        self.deferrable: Callable[[Container], bool] | None = None
        self._removals = DeferredRemovals()
        # Containers whose runtime and monitor state is gone since their last exit: a removal that
        # follows skips a second ``runc delete`` (a process spawn on the path of every --rm).
        self._forgotten: set[ContainerId] = set()
        # Exited containers whose release was left to their removal (see finish).
        self._deferred: set[ContainerId] = set()
        self._settling: dict[ContainerId, asyncio.Lock] = {}

    def paths(self, container: Container) -> ContainerPaths:
        return ContainerPaths.of(self._config.containers_dir, container.id)

    def runtime_of(self, container: Container) -> RuntimeBackend:
        runtime = self._runtimes.get(container.runtime)
        if runtime is None:
            raise InvalidArgument(f"unknown or invalid runtime name: {container.runtime}")
        return runtime

    # ---- start ----
    async def start(self, container: Container, network: str,
                    pending: PendingJoin | None = None) -> None:
        """``pending``: the network join's rest (core/containers/networking.py), plumbed beside
        the runtime's create or after it, always before the container's process runs."""
        paths = self.paths(container)
        runtime = self.runtime_of(container)
        cid = container.id
        self._forgotten.discard(cid)
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._fail_attachers, container.id)
            with span("start.mount", cid):
                await asyncio.to_thread(self._mount, container, paths)
            stack.push_async_callback(asyncio.to_thread, self._mounter.unmount, paths.rootfs)
            if self.prepare_mounts is not None:
                with span("start.volumes", cid):
                    await self.prepare_mounts(container, paths)
                if self.release_mounts is not None:
                    stack.push_async_callback(self.release_mounts, container)  # plugin Unmount
            linked = self.linked_env(container) if self.linked_env is not None else []
            with span("start.spec", cid):
                await asyncio.to_thread(self._write_bundle, container, paths, network, linked)
            stack.push_async_callback(self._forget, container, runtime)
            plumbing = None
            try:
                with span("start.logs", cid):
                    log_mode, log_size = await self._open_logs(container, paths, stack)
                if pending is not None and pending.beside_create is not None:
                    # Started with the create, not before: on two cores, beside the spec's writing
                    # it only slowed both down.
                    plumbing = asyncio.ensure_future(pending.beside_create())
                    # A failed start waits for it to end (a failed join undoes itself): the
                    # caller's teardown must not race its endpoints.
                    stack.push_async_callback(_failure_of, plumbing)
                with span("start.conmon+runtime.create", cid):
                    pid = await self._monitor.create(MonitorStart(
                        container_id=container.id, bundle=paths.bundle, runtime=runtime,
                        log_path=paths.log, terminal=container.config.tty,
                        stdin=container.config.open_stdin, stdin_once=container.config.stdin_once,
                        log_mode=log_mode, log_size_max=log_size, cgroups_path=container.cgroups_path))
            except DockyardError as exc:
                # A join that failed took its sandbox away from under the create: its error is the cause.
                if plumbing is not None and isinstance(cause := await _failure_of(plumbing), DockyardError):
                    raise cause from None
                raise self._failed(container, exc) from exc
            if plumbing is not None:
                with span("start.net_wait", cid):
                    await plumbing  # its error as the join's own, as when it came first
            try:
                if pending is not None and pending.after_create is not None:
                    with span("start.late_join", cid):
                        await pending.after_create(pid)
                with span("start.attach", cid):
                    await self._hand_attachers(container.id)
                with span("runtime.start", cid):
                    await runtime.start(container.id)
            except DockyardError as exc:
                raise self._failed(container, exc) from exc
            container.move(State.RUNNING)
            container.pid, container.exit_code, container.error = pid, 0, ""
            container.oom_killed = False  # moby's SetRunning clears the last run's OOMKilled
            container.started_at = now_rfc3339()
            self._live.save(container)
            self.watch(container)
            stack.pop_all()
        container_events.emit(self._events, container, "start")
        self.health.start(container)
        log.info("started container %s (pid %d)", container.id[:12], container.pid)

    def _failed(self, container: Container, exc: DockyardError) -> DockyardError:
        """Docker's error for a failed start, recorded as the container's."""
        error = start_error(exc)
        container.exit_code = _exit_code_of(str(error))
        container.error = str(error)
        self._live.save(container)
        return error

    async def _open_logs(self, container: Container, paths: ContainerPaths,
                         stack: AsyncExitStack) -> tuple[str, int]:
        if self.logging is None:
            return "k8s-file", 0
        await self.logging.open(container, paths.root)
        stack.push_async_callback(self.logging.abandon, container)
        return self.logging.spool_mode(container), self.logging.spool_size(container)

    def _mount(self, container: Container, paths: ContainerPaths) -> None:
        paths.rootfs.mkdir(parents=True, exist_ok=True)
        self._mounter.unmount(paths.rootfs)  # a leftover from a crash would hide the fresh mount
        mounts = rootfs_mounts(container, self._snapshotter.mounts(container.id), self._config,
                               self.userns)
        self._mounter.mount(mounts, paths.rootfs)

    def _write_bundle(self, container: Container, paths: ContainerPaths, network: str,
                      linked: list[str]) -> None:
        from dockyard.core.runtime.spec import build_spec
        from dockyard.core.runtime.users import home_of, resolve_user

        user = resolve_user(paths.rootfs, container.config.user)
        home = home_of(paths.rootfs, user.uid)
        # The daemon's --default-ulimit and --seccomp-profile apply here, unrecorded, as dockerd's.
        container = copy.copy(container)
        container.host = copy.copy(container.host)
        container.host.raw = apply_daemon_defaults(container.host.raw, self._config)
        security = security_of(container, paths.rootfs, self._live.get, self._config, self.userns)
        spec = build_spec(spec_input(container, paths, user=user, home=home or "/", network=network,
                                     init_path=find_init(), security=security, linked_env=linked))
        tmp = paths.bundle / "config.json.tmp"
        tmp.write_text(json.dumps(spec))  # no indent: json's C encoder then, a third of the spec's time
        tmp.replace(paths.bundle / "config.json")

    async def _forget(self, container: Container, runtime: RuntimeBackend) -> None:
        """Remove the runtime's and the monitor's state of a container that is not running."""
        try:
            await runtime.delete(container.id, force=True)
        except DockyardError as exc:
            log.debug("runtime delete %s: %s", container.id[:12], exc)
        try:
            await self._monitor.cleanup(container.id)
        except DockyardError as exc:
            log.debug("monitor cleanup %s: %s", container.id[:12], exc)

    # ---- attach before start ----
    def attach_after_start(self, container_id: ContainerId) -> asyncio.Future[StdioStream]:
        """A stream connected once the container starts, before its process runs, so no output
        is lost (``docker run -i`` attaches before it starts)."""
        future: asyncio.Future[StdioStream] = asyncio.get_running_loop().create_future()
        self._attachers.setdefault(container_id, []).append(future)
        return future

    async def _hand_attachers(self, container_id: ContainerId) -> None:
        for future in self._attachers.pop(container_id, []):
            if future.done():
                continue
            try:
                stream = await self._monitor.attach(container_id)
            except DockyardError as exc:
                future.set_exception(exc)
                continue
            if future.done():  # the client went away meanwhile
                await stream.close()
            else:
                future.set_result(stream)

    async def _fail_attachers(self, container_id: ContainerId) -> None:
        for future in self._attachers.pop(container_id, []):
            if not future.done():
                future.cancel()

    # ---- signals ----
    async def kill(self, container: Container, signum: int) -> None:
        runtime = self.runtime_of(container)
        # moby's killWithSignal: every signal sent, by `docker kill` or `docker stop`, is an event.
        container_events.emit(self._events, container, "kill", {"signal": str(signum)})
        try:
            await runtime.kill(container.id, signum, all_processes=signum == signals.SIGKILL)
        except DockyardError:
            if container.state.is_active and self._monitor.is_alive(container.id):
                raise
            return  # it exited meanwhile
        if container.state == State.PAUSED:
            # A frozen process only acts on the signal once thawed (moby does the same).
            with contextlib.suppress(DockyardError):
                await runtime.resume(container.id)

    async def stop(self, container: Container, signum: int, timeout: int) -> None:
        await self.kill(container, signum)
        if timeout < 0:
            await self.wait_stopped(container, None)
            return
        if await self.wait_stopped(container, float(timeout)):
            return
        log.info("container %s did not stop after %ds: killing it", container.id[:12], timeout)
        await self.kill(container, signals.SIGKILL)
        await self.wait_stopped(container, _KILL_GRACE_SECONDS)

    async def wait_stopped(self, container: Container, timeout: float | None) -> bool:
        try:
            await asyncio.wait_for(
                self._live.wait_until(lambda: not container.state.is_active), timeout)
        except TimeoutError:
            return False
        return True

    async def pause(self, container: Container) -> None:
        await self.runtime_of(container).pause(container.id)
        container.move(State.PAUSED)
        self._live.save(container)
        container_events.emit(self._events, container, "pause")

    async def resume(self, container: Container) -> None:
        await self.runtime_of(container).resume(container.id)
        container.move(State.RUNNING)
        self._live.save(container)
        container_events.emit(self._events, container, "unpause")

    async def resize(self, container: Container, height: int, width: int) -> None:
        await self._monitor.resize(container.id, height, width)

    async def attach(self, container: Container) -> StdioStream:
        return await self._monitor.attach(container.id)

    # ---- exits ----
    def watch(self, container: Container) -> None:
        task = asyncio.get_running_loop().create_task(self._watch(container))
        self._watchers[container.id] = task
        # Only this task's own entry: a restart during finish() registers the next watcher.
        task.add_done_callback(lambda t: _discard(self._watchers, container.id, t))
        if self.logging is not None:
            self.logging.ship(container, self.paths(container).root, lambda: container.state.is_active)

    async def _watch(self, container: Container) -> None:
        try:
            with span("run.until_exit_seen", container.id):
                code = await self._monitor.wait(container.id)
        except DockyardError as exc:
            log.warning("lost the monitor of %s: %s", container.id[:12], exc)
            recorded = self._monitor.exit_code(container.id)
            code = 255 if recorded is None else recorded
        task = asyncio.current_task()
        assert task is not None
        _discard(self._watchers, container.id, task)
        self._exiting[container.id] = task
        try:
            await self.finish(container, code)
        finally:
            _discard(self._exiting, container.id, task)

    async def finish(self, container: Container, code: int) -> None:
        """Record an exit: clean up the mount and runtime state first, so a waiter that then
        removes the container finds nothing busy."""
        paths = self.paths(container)
        cid = container.id
        if self.logging is not None:  # before the exit shows: docker logs after wait sees it all
            with span("exit.drain_logs", cid):
                await self.logging.drain(container, paths.root)
        if self.oom_killed is not None:
            with span("exit.oom_check", cid):
                container.oom_killed = await self.oom_killed(container)
        if container.state == State.REMOVING:
            pass  # a removal in progress (``rm -f`` of a running container) releases it all
        elif self.deferrable is None or not self.deferrable(container):
            with span("exit.release", cid):
                await self._release(container)
        else:
            self._deferred.add(cid)  # released by the removal that follows, or by a new start
        container.exit_code, container.pid = code, 0
        container.finished_at = now_rfc3339()
        if container.state.is_active:
            container.move(State.EXITED)
        self.health.stop(container)
        self._live.record_exit(container)
        if container.oom_killed:
            container_events.emit(self._events, container, "oom")
        container_events.emit(self._events, container, "die", {"exitCode": str(code)})
        log.info("container %s exited with %d", container.id[:12], code)
        try:
            if self.on_exit is not None:
                with span("exit.after (autoremove)", cid):
                    await self.on_exit(container)
        finally:
            # The auto-removal that a deferred release waits for did not happen (it failed, or
            # on_exit did): release now, or the sandbox, veth and mount stay until an ``rm``.
            await self.settle_exit(container)

    async def _release(self, container: Container) -> None:
        """What a stopped container holds while it exists: runtime and monitor state, the rootfs
        mount, its endpoints. The three touch different things, so they run side by side (the veth
        deletion waits out an RCU grace period; ``runc delete`` is a process spawn)."""
        cid = container.id

        async def forget() -> None:
            if cid in self._forgotten:
                return
            with span("exit.runtime_delete", cid), contextlib.suppress(InvalidArgument):
                await self._forget(container, self.runtime_of(container))
            self._forgotten.add(cid)

        async def unmount() -> None:
            with span("exit.unmount", cid):
                try:
                    await asyncio.to_thread(self._mounter.unmount, self.paths(container).rootfs)
                except (DockyardError, OSError) as exc:
                    log.warning("unmount of %s: %s", cid[:12], exc)

        async def network() -> None:
            if self.release_network is not None:
                with span("exit.network", cid):
                    await self.release_network(container)

        await asyncio.gather(forget(), unmount(), network())

    async def settle_exit(self, container: Container) -> None:
        """Before a start: release what the last exit left to a removal that has not come (a
        ``--rm`` container started again before its auto-removal)."""
        # One at a time: the exit's own settling may still be releasing when a start (``docker
        # restart`` of a --rm container) comes; the start must wait for it, not race it.
        lock = self._settling.setdefault(container.id, asyncio.Lock())
        async with lock:
            if container.id in self._deferred:
                self._deferred.discard(container.id)
                await self._release(container)

    async def reconnect(self, container: Container) -> None:
        """After a daemon restart: keep a live container, or record the exit of a dead one."""
        if not container.state.is_active:
            return
        if self._monitor.is_alive(container.id):
            paths = self.paths(container)
            if not await asyncio.to_thread(os.path.ismount, paths.rootfs):
                await asyncio.to_thread(self._mount, container, paths)
            self.watch(container)
            self.health.start(container, fresh=False)
            return
        recorded = self._monitor.exit_code(container.id)
        await self.finish(container, 255 if recorded is None else recorded)

    async def close(self) -> None:
        """Stop watching (running containers keep running; the next daemon reconnects), but let
        exits being recorded finish and every deferred removal they queue complete: a daemon
        stopped right after a ``--rm`` container exits leaves no sandbox, veth, mount or files."""
        tasks = list(self._watchers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while self._exiting or self._removals.pending():
            await asyncio.gather(*list(self._exiting.values()), return_exceptions=True)
            await self._removals.settle()
        await self.health.close()
        if self.logging is not None:
            await self.logging.close()
        for futures in self._attachers.values():
            for future in futures:
                future.cancel()
        self._attachers.clear()

    # ---- removal and exec ----
    async def finish_removal(self, container: Container) -> None:
        """Delete everything a stopped container holds: runtime state, mount, endpoints, snapshot,
        files. The container's directory goes last: until then a daemon killed meanwhile finds it
        without a record at start and removes the rest (``ContainerService.open``)."""
        paths = self.paths(container)
        with span("rm.release", container.id):
            await self._release(container)
        self._forgotten.discard(container.id)
        self._deferred.discard(container.id)
        self._settling.pop(container.id, None)
        with span("rm.files", container.id):
            await asyncio.to_thread(self._mounter.unmount, paths.rootfs)
            await asyncio.to_thread(self._snapshotter.remove, container.id)
            await asyncio.to_thread(shutil.rmtree, paths.root, True)

    def defers_removal(self, container: Container) -> bool:
        """Whether :meth:`remove_later` may finish this container's removal after the answer."""
        return self.deferrable is not None and self.deferrable(container)

    def remove_later(self, container: Container) -> None:
        """Finish the removal in the background: the record is already gone, so the name is free
        and a waiter for ``removed`` answers now (see core/containers/teardown.py)."""
        self._deferred.discard(container.id)  # the background removal releases it
        self._removals.start(container.id, lambda: self.finish_removal(container))

    async def forget_orphan(self, container_id: ContainerId) -> None:
        """The runtime and monitor state of a container whose record is gone (a daemon killed in
        a deferred removal): every runtime is asked, since the record said which one."""
        for runtime in self._runtimes.values():
            with contextlib.suppress(DockyardError):
                await runtime.delete(container_id, force=True)
        with contextlib.suppress(DockyardError):
            await self._monitor.cleanup(container_id)

    async def exec(self, container: Container, session: ExecSession, *, detach: bool) -> ExecProcess:
        from dockyard.core.runtime.users import resolve_user

        paths = self.paths(container)
        base = await asyncio.to_thread(read_bundle_process, paths.bundle)
        user = None
        if session.config.user:
            user = await asyncio.to_thread(resolve_user, paths.rootfs, session.config.user)
        env = [str(e) for e in base.get("env") or []]
        process = exec_process(base, session.config, env=env, cwd=str(base.get("cwd") or "/"),
                               user=user)
        try:
            proc = await self.runtime_of(container).exec(container.id, process, detach=detach)
        except DockyardError as exc:
            # moby: 127 when the command does not exist, 126 when it cannot be run.
            session.exit_code = 127 if _exit_code_of(str(exc)) == 127 else 126
            session.done.set()
            raise
        session.process, session.pid, session.running = proc, proc.pid, True
        container_events.emit(self._events, container, f"exec_start: {' '.join(session.config.cmd)}",
                              {"execID": session.id})
        task = asyncio.get_running_loop().create_task(self._watch_exec(container, session, proc))
        self._exec_watchers.add(task)
        task.add_done_callback(self._exec_watchers.discard)
        return proc

    async def _watch_exec(self, container: Container, session: ExecSession, proc: ExecProcess) -> None:
        try:
            session.exit_code = await proc.wait()
        except DockyardError as exc:
            log.warning("exec %s: %s", session.id[:12], exc)
            session.exit_code = 126
        finally:
            session.running = False
            session.done.set()
        container_events.emit(self._events, container, "exec_die",
                              {"execID": session.id, "exitCode": str(session.exit_code)})


def _discard(tasks: dict[ContainerId, asyncio.Task[None]], key: ContainerId,
             task: asyncio.Task[None]) -> None:
    if tasks.get(key) is task:
        del tasks[key]
