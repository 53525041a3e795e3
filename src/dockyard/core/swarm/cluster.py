"""SwarmService: ``docker swarm init/leave/update/unlock`` and ``docker node``, on one engine.

This engine is a one-node swarm: its node is the only manager (the leader) and the only worker.
``swarm join`` and a second node are refused: the engine opens no cluster port.
"""

from __future__ import annotations

import builtins
import copy
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dockyard.core.swarm import specs
from dockyard.core.swarm.keys import KeyFile, new_unlock_key
from dockyard.core.swarm.model import Cluster, Node
from dockyard.core.swarm.state import SwarmState, find, new_object_id
from dockyard.core.timestamps import now_rfc3339
from dockyard.errors import Conflict, Internal, InvalidArgument, Unavailable, Unimplemented

if TYPE_CHECKING:
    from dockyard.core.swarm.orchestrator import Orchestrator

log = logging.getLogger(__name__)

ALREADY_IN_SWARM = ('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
                    "and join another one.")
NOT_IN_SWARM = "This node is not part of a swarm"
LAST_MANAGER = ("You are attempting to leave the swarm on a node that is participating as a manager. "
                "Removing the last manager erases all current state of the swarm. Use `--force` to "
                "ignore this message.")
MULTI_HOST = ("swarm join is not supported: this engine is a one-node swarm manager and does not "
              "support multi-host swarms")

DEFAULT_SPEC: dict[str, Any] = {
    "Name": "default", "Labels": {},
    "Orchestration": {"TaskHistoryRetentionLimit": 5},
    "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
             "ElectionTick": 10, "HeartbeatTick": 1},
    "Dispatcher": {"HeartbeatPeriod": 5 * specs.SECOND},
    "CAConfig": {"NodeCertExpiry": 90 * 24 * 3600 * specs.SECOND},
    "TaskDefaults": {},
    "EncryptionConfig": {"AutoLockManagers": False},
}


@dataclass(frozen=True, slots=True)
class InitRequest:
    """``POST /swarm/init`` as the core sees it."""

    advertise_addr: str = ""
    listen_addr: str = "0.0.0.0:2377"
    spec: dict[str, Any] | None = None
    autolock: bool = False
    availability: str = "active"
    default_addr_pool: tuple[str, ...] = ()
    subnet_size: int = 0
    data_path_port: int = 0


def _token() -> str:
    return f"SWMTKN-1-{secrets.token_hex(25)}-{secrets.token_hex(12)}"


def _merge_spec(base: dict[str, Any], given: dict[str, Any] | None, *, zero_is_unset: bool = False
                ) -> dict[str, Any]:
    """``given`` over ``base``; at init the CLI sends 0 for every flag left out (dockerd's defaults
    apply then), at update it sends back the whole spec it read."""
    merged = copy.deepcopy(base)
    for key, value in (given or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **{k: v for k, v in value.items()
                                             if v is not None and not (zero_is_unset and v == 0)}}
        elif value is not None:
            merged[key] = value
    return merged


class SwarmService:
    def __init__(self, *, state: SwarmState, keys: KeyFile, orchestrator: Orchestrator,
                 hostname: str) -> None:
        self.state = state
        self._keys = keys
        self._orchestrator = orchestrator
        self._hostname = hostname

    # ---- daemon lifecycle ----
    async def open(self) -> None:
        self.state.store.ensure_schema()
        self.state.load()
        if self.state.cluster is None:
            return
        if self._keys.locked:
            self.state.locked = True
            log.warning("swarm is locked: run `docker swarm unlock` to start its services")
            return
        self.state.key = self._keys.load()
        await self._orchestrator.start()

    async def close(self) -> None:
        await self._orchestrator.stop()

    # ---- swarm ----
    def inspect(self) -> Cluster:
        return self.state.manager()

    async def init(self, request: InitRequest) -> str:
        if self.state.cluster is not None:
            raise Unavailable(ALREADY_IN_SWARM)
        specs.validate_node_spec({"Availability": request.availability})
        spec = _merge_spec(DEFAULT_SPEC, request.spec, zero_is_unset=True)
        if request.autolock:
            spec["EncryptionConfig"] = {"AutoLockManagers": True}
        now = now_rfc3339()
        addr = request.advertise_addr.split(":")[0] or "127.0.0.1"
        cluster = Cluster(id=new_object_id(), version=0, created=now, updated=now, spec=spec,
                          node_id=new_object_id(), node_addr=addr, worker_token=_token(),
                          manager_token=_token(),
                          default_addr_pool=list(request.default_addr_pool) or ["10.0.0.0/8"],
                          subnet_size=request.subnet_size or 24,
                          data_path_port=request.data_path_port or 4789)
        self.state.cluster = cluster
        node = Node(id=cluster.node_id, version=0, created=now, updated=now,
                    spec={"Labels": {}, "Role": "manager", "Availability": request.availability})
        self.state.node = node
        self.state.key = self._keys.create()
        if cluster.autolock:
            self.state.unlock_key = new_unlock_key()
            self._keys.store(self.state.key, self.state.unlock_key)
        self.state.stamp(cluster)
        self.state.stamp(node)
        await self._orchestrator.start()
        if self._orchestrator.networks is not None:
            await self._orchestrator.networks.ensure_ingress()
        log.info("swarm initialised: cluster %s, node %s", cluster.id, node.id)
        self.state.events.publish("node", "create", node.id, {"name": self._hostname})
        return node.id

    def join(self) -> None:
        raise Unimplemented(MULTI_HOST)

    async def leave(self, *, force: bool) -> None:
        if self.state.cluster is None:
            raise Unavailable(NOT_IN_SWARM)
        if not force:
            raise Unavailable(LAST_MANAGER)
        await self._orchestrator.stop()
        await self._orchestrator.remove_everything()
        self._keys.remove()
        self.state.reset()
        log.info("left the swarm")

    async def update(self, *, version: int, spec: dict[str, Any], rotate_worker: bool = False,
                     rotate_manager: bool = False, rotate_unlock: bool = False) -> None:
        cluster = self.state.manager()
        if version != cluster.version:
            raise out_of_sequence()
        history = (spec.get("Orchestration") or {}).get("TaskHistoryRetentionLimit")
        if isinstance(history, int) and history < 0:
            raise InvalidArgument("json: cannot unmarshal number into Go struct field "
                                  "OrchestrationConfig.TaskHistoryRetentionLimit of type int64")
        was_locked = cluster.autolock
        cluster.spec = _merge_spec(DEFAULT_SPEC, spec)
        if rotate_worker:
            cluster.worker_token = _token()
        if rotate_manager:
            cluster.manager_token = _token()
        assert self.state.key is not None
        if cluster.autolock and (not was_locked or rotate_unlock or self.state.unlock_key is None):
            self.state.unlock_key = new_unlock_key()
            self._keys.store(self.state.key, self.state.unlock_key)
        elif not cluster.autolock and was_locked:
            self.state.unlock_key = None
            self._keys.store(self.state.key, None)
        self.state.stamp(cluster)
        self.state.wake()  # a new history limit prunes now

    def unlock_key(self) -> str:
        cluster = self.state.manager()
        return (self.state.unlock_key or "") if cluster.autolock else ""

    async def unlock(self, key: str) -> None:
        if self.state.cluster is None:
            raise Unavailable(NOT_IN_SWARM)
        if not self.state.locked:
            raise Conflict("swarm is not locked")
        self.state.key = self._keys.load(key.strip())
        self.state.unlock_key = key.strip()
        self.state.locked = False
        log.info("swarm unlocked")
        await self._orchestrator.start()

    # ---- nodes ----
    def nodes(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[Node]:
        self.state.manager()
        node = self.state.node
        assert node is not None
        filters = filters or {}
        for key in filters:
            if key not in ("id", "label", "membership", "name", "node.label", "role"):
                raise InvalidArgument(f"invalid filter '{key}'")
        checks = {"id": node.id, "name": self._hostname, "role": node.spec.get("Role", "manager"),
                  "membership": "accepted"}
        for key, wanted in filters.items():
            if key in checks and not any(checks[key].startswith(w) if key == "id" else checks[key] == w
                                         for w in wanted):
                return []
        return [node]

    def node(self, ref: str) -> Node:
        self.state.manager()
        assert self.state.node is not None
        if ref == "self":
            return self.state.node
        return find([self.state.node], ref, "node", lambda _n: self._hostname)

    @property
    def hostname(self) -> str:
        return self._hostname

    def update_node(self, ref: str, *, version: int, spec: dict[str, Any]) -> None:
        node = self.node(ref)
        if version != node.version:
            raise out_of_sequence()
        specs.validate_node_spec(spec)
        if (spec.get("Role") or "manager") != "manager":
            raise specs.invalid("attempting to demote the last manager of the swarm")
        node.spec = {"Labels": dict(spec.get("Labels") or {}), "Role": "manager",
                     "Availability": spec.get("Availability") or "active",
                     **({"Name": spec["Name"]} if spec.get("Name") else {})}
        self.state.stamp(node)
        self.state.events.publish("node", "update", node.id, {"name": self._hostname})
        self.state.wake()  # drain shuts tasks down, active brings them back

    def remove_node(self, ref: str, *, force: bool) -> None:
        node = self.node(ref)
        raise InvalidArgument(f"rpc error: code = FailedPrecondition desc = node {node.id} is a cluster "
                              "manager and is a member of the raft cluster. It must be demoted to "
                              "worker before removal")


def out_of_sequence() -> OutOfSequence:
    return OutOfSequence("rpc error: code = Unknown desc = update out of sequence")


class OutOfSequence(Internal):
    """An update naming a stale version index: swarmkit's ``ErrSequenceConflict``, which dockerd
    answers with a 500 (gRPC's Unknown code): so do we."""
