"""``docker container prune`` filters: ``until`` and ``label`` / ``label!`` (moby's pruneFilters)."""

from __future__ import annotations

from dockyard.core.containers.model import Container, State
from dockyard.core.labels import label_matches
from dockyard.core.timestamps import filter_time, unix_seconds
from dockyard.errors import InvalidArgument

Filters = dict[str, list[str]]
_KNOWN = ("until", "label", "label!")


def check(filters: Filters) -> float | None:
    """Refuse filters prune does not know (Docker's text); the ``until`` cut-off in Unix seconds."""
    for key in filters:
        if key not in _KNOWN:
            raise InvalidArgument(f"invalid filter '{key}'")
    # Unix time, RFC 3339 or a Go duration ("24h"), as Docker's prune accepts.
    until = [filter_time(value) for value in filters.get("until", [])]
    return min(until) if until else None


def prunable(container: Container, filters: Filters, until: float | None) -> bool:
    """A stopped container that every ``label`` matches, no ``label!`` matches, created before
    ``until``."""
    if container.state.is_active or container.state == State.REMOVING:
        return False
    labels = container.config.labels
    if not all(label_matches(labels, wanted) for wanted in filters.get("label", [])):
        return False
    if any(label_matches(labels, wanted) for wanted in filters.get("label!", [])):
        return False
    return until is None or unix_seconds(container.created) < until
