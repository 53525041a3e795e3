"""The ``dockyard compose`` command group, with every verb registered (cli/main.py adds it)."""

from __future__ import annotations

from dockyard.compose import ps, service_containers, verbs, watch  # noqa: F401 - they register their verbs on the group
from dockyard.compose.commands import compose_group

__all__ = ["compose_group"]
