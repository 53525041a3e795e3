"""Swarm objects as swarmkit names them.

A *service* is desired state: a ``ServiceSpec`` (Docker's JSON, kept as the client sent it after
defaults) and a version index. A *task* is one slot of a service at one spec: it has a desired
state and an observed state that moves new → pending → assigned → preparing → starting → running →
complete/failed/shutdown/rejected, and is carried out by one container. *Secrets* and *configs*
are named blobs mounted into tasks as files; their data is stored encrypted. The *version index*
is one counter for the whole cluster (raft's index in swarmkit): every change takes the next one,
and an update naming an older index than the object's is out of sequence.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class TaskState(enum.Enum):
    """swarmkit's TaskState, in order: a task only moves forward."""

    NEW = "new"
    PENDING = "pending"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    PREPARING = "preparing"
    READY = "ready"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETE = "complete"
    SHUTDOWN = "shutdown"
    FAILED = "failed"
    REJECTED = "rejected"
    REMOVE = "remove"
    ORPHANED = "orphaned"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    @property
    def terminal(self) -> bool:
        return self.rank > TaskState.RUNNING.rank


_ORDER = list(TaskState)

# Docker's UpdateStatus.State values.
UPDATING, PAUSED, COMPLETED = "updating", "paused", "completed"
ROLLBACK_STARTED, ROLLBACK_PAUSED, ROLLBACK_COMPLETED = (
    "rollback_started", "rollback_paused", "rollback_completed")


@dataclass(slots=True)
class Meta:
    id: str
    version: int
    created: str
    updated: str


@dataclass(slots=True)
class Cluster:
    """The swarm itself: its spec, join tokens and the one node of this engine."""

    id: str
    version: int
    created: str
    updated: str
    spec: dict[str, Any]
    node_id: str
    node_addr: str
    worker_token: str
    manager_token: str
    default_addr_pool: list[str] = field(default_factory=lambda: ["10.0.0.0/8"])
    subnet_size: int = 24
    data_path_port: int = 4789
    index: int = 0  # the last version index handed out

    @property
    def history_limit(self) -> int:
        orchestration = self.spec.get("Orchestration") or {}
        return int(orchestration.get("TaskHistoryRetentionLimit", 5))

    @property
    def autolock(self) -> bool:
        return bool((self.spec.get("EncryptionConfig") or {}).get("AutoLockManagers"))


@dataclass(slots=True)
class Node:
    id: str
    version: int
    created: str
    updated: str
    spec: dict[str, Any]  # Labels, Role, Availability, Name

    @property
    def availability(self) -> str:
        return str(self.spec.get("Availability") or "active")


@dataclass(slots=True)
class Service:
    id: str
    version: int
    created: str
    updated: str
    spec: dict[str, Any]
    previous_spec: dict[str, Any] | None = None
    update_status: dict[str, Any] | None = None
    # Bumped whenever TaskTemplate changes (or --force): tasks made at an older one are outdated.
    generation: int = 1
    # Ports as published (PublishedPort filled in) and the virtual IPs, for Endpoint.
    ports: list[dict[str, Any]] = field(default_factory=list)
    virtual_ips: list[dict[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.spec.get("Name") or "")

    @property
    def template(self) -> dict[str, Any]:
        template: dict[str, Any] = self.spec.get("TaskTemplate") or {}
        return template

    @property
    def is_global(self) -> bool:
        return "Global" in (self.spec.get("Mode") or {})

    @property
    def replicas(self) -> int:
        mode = self.spec.get("Mode") or {}
        return int((mode.get("Replicated") or {}).get("Replicas", 1))


@dataclass(slots=True)
class Task:
    id: str
    version: int
    created: str
    updated: str
    service_id: str
    slot: int
    node_id: str
    spec: dict[str, Any]  # the TaskTemplate it was made from
    generation: int
    desired_state: str = TaskState.RUNNING.value
    state: str = TaskState.NEW.value
    message: str = "created"
    err: str = ""
    timestamp: str = ""
    container_id: str = ""
    exit_code: int | None = None
    pid: int = 0
    service_name: str = ""
    # Set once the new task has been up through the update's monitor period (rolling updates).
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def task_state(self) -> TaskState:
        return TaskState(self.state)

    @property
    def name(self) -> str:
        """The container's name: ``<service>.<slot>.<task id>`` (global: the node ID as slot)."""
        return f"{self.service_name}.{self.slot_name}.{self.id}"

    @property
    def slot_name(self) -> str:
        return str(self.slot) if self.slot else self.node_id


@dataclass(slots=True)
class Blob:
    """A secret or a config: ``kind`` tells which; ``data`` is the ciphertext."""

    kind: str
    id: str
    version: int
    created: str
    updated: str
    spec: dict[str, Any]  # Name, Labels, Driver, Templating — never Data
    data: bytes = b""

    @property
    def name(self) -> str:
        return str(self.spec.get("Name") or "")


def to_record(obj: Any) -> dict[str, Any]:
    data = asdict(obj)
    if isinstance(obj, Blob):
        data["data"] = obj.data.hex()
    return data


def blob_from_record(data: dict[str, Any]) -> Blob:
    data = dict(data)
    data["data"] = bytes.fromhex(data.get("data") or "")
    return Blob(**data)
