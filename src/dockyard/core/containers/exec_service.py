"""``docker exec``'s verbs: create, inspect, start, resize and wait of exec sessions.

The container service keeps its public ``exec_*`` methods and hands them here; the sessions
themselves (core/containers/execs.py) live in memory, as Docker's do, and the runner starts the
process in the running container.
"""

from __future__ import annotations

import asyncio
import contextlib

from dockyard.core.containers.events import emit
from dockyard.core.containers.execs import ExecConfig, ExecSession, ExecSessions
from dockyard.core.containers.model import State
from dockyard.core.containers.runner import Runner
from dockyard.core.containers.store import LiveContainers
from dockyard.core.events import EventBus
from dockyard.core.runtime.backend import ExecProcess
from dockyard.errors import InvalidArgument, WrongState


class ExecService:
    def __init__(self, *, live: LiveContainers, runner: Runner, sessions: ExecSessions,
                 events: EventBus) -> None:
        self._live = live
        self._runner = runner
        self._sessions = sessions
        self._events = events

    async def create(self, ref: str, config: ExecConfig) -> ExecSession:
        container = self._live.get(ref)
        if container.state == State.PAUSED:
            raise WrongState(f"Container {container.id} is paused, unpause the container before exec")
        if container.state != State.RUNNING:
            raise WrongState(f"Container {container.id} is not running")
        if not config.cmd:
            raise InvalidArgument("No exec command specified")
        session = self._sessions.add(container.id, config)
        emit(self._events, container, f"exec_create: {' '.join(config.cmd)}", {"execID": session.id})
        return session

    def inspect(self, exec_id: str) -> ExecSession:
        return self._sessions.get(exec_id)

    async def start(self, exec_id: str, *, detach: bool = False,
                    console_size: tuple[int, int] | None = None) -> ExecProcess | None:
        # The process's terminal and detach keys are what exec create asked for (moby's ExecConfig);
        # exec start's own Tty only decides how the API frames the stream.
        session = self._sessions.get(exec_id)
        if session.started:
            raise WrongState(f"Error: Exec command {exec_id} is already running")
        container = self._live.get(session.container_id)
        if container.state != State.RUNNING:
            raise WrongState(f"Container {container.id} is not running")
        if console_size is not None:
            session.config.console_size = console_size
        session.started = True
        process = await self._runner.exec(container, session, detach=detach)
        return None if detach else process

    async def resize(self, exec_id: str, *, height: int, width: int) -> None:
        session = self._sessions.get(exec_id)
        if session.process is None or not session.running:
            raise WrongState(f"Exec {exec_id} is not running")
        await session.process.resize(height, width)

    async def wait(self, exec_id: str, timeout: float = 5.0) -> int | None:
        session = self._sessions.get(exec_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.done.wait(), timeout)
        return session.exit_code
