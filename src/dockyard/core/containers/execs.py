"""Exec sessions: ``docker exec`` processes started inside running containers.

A session is created (config recorded), then started once; its exit code is kept for
``GET /exec/{id}/json`` after the process ends. Sessions live in memory, as Docker's do.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.core.containers.configs import replace_or_append
from dockyard.core.ids import ExecId, new_exec_id
from dockyard.core.runtime.backend import ExecProcess
from dockyard.core.runtime.model import ProcessUser
from dockyard.errors import NotFound

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ExecConfig:
    cmd: list[str]
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    tty: bool = False
    privileged: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    detach_keys: str = ""
    console_size: tuple[int, int] | None = None  # (height, width)


@dataclass(slots=True)
class ExecSession:
    id: ExecId
    container_id: str
    config: ExecConfig
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    process: ExecProcess | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ExecSessions:
    """The exec sessions of every container, by ID."""

    def __init__(self) -> None:
        self._sessions: dict[ExecId, ExecSession] = {}

    def add(self, container_id: str, config: ExecConfig) -> ExecSession:
        session = ExecSession(id=new_exec_id(), container_id=container_id, config=config)
        self._sessions[session.id] = session
        return session

    def get(self, exec_id: str) -> ExecSession:
        session = self._sessions.get(ExecId(exec_id))
        if session is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return session

    def of_container(self, container_id: str) -> list[ExecSession]:
        return [s for s in self._sessions.values() if s.container_id == container_id]

    def drop_container(self, container_id: str) -> None:
        for session in self.of_container(container_id):
            del self._sessions[session.id]


def read_bundle_process(bundle: Path) -> dict[str, Any]:
    """The container's own OCI process object: the exec inherits its capabilities and rlimits."""
    try:
        spec = json.loads((bundle / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    process = spec.get("process")
    return dict(process) if isinstance(process, dict) else {}


def exec_process(
    base: dict[str, Any], config: ExecConfig, *, env: list[str], cwd: str, user: ProcessUser | None
) -> dict[str, Any]:
    """The OCI process for an exec: the container's process with the exec's args, env, cwd,
    user and terminal."""
    process = copy.deepcopy(base)
    process["args"] = list(config.cmd)
    process["env"] = replace_or_append(env, config.env)
    process["cwd"] = config.working_dir or cwd or "/"
    process["terminal"] = config.tty
    if user is not None:
        process["user"] = {"uid": user.uid, "gid": user.gid}
        if user.additional_gids:
            process["user"]["additionalGids"] = list(user.additional_gids)
    if config.tty and config.console_size:
        height, width = config.console_size
        process["consoleSize"] = {"height": height, "width": width}
    else:
        process.pop("consoleSize", None)
    if config.privileged and "capabilities" in base:
        caps = _all_capabilities(base["capabilities"])
        process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    return process


def _all_capabilities(current: dict[str, Any]) -> list[str]:
    # Privileged execs get what the container's bounding set allows; more would be refused.
    return list(current.get("bounding") or [])
