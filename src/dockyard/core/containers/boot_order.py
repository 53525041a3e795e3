"""Beyond dockerd (moby#11777): at daemon start, containers of a Compose project come back in
``depends_on`` order, each waiting until what it depends on is started, healthy or completed
successfully, as the file asked. Only labels are read (``com.docker.compose.project``,
``.service``, ``.oneoff`` and ``.depends_on``, whose value is ``service:condition:restart,…``), so
it works the same for projects brought up by Compose v2 and by ``dockyard compose``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from dockyard.core.containers.model import Container, State

log = logging.getLogger(__name__)

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
ONEOFF = "com.docker.compose.oneoff"
DEPENDS_ON = "com.docker.compose.depends_on"
# A dependency that never gets there must not hold its dependants back for ever: after this they
# start anyway (and log why), as a restart policy would have started them.
WAIT_LIMIT = 120.0
POLL = 0.1

Gate = Callable[[], Awaitable[None]]


def depends_on(container: Container) -> list[tuple[str, str]]:
    """(service, condition) pairs of the container's ``depends_on`` label."""
    label = container.config.labels.get(DEPENDS_ON) or ""
    pairs = []
    for item in label.split(","):
        service, _, rest = item.partition(":")
        if service:
            pairs.append((service, rest.split(":", 1)[0] or "service_started"))
    return pairs


def _met(dependency: Container, condition: str) -> bool:
    if condition == "service_healthy":
        return (dependency.health or {}).get("Status") == "healthy"
    if condition == "service_completed_successfully":
        return dependency.state == State.EXITED and dependency.exit_code == 0
    return dependency.state == State.RUNNING


def gate_for(container: Container, everyone: Iterable[Container]) -> Gate | None:
    """What ``container`` must wait for before it is started again; None when it needs nothing."""
    project = container.config.labels.get(PROJECT)
    wanted = depends_on(container)
    if not project or not wanted:
        return None
    peers = [c for c in everyone if c.config.labels.get(PROJECT) == project
             and c.config.labels.get(ONEOFF) != "True" and c.id != container.id]
    waits = [(peer, condition) for service, condition in wanted for peer in peers
             if peer.config.labels.get(SERVICE) == service]
    if not waits:
        return None

    async def gate() -> None:
        deadline = time.monotonic() + WAIT_LIMIT
        while not all(_met(peer, condition) for peer, condition in waits):
            if time.monotonic() > deadline:
                log.warning("container %s: starting without its dependencies after %.0fs",
                            container.id[:12], WAIT_LIMIT)
                return
            await asyncio.sleep(POLL)
        log.info("container %s: dependencies ready, starting", container.id[:12])

    return gate
