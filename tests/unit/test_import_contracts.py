"""The layering of ARCHITECTURE.md, checked on the source: adapters -> core <- backends.

``lint-imports`` enforces the same contracts in ``make lint``; this test keeps them in every plain
pytest run too, and names the offending file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "dockyard"

CONTRACTS = {
    "core": ("dockyard.api", "dockyard.cli", "dockyard.backends", "dockyard.daemon",
             "aiohttp", "click", "rich"),
    "cli": ("dockyard.core", "dockyard.backends", "dockyard.api", "dockyard.daemon"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for line, module in _imports(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(CONTRACTS))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    if not (PACKAGE / layer).is_dir():
        pytest.skip(f"dockyard.{layer} does not exist yet")
    assert _violations(layer, CONTRACTS[layer]) == []


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import os\nfrom dockyard.api.app import build_app\nimport aiohttp.web\n")
    assert _imports(sample) == [(1, "os"), (2, "dockyard.api.app"), (3, "aiohttp.web")]
