"""Docker's label filter semantics, shared by every resource's list, prune and events."""

from __future__ import annotations

import pytest

from dockyard.core.labels import label_matches, labels_match

LABELS = {"app": "web", "tier": "", "team": "a=b"}


@pytest.mark.parametrize(("wanted", "expected"), [
    ("app", True), ("app=web", True), ("app=db", False), ("tier", True), ("tier=", True),
    ("nope", False), ("team=a=b", True), ("team=a", False),
])
def test_one_label(wanted: str, expected: bool) -> None:
    assert label_matches(LABELS, wanted) is expected


def test_repeated_labels_must_all_match() -> None:
    assert labels_match(LABELS, ["app=web", "tier"])
    assert not labels_match(LABELS, ["app=web", "nope"])
    assert labels_match(LABELS, [])
