"""The engine: the set of core services the composition root builds and adapters receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.config import DaemonConfig
from dockyard.core.lazy import Lazy

if TYPE_CHECKING:
    from dockyard.core.builder.service import BuilderService
    from dockyard.core.containers.service import ContainerService
    from dockyard.core.distribution.service import DistributionService
    from dockyard.core.events import EventBus
    from dockyard.core.images.service import ImageService
    from dockyard.core.networks.service import NetworkService
    from dockyard.core.plugins.managed import ManagedPlugins
    from dockyard.core.plugins.registry import PluginRegistry
    from dockyard.core.plugins.transfer import PluginTransfer
    from dockyard.core.swarm.swarm import Swarm
    from dockyard.core.system import SystemService
    from dockyard.core.volumes.service import VolumeService


@dataclass(frozen=True, slots=True)
class Engine:
    config: DaemonConfig
    images: ImageService
    containers: ContainerService
    system: SystemService
    volumes: VolumeService
    # Defaulted so engines built by tests without a registry still construct; keep defaults last.
    distribution: DistributionService | None = None
    builder: Lazy[BuilderService] | None = None  # Dockerfile builds (POST /build), made on the first
    networks: NetworkService | None = None  # bridges, endpoints, published ports, DNS
    events: EventBus | None = None  # `docker events` (core/events.py)
    swarm: Swarm | None = None  # swarm mode: services, tasks, secrets, configs (core/swarm/)
    plugins: PluginRegistry | None = None  # volume/network/IPAM/authz plugins (core/plugins/)
    managed_plugins: ManagedPlugins | None = None  # `docker plugin …` (core/plugins/managed.py)
    plugin_transfer: PluginTransfer | None = None  # plugin install/push/upgrade (core/plugins/transfer.py)
