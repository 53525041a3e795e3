"""Suite-wide test policy: tier markers and the root requirement.

Tests under ``tests/unit`` are marked ``unit`` automatically; tests marked ``root`` are skipped unless
the run is uid 0 (containerd's ``RequiresRoot``), so ``pytest tests`` works for any user and the
root tiers run where they can.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_UNIT_DIR = Path(__file__).parent / "unit"
# The daemon fixtures (tests/conformance/fixtures.py) serve every tier that drives a dockyardd.
pytest_plugins = ["conformance.fixtures"]
_DAEMON_FIXTURES = frozenset({"daemon", "daemon_factory", "client", "docker_cli", "container"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    is_root = os.geteuid() == 0
    skip_root = pytest.mark.skip(reason="needs root (real runc, overlayfs, conmon)")
    for item in items:
        if _UNIT_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.unit)
        if _DAEMON_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.root)
        if not is_root and item.get_closest_marker("root") is not None:
            item.add_marker(skip_root)
