"""Container events: the Actor a container event carries (core/events.py holds the bus)."""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.core.containers.model import Container
from dockyard.core.events import EventBus, container_attributes


def emit(bus: EventBus, container: Container, action: str,
         extra: Mapping[str, str] | None = None) -> None:
    """Publish ``container <action>`` with the container's labels, image and name."""
    bus.publish("container", action, container.id,
                container_attributes(container.name, container.config.image,
                                     container.config.labels, extra))
