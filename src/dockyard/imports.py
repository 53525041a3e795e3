"""Modules loaded on first use, so an idle daemon holds only what serving needs.

``lazy("httpx")`` registers the module at once (``import httpx`` elsewhere gets the same object) and
runs it at the first attribute access: the registry client's ~6 MB stay out of a daemon that has
not pulled or pushed. Modules bind it under ``if not TYPE_CHECKING`` so mypy still sees the real
module's types.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy(name: str) -> ModuleType:
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
