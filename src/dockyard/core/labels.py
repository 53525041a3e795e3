"""Docker's ``label`` filter, shared by containers, images, networks, volumes and events:
``key`` asks that the label is present, ``key=value`` that it has that value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def label_matches(labels: Mapping[str, str], wanted: str) -> bool:
    key, eq, value = wanted.partition("=")
    return key in labels if not eq else labels.get(key) == value


def labels_match(labels: Mapping[str, str], wanted: Iterable[str]) -> bool:
    """Every one of ``wanted`` matches (Docker ANDs repeated label filters)."""
    return all(label_matches(labels, item) for item in wanted)
