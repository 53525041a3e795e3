"""``docker ps`` filters: status, name, id, label, ancestor, exited, before, since, and friends."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.core.containers.health import health_status
from dockyard.core.containers.model import Container, State
from dockyard.core.labels import labels_match
from dockyard.errors import InvalidArgument

Filters = dict[str, list[str]]

_KNOWN = frozenset({"status", "name", "id", "label", "ancestor", "exited", "before", "since",
                    "health", "network", "volume", "publish", "expose", "is-task"})
_STATUSES = frozenset(s.value for s in State)
_HEALTH = frozenset({"starting", "healthy", "unhealthy", "none"})


@dataclass(slots=True)
class FilterContext:
    """Values the service resolves before matching: image IDs for ``ancestor`` and the creation
    times of ``before``/``since`` references."""

    ancestor_ids: set[str] = field(default_factory=set)
    ancestor_refs: set[str] = field(default_factory=set)
    before: str | None = None  # created timestamp bound
    since: str | None = None


def validate(filters: Filters) -> None:
    for key, values in filters.items():
        if key not in _KNOWN:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "status":
            for value in values:
                if value not in _STATUSES:
                    raise InvalidArgument(f"invalid filter 'status={value}'")
        if key == "health":
            for value in values:
                if value not in _HEALTH:
                    raise InvalidArgument(f"Unrecognised filter value for health: {value}")
        if key == "exited":
            for value in values:
                if not value.lstrip("-").isdigit():
                    raise InvalidArgument(f"invalid filter 'exited={value}'")


def _name_match(name: str, patterns: Sequence[str]) -> bool:
    # Docker matches names as regular expressions against the name with its slash.
    bare = name.lstrip("/")
    for pattern in patterns:
        try:
            if re.search(pattern, name) or re.search(pattern, bare):
                return True
        except re.error:
            if pattern.lstrip("/") in bare:
                return True
    return False


def matches(container: Container, filters: Filters, ctx: FilterContext) -> bool:
    """True when ``container`` passes every filter (values of one key are alternatives)."""
    if "status" in filters and container.state.value not in filters["status"]:
        return False
    if "id" in filters and not any(container.id.startswith(v) for v in filters["id"]):
        return False
    if "name" in filters and not _name_match(container.name, filters["name"]):
        return False
    if "label" in filters and not labels_match(container.config.labels, filters["label"]):
        return False
    if "exited" in filters:
        if container.state != State.EXITED:
            return False
        if str(container.exit_code) not in filters["exited"]:
            return False
    if "ancestor" in filters and not (container.image_id in ctx.ancestor_ids
                                      or container.config.image in ctx.ancestor_refs):
        return False
    if ctx.before is not None and container.created >= ctx.before:
        return False
    if ctx.since is not None and container.created <= ctx.since:
        return False
    if "is-task" in filters and "true" in filters["is-task"]:
        return False
    if "health" in filters and health_status(container) not in filters["health"]:
        return False
    return not ("volume" in filters or "publish" in filters)
