"""``CliRuntime``: an OCI runtime (runc, crun) driven through its command line.

Every call is ``<runtime> --root <root> <verb> ...`` with an argument list and a timeout; the
runtime's stderr goes into the error raised. runc and crun log errors as
``time=... level=error msg="..."`` lines; we keep the ``msg`` text, which is what Docker shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from asyncio.subprocess import DEVNULL, PIPE
from pathlib import Path
from typing import Any

from dockyard.backends import runc_fifo
from dockyard.backends.cgroup_reap import reap_cgroup
from dockyard.backends.cgroup_warmup import MigrationWarmup
from dockyard.backends.processes import become_subreaper, reap_adopted_zombies
from dockyard.backends.runc_state import delete_stopped
from dockyard.backends.stdio import DetachedExec, PipeExec, PtyExec
from dockyard.core.runtime.backend import ExecProcess
from dockyard.core.runtime.model import RuntimeState, RuntimeStatus
from dockyard.errors import DockyardError, Internal, InvalidArgument, NotFound, Unavailable, WrongState

log = logging.getLogger(__name__)

TIMEOUT = 60.0  # seconds; a runtime verb that takes longer is stuck (a frozen cgroup, a dead host)
_MSG = re.compile(r'level=(?:error|fatal)\s+msg="((?:[^"\\]|\\.)*)"')


def runtime_message(stderr: bytes) -> str:
    """The runtime's error text without logrus decoration (all error lines, in order)."""
    text = stderr.decode(errors="replace")
    messages = [json.loads(f'"{m}"') for m in _MSG.findall(text)]
    if messages:
        # runc prints the same error through logrus and plainly; keep each text once.
        return ": ".join(dict.fromkeys(messages))
    return text.strip()


# Runtime errors that mean the command cannot run: Docker answers them as the user's mistake
# (the CLI turns them into exit codes 126/127), not as a daemon failure.
USER_ERRORS = ("executable file not found", "no such file or directory", "permission denied",
               "not a directory")


def is_user_error(message: str) -> bool:
    lowered = message.lower()
    return "exec" in lowered and any(marker in lowered for marker in USER_ERRORS)


def _is_missing(message: str, container_id: str) -> bool:
    """runc says "container does not exist"; crun cannot open ``<root>/<id>/status`` or its dir."""
    lowered = message.lower()
    if "container does not exist" in lowered:
        return True
    return f"/{container_id.lower()}" in lowered and "no such file or directory" in lowered


def _error_for(verb: str, container_id: str, message: str) -> DockyardError:
    lowered = message.lower()
    if _is_missing(message, container_id):
        return NotFound(f"No such container: {container_id}")
    if "is paused" in lowered or "paused container" in lowered:
        return WrongState(f"Container {container_id} is paused, unpause the container first")
    # crun's kill of an exited container fails to open its pidfd: "No such process".
    if ("not running" in lowered or "stopped container" in lowered or "not paused" in lowered
            or "no such process" in lowered):
        return WrongState(f"Container {container_id} is not running")
    if is_user_error(message):
        return InvalidArgument(f"OCI runtime {verb} failed: {message}: unknown")
    return Internal(f"OCI runtime {verb} failed: {message}: unknown")


def go_may_raise_nofile(process: dict[str, Any]) -> bool:
    """Whether an exec's soft RLIMIT_NOFILE depends on the race in runc 1.1 (backends/cgroup_warmup.py):
    runc init's Go runtime raises the soft limit to the hard one, so only a soft limit below the
    hard one can come out wrong. Without a NOFILE entry runc sets none, and nothing races."""
    for limit in process.get("rlimits") or []:
        if str(limit.get("type", "")).upper() == "RLIMIT_NOFILE":
            return int(limit.get("soft", 0)) < int(limit.get("hard", 0))
    return False


class CliRuntime:
    """Implements :class:`dockyard.core.runtime.backend.RuntimeBackend` for runc and crun."""

    def __init__(self, name: str, path: str, *, root: Path, warmup: MigrationWarmup | None = None) -> None:
        self._name = name
        self._path = path
        self._root = root
        self._warmup = warmup or MigrationWarmup(None)
        self._is_runc = os.path.basename(path) == "runc"

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str:
        return self._path

    @property
    def root(self) -> Path:
        return self._root

    async def _spawn(self, container_id: str, argv: list[str], *, stdin: int, stdout: int,
                     stderr: int) -> asyncio.subprocess.Process:
        """Start one runtime call; a runtime that cannot be executed is Unavailable, saying where."""
        log.debug("runtime call %s", argv, extra={"container_id": container_id})
        try:
            return await asyncio.create_subprocess_exec(*argv, stdin=stdin, stdout=stdout, stderr=stderr)
        except OSError as exc:
            raise Unavailable(f"OCI runtime {self._name} is not available at {self._path}: {exc}") from exc

    async def _run(self, verb: str, container_id: str, *options: str, after: tuple[str, ...] = (),
                   timeout: float = TIMEOUT) -> bytes:
        """Run ``<verb> <options> <id> <after>`` to completion; stdout, or a typed error."""
        argv = [self._path, "--root", str(self._root), verb, *options, container_id, *after]
        self._root.mkdir(parents=True, exist_ok=True)
        proc = await self._spawn(container_id, argv, stdin=DEVNULL, stdout=PIPE, stderr=PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError as exc:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise Internal(f"OCI runtime {verb} of {container_id} timed out after {timeout:.0f}s") from exc
        if proc.returncode != 0:
            raise _error_for(verb, container_id, runtime_message(err))
        return out

    async def start(self, container_id: str) -> None:
        # runc's own start is a Go process start (~5 ms) to do what release() does here.
        if self._is_runc and await runc_fifo.release(self._root / container_id):
            return
        await self._run("start", container_id)

    async def state(self, container_id: str) -> RuntimeState | None:
        try:
            out = await self._run("state", container_id)
        except NotFound:
            return None
        data = json.loads(out)
        status = RuntimeStatus(data.get("status", "stopped"))
        return RuntimeState(status=status, pid=int(data.get("pid") or 0))

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        await self._run("kill", container_id, *(["--all"] if all_processes else []), after=(str(signal),))

    async def pause(self, container_id: str) -> None:
        await self._run("pause", container_id)

    async def resume(self, container_id: str) -> None:
        await self._run("resume", container_id)

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        if self._is_runc and await asyncio.to_thread(delete_stopped, self._root / container_id):
            return  # what runc's delete of a stopped container would do (backends/runc_state.py)
        try:
            await self._run("delete", container_id, *(["--force"] if force else []))
        finally:
            if force:
                # What the runtime may not know of (a create cut short): the processes and
                # directories of the container's cgroup, /dockyard/<id> (core/containers/bundle.py).
                await asyncio.to_thread(reap_cgroup, f"/dockyard/{container_id}")

    async def pids(self, container_id: str) -> list[int]:
        out = await self._run("ps", container_id, "--format", "json")
        return [int(p) for p in json.loads(out or b"[]") or []]

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """``<runtime> update --resources <file>``: the file holds an OCI linux.resources object."""
        self._root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="update-", suffix=".json", dir=self._root)
        try:
            with os.fdopen(fd, "w") as file:
                json.dump(resources, file)
            await self._run("update", container_id, "--resources", name)
        finally:
            os.unlink(name)

    async def exec(self, container_id: str, process: dict[str, Any], *, detach: bool) -> ExecProcess:
        """``runc exec --process``: in the foreground with pipes, or detached (TTY or ``-d``), in
        which case the daemon adopts the process as a subreaper to learn its exit status."""
        if not self._is_runc:
            return await self._exec(container_id, process, detach=detach)
        # runc 1.1 sets the process's limits right only where its cgroup moves are cold; where
        # they cannot come out wrong, a warm lock spares its moves a grace period each.
        moves = self._warmup.cold() if go_may_raise_nofile(process) else self._warmup.warm()
        async with moves:
            return await self._exec(container_id, process, detach=detach)

    async def _exec(self, container_id: str, process: dict[str, Any], *, detach: bool) -> ExecProcess:
        workdir = Path(tempfile.mkdtemp(prefix="dy-exec-"))
        try:
            spec_file = workdir / "process.json"
            spec_file.write_text(json.dumps(process))
            pid_file = workdir / "pid"
            base = [self._path, "--root", str(self._root), "exec", "--process", str(spec_file),
                    "--pid-file", str(pid_file)]
            if process.get("terminal"):
                become_subreaper()
                return await self._exec_tty(container_id, base, workdir, detach=detach)
            if detach:
                become_subreaper()
                await self._exec_detached(container_id, [*base, "--detach", container_id],
                                          workdir / "runtime.log")
                return DetachedExec(int(pid_file.read_text()))
            return await self._exec_pipes(container_id, [*base, container_id], pid_file)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _exec_detached(self, container_id: str, argv: list[str], log_file: Path) -> None:
        """Run a ``runc exec --detach``. The exec'd process inherits runc's stdio, so a stderr pipe
        would stay open as long as the process runs: runc's errors go to ``--log`` instead."""
        argv = [argv[0], "--log", str(log_file), *argv[1:]]
        proc = await self._spawn(container_id, argv, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
        try:
            await asyncio.wait_for(proc.wait(), TIMEOUT)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise Internal(f"OCI runtime exec in {container_id} timed out") from exc
        if proc.returncode != 0:
            await _reap_failed_exec()
            err = log_file.read_bytes() if log_file.exists() else b""
            raise _error_for("exec", container_id, runtime_message(err))

    async def _exec_tty(self, container_id: str, base: list[str], workdir: Path, *,
                        detach: bool) -> ExecProcess:
        """runc only hands out a TTY when it detaches: it sends the pty master to our console
        socket (SCM_RIGHTS) and exits; we stream the master and adopt the process."""
        console_path = workdir / "console.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(console_path))
            listener.listen(1)
            argv = [*base, "--detach", "--tty", "--console-socket", str(console_path), container_id]
            listener.setblocking(False)
            receive = asyncio.create_task(_receive_master(listener))
            try:
                await self._exec_detached(container_id, argv, workdir / "runtime.log")
                # runc has exited successfully, so it has already sent the master.
                master = await asyncio.wait_for(receive, TIMEOUT)
            except BaseException:
                receive.cancel()
                with contextlib.suppress(BaseException):
                    os.close(await receive)
                raise
        finally:
            listener.close()
        pid = int((workdir / "pid").read_text())
        if detach:
            os.close(master)  # nobody will attach; the process keeps its slave side
            return DetachedExec(pid)
        return PtyExec(master, pid)

    async def _exec_pipes(self, container_id: str, argv: list[str], pid_file: Path) -> ExecProcess:
        proc = await self._spawn(container_id, argv, stdin=PIPE, stdout=PIPE, stderr=PIPE)
        pid = await _pid_from_file(pid_file, proc)
        if pid == 0:
            # runc exited before starting the process: its stderr holds runc's error, not output.
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise _error_for("exec", container_id, runtime_message(err))
        return PipeExec(proc, pid)


async def _reap_failed_exec() -> None:
    """An exec whose execve fails dies at once inside the container's pid namespace and, as an
    orphan, becomes our zombie; it must be reaped or the container's init can never finish exiting.
    runc collects it itself; crun leaves it to us."""
    for delay in (0.0, 0.01, 0.05):
        await asyncio.sleep(delay)
        if reap_adopted_zombies():
            return


async def _receive_master(listener: socket.socket) -> int:
    """Accept runc's connection on the console socket and take the pty master it sends."""
    conn, _ = await asyncio.get_running_loop().sock_accept(listener)
    with conn:
        # runc sends the fd right after connecting; the thread only guards against a stuck peer.
        conn.settimeout(TIMEOUT)
        _, fds, _, _ = await asyncio.to_thread(socket.recv_fds, conn, 4096, 1)
    if not fds:
        raise Internal("OCI runtime sent no terminal on the console socket")
    return fds[0]


async def _pid_from_file(pid_file: Path, proc: asyncio.subprocess.Process) -> int:
    """The exec'd process's pid, which runc writes once it has started it (0 if it never did).

    Waits on the file without a fixed sleep loop of its own: a short back-off, ending as soon as
    runc exits (it writes the file before it waits for the process)."""
    delay = 0.001
    for _ in range(200):
        with contextlib.suppress(OSError, ValueError):
            return int(pid_file.read_text())
        if proc.returncode is not None:
            return 0
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return 0
