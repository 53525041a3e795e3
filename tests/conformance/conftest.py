"""The conformance tier: every test here is marked ``root`` (the fixtures are in fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents and path.name != "test_helpers.py":
            item.add_marker(pytest.mark.root)
