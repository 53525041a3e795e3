"""The swarm part of the engine, wired once: the cluster verbs, services and tasks, secrets and
configs, over one state, one orchestrator and one updater set."""

from __future__ import annotations

import contextlib
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.core.events import EventBus
from dockyard.core.metadata import Metadata
from dockyard.core.swarm.blobs import BlobService
from dockyard.core.swarm.cluster import SwarmService
from dockyard.core.swarm.keys import KeyFile
from dockyard.core.swarm.networking import IngressPublisher, ServiceNetworks, VirtualIPs
from dockyard.core.swarm.orchestrator import Orchestrator
from dockyard.core.swarm.placement import NodeFacts
from dockyard.core.swarm.services import ServiceVerbs
from dockyard.core.swarm.state import SwarmState
from dockyard.core.swarm.store import SwarmStore
from dockyard.core.swarm.tasks import TaskFiles
from dockyard.core.swarm.updater import Updaters

if TYPE_CHECKING:
    from dockyard.core.containers.service import ContainerService
    from dockyard.core.networks.service import NetworkService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Swarm:
    cluster: SwarmService
    services: ServiceVerbs
    secrets: BlobService
    configs: BlobService
    state: SwarmState
    networks: ServiceNetworks
    files_root: Path

    async def open(self) -> None:
        _mount_tmpfs(self.files_root)
        await self.networks.open()
        await self.cluster.open()

    def require_manager(self) -> None:
        self.state.manager()

    async def close(self) -> None:
        await self.cluster.close()
        await self.networks.close(keep=bool(self.state.services))
        # Lazily: running tasks keep their files through their own bind mounts.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["umount", "-l", str(self.files_root)], capture_output=True, timeout=10)


def build_swarm(*, db: Metadata, events: EventBus, containers: ContainerService,
                networks: NetworkService | None, publisher: IngressPublisher | None,
                data_root: Path, exec_root: Path, facts: NodeFacts,
                vips: VirtualIPs | None = None) -> Swarm:
    state = SwarmState(SwarmStore(db), events)
    files_root = exec_root / "swarm" / "files"
    orchestrator = Orchestrator(state=state, containers=containers, files=TaskFiles(files_root),
                                facts=facts)
    secrets = BlobService(state, "secret")
    orchestrator.blobs = secrets  # reads both kinds for tasks
    orchestrator.networks = ServiceNetworks(state, networks, publisher, vips)
    updaters = Updaters(state, orchestrator)
    orchestrator.updaters = updaters
    cluster = SwarmService(state=state, keys=KeyFile(data_root / "swarm" / "key.json"),
                           orchestrator=orchestrator, hostname=facts.hostname)
    services = ServiceVerbs(state=state, orchestrator=orchestrator, updaters=updaters, blobs=secrets)
    return Swarm(cluster=cluster, services=services, secrets=secrets, configs=BlobService(state, "config"),
                 state=state, networks=orchestrator.networks, files_root=files_root)


def _mount_tmpfs(path: Path) -> None:
    """Secrets of tasks live on a tmpfs of their own, so their plaintext never reaches a disk."""
    path.mkdir(parents=True, exist_ok=True)
    with open("/proc/self/mounts") as mounts:
        if any(line.split()[1] == str(path) for line in mounts):
            return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=64m", "tmpfs", str(path)],
                                capture_output=True, timeout=10)
        if result.returncode != 0:
            log.warning("no tmpfs for swarm secrets at %s: %s", path, result.stderr.decode().strip())
