"""The engine: the set of core services the composition root builds and adapters receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.config import DaemonConfig

if TYPE_CHECKING:
    from dockyard.core.containers.service import ContainerService
    from dockyard.core.images.service import ImageService
    from dockyard.core.system import SystemService


@dataclass(frozen=True, slots=True)
class Engine:
    config: DaemonConfig
    images: ImageService
    containers: ContainerService
    system: SystemService
