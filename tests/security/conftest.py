"""Shared by the attack tests: a host directory that no attack may change."""

from __future__ import annotations

from pathlib import Path

import pytest

SECRET = "host file, never to change\n"


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """``<tmp>/canary`` with ``secret`` (0600) and an empty ``dir``: the host files attacks aim at."""
    root = tmp_path / "canary"
    (root / "dir").mkdir(parents=True)
    (root / "secret").write_text(SECRET)
    (root / "secret").chmod(0o600)
    return root
