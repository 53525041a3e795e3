"""Host cgroup set-up that the daemon performs on request (never by default)."""

from __future__ import annotations

import logging
from pathlib import Path

from dockyard.backends.overlay import SyscallMounter
from dockyard.core.snapshots import Mount
from dockyard.errors import DockyardError

log = logging.getLogger(__name__)


def bind_v1_controllers(controllers: list[str], root: Path = Path("/sys/fs/cgroup")) -> list[str]:
    """Bind each controller to its own cgroup v1 hierarchy under ``root``.

    On a hybrid host a controller that no v1 hierarchy holds shows up on the cgroup2 mount, and
    crun then refuses to run. Binding it to v1 moves it off cgroup2. The mount stays after the
    daemon exits (it is a host change, hence opt-in). Returns the controllers bound."""
    mounter = SyscallMounter()
    bound: list[str] = []
    for controller in controllers:
        target = root / controller
        created = not target.exists()
        try:
            target.mkdir(exist_ok=True)
            mounter.mount([Mount("cgroup", "cgroup", (controller,))], target)
        except (OSError, DockyardError) as exc:
            # An empty directory named like a controller confuses runtimes: never leave one.
            if created:
                target.rmdir()
            log.warning("could not bind cgroup controller %s to v1: %s", controller, exc)
            continue
        log.info("bound cgroup controller %s to a v1 hierarchy at %s (for crun)", controller, target)
        bound.append(controller)
    return bound
