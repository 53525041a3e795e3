"""``ConmonMonitor``: conmon (as Podman runs it) supervises each container.

conmon runs ``<runtime> create``, holds the container's stdio, writes the k8s-file log, serves the
attach socket and records the exit status in ``<exit-dir>/<id>``. It daemonises, so containers
outlive the daemon; everything this class knows is recomputed from files, so a new instance (after
a daemon restart) picks up containers an earlier one started.

Files per container, under ``<exec_root>/c/<id>/``::

    conmon.pid    conmon's own pid (--conmon-pidfile)
    pid           the container's init pid, written by the runtime (--container-pidfile)
    exits/<id>    the exit status, written by conmon when the container exits (--exit-dir)
    bundle        symlink to the bundle, where conmon keeps ``attach`` (socket) and ``ctl`` (fifo)
    conmon.err    conmon's stderr before it daemonises

Protocol (conmon 2.1.6, ``--api-version 1``): fds named by ``_OCI_SYNCPIPE`` and ``_OCI_STARTPIPE``;
conmon waits for a write on the start pipe, then reports ``{"data": <pid>}`` on the sync pipe, or
``{"data": -1, "message": "<runtime stderr>"}`` when the runtime failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import select
import shutil
import time
from pathlib import Path
from typing import Any

from dockyard.backends.cgroup_warmup import MigrationWarmup
from dockyard.backends.conmon_attach import ConmonAttach, connect_attach
from dockyard.backends.oci_cli import is_user_error, runtime_message
from dockyard.backends.processes import alive, reap, until_exit
from dockyard.core.runtime.backend import MonitorStart, StdioStream
from dockyard.errors import Internal, InvalidArgument, NotFound, Unavailable, WrongState

log = logging.getLogger(__name__)

CREATE_TIMEOUT = 60.0  # seconds for conmon to report the container's pid
_WIN_RESIZE_EVENT = 1  # conmon's config.h


class ConmonMonitor:
    """Implements :class:`dockyard.core.runtime.backend.Monitor` with conmon."""

    def __init__(self, conmon_path: str, *, exec_root: Path, warmup: MigrationWarmup | None = None) -> None:
        # Resolved once: a bare name would have every start walk PATH (one failed exec per entry).
        self._conmon = shutil.which(conmon_path) or conmon_path
        self._exec_root = exec_root
        self._warmup = warmup or MigrationWarmup(None)

    # ---- files ----
    def _dir(self, container_id: str) -> Path:
        return self._exec_root / "c" / container_id

    def _exit_file(self, container_id: str) -> Path:
        return self._dir(container_id) / "exits" / container_id

    def _conmon_pid(self, container_id: str) -> int | None:
        try:
            return int((self._dir(container_id) / "conmon.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _bundle(self, container_id: str) -> Path:
        try:
            return Path(os.readlink(self._dir(container_id) / "bundle"))
        except OSError as exc:
            raise NotFound(f"No such container: {container_id}") from exc

    # ---- create ----
    def _argv(self, start: MonitorStart, mdir: Path) -> list[str]:
        cid = start.container_id
        argv = [
            self._conmon, "--api-version", "1",
            "-c", cid, "-u", cid, "-n", cid,
            "-r", start.runtime.path, "--runtime-arg", f"--root={start.runtime.root}",
            "-b", str(start.bundle), "-p", str(mdir / "pid"), "-P", str(mdir / "conmon.pid"),
            "--exit-dir", str(mdir / "exits"),
            # --full-attach puts the attach socket in the bundle itself (no symlink farm);
            # connect_attach copes with long paths.
            "--socket-dir-path", str(mdir), "--full-attach",
            "-l", f"k8s-file:{start.log_path}" if start.log_mode != "none" else "none:",
            "--log-level", "warning",
            # No fsync of the log at the container's exit, which waits on the disk before the
            # exit is reported: dockerd's json-file does not sync either, and readers see the
            # page cache.
            "--no-sync-log",
        ]
        if start.log_size_max > 0:
            argv += ["--log-size-max", str(start.log_size_max)]
        if start.terminal:
            argv.append("-t")
        if start.stdin:
            argv.append("-i")
            if not start.stdin_once:
                argv.append("--leave-stdin-open")
        return argv

    def _prepare_dir(self, start: MonitorStart) -> Path:
        """A clean monitor directory; a restarted container reuses its id, so drop old files."""
        mdir = self._dir(start.container_id)
        shutil.rmtree(mdir, ignore_errors=True)
        (mdir / "exits").mkdir(parents=True)
        (mdir / "bundle").symlink_to(start.bundle.absolute())
        start.log_path.parent.mkdir(parents=True, exist_ok=True)
        start.runtime.root.mkdir(parents=True, exist_ok=True)
        return mdir

    async def create(self, start: MonitorStart) -> int:
        cid = start.container_id
        if not (start.bundle / "config.json").is_file():
            raise InvalidArgument(f"bundle {start.bundle} of container {cid} has no config.json")
        if self.is_alive(cid):
            # Its files are in use: starting afresh would orphan a running container.
            raise WrongState(f"Container {cid} is already running under its monitor")
        mdir = await asyncio.to_thread(self._prepare_dir, start)
        try:
            # The runtime moves the container's init into its cgroups.
            async with self._warmup.warm(until=self._warmup.moved_into(start.cgroups_path)):
                return await self._spawn(start, mdir)
        except BaseException:
            # conmon first: a live one would go on to run the runtime's create after our delete.
            pid = self._conmon_pid(cid)
            if pid is not None and alive(pid, comm="conmon"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            with contextlib.suppress(Exception):
                await start.runtime.delete(cid, force=True)
            await self.cleanup(cid)
            raise

    async def _spawn(self, start: MonitorStart, mdir: Path) -> int:
        cid = start.container_id
        sync_r, sync_w = os.pipe()
        start_r, start_w = os.pipe()
        env = dict(os.environ, _OCI_SYNCPIPE=str(sync_w), _OCI_STARTPIPE=str(start_r))
        argv = self._argv(start, mdir)
        log.debug("starting conmon %s", argv, extra={"container_id": cid})
        try:
            with open(mdir / "conmon.err", "wb") as err:
                try:
                    proc = await asyncio.create_subprocess_exec(
                        *argv, env=env, cwd=mdir, pass_fds=(sync_w, start_r),
                        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                        stderr=err)
                except OSError as exc:
                    raise Unavailable(f"conmon is not available at {self._conmon}: {exc}") from exc
            os.close(sync_w)
            os.close(start_r)
            sync_w = start_r = -1
            os.write(start_w, b"0")  # conmon may proceed (we place nothing in cgroups first)
            # The first conmon exits as soon as it has forked the daemonised one.
            await asyncio.wait_for(proc.wait(), CREATE_TIMEOUT)
            message = await asyncio.to_thread(_read_sync, sync_r, CREATE_TIMEOUT)
        finally:
            for fd in (sync_r, sync_w, start_r, start_w):
                if fd >= 0:
                    os.close(fd)
        return self._check_sync(cid, mdir, message)

    def _check_sync(self, cid: str, mdir: Path, message: dict[str, Any] | None) -> int:
        if message is None:
            detail = _tail(mdir / "conmon.err") or "no report from conmon"
            pid = self._conmon_pid(cid)
            if pid is not None and alive(pid, comm="conmon"):
                os.kill(pid, 9)
            raise Internal(f"conmon failed to create container {cid}: {detail}")
        pid = int(message.get("data", -1))
        if pid > 0:
            log.info("container created, pid %d", pid, extra={"container_id": cid})
            return pid
        text = runtime_message(str(message.get("message", "")).encode()) or _tail(mdir / "conmon.err")
        full = f"OCI runtime create failed: {text}: unknown"
        if is_user_error(text):
            raise InvalidArgument(full)
        raise Internal(full)

    # ---- state ----
    def is_alive(self, container_id: str) -> bool:
        pid = self._conmon_pid(container_id)
        return pid is not None and alive(pid, comm="conmon")

    def exit_code(self, container_id: str) -> int | None:
        try:
            return int(self._exit_file(container_id).read_text().strip())
        except (OSError, ValueError):
            return None

    async def wait(self, container_id: str) -> int:
        pid = self._conmon_pid(container_id)
        if pid is not None and alive(pid, comm="conmon"):
            await until_exit(pid)
            reap(pid)  # ours if we are a subreaper (see processes.py); harmless otherwise
        code = self.exit_code(container_id)
        if code is None:
            if pid is None:
                raise NotFound(f"No such container: {container_id}")
            raise Internal(f"conmon of container {container_id} exited without recording an exit status")
        return code

    # ---- stdio ----
    async def attach(self, container_id: str) -> StdioStream:
        if not self.is_alive(container_id):
            raise WrongState(f"Container {container_id} is not running")
        return ConmonAttach(connect_attach(self._bundle(container_id), container_id))

    async def resize(self, container_id: str, height: int, width: int) -> None:
        ctl = self._bundle(container_id) / "ctl"
        line = f"{_WIN_RESIZE_EVENT} {height} {width}\n".encode()
        try:
            # Non-blocking: with no reader (conmon gone) open fails with ENXIO instead of hanging.
            fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT):
                raise WrongState(f"Container {container_id} is not running") from exc
            raise
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    async def cleanup(self, container_id: str) -> None:
        mdir = self._dir(container_id)
        with contextlib.suppress(NotFound):
            bundle = self._bundle(container_id)
            for name in ("attach", "ctl", "winsz"):
                with contextlib.suppress(OSError):
                    (bundle / name).unlink()
        await asyncio.to_thread(shutil.rmtree, mdir, True)


def _read_sync(fd: int, timeout: float) -> dict[str, Any] | None:
    """The first JSON line conmon writes on the sync pipe; None on EOF (conmon died) or timeout."""
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        # poll, not select: select() cannot watch a descriptor numbered 1024 or above, and a busy
        # daemon (many clients, streams, containers) holds more than that.
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        if not poller.poll(max(1, int(remaining * 1000))):
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
    line = buf.split(b"\n", 1)[0].strip()
    if not line:
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return {"data": -1, "message": line.decode(errors="replace")}
    return data if isinstance(data, dict) else None


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""
