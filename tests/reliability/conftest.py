"""The reliability tier: kill -9 and load tests against dockyardd (marked ``root``: they drive daemons).

``--crash-kills N`` (or ``DYC_CRASH_KILLS=N``) sets how many kill -9s test_crash.py makes in all,
spread over its operations; the default, 7, is one per operation.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--crash-kills", type=int, default=None,
                     help="kill -9s of the daemon in tests/reliability/test_crash.py (default 7)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.root)
