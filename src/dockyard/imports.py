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


def defer_package_init(name: str, **preset: object) -> ModuleType | None:
    """Register package ``name`` so its submodules import without its ``__init__``, which runs
    the first time an attribute the package itself defines is asked for.

    pyroute2's ``__init__`` loads every subsystem it has (~10 MB) to re-export them; the daemon
    uses a few submodules. ``preset`` gives the names the submodules take from the package
    itself, if any. ``import pyroute2; pyroute2.IPRoute`` and ``from pyroute2 import IPRoute``
    still work, the first of them running the ``__init__``: the saving holds for a process that
    never asks. None when the package is already imported or not installed."""
    if name in sys.modules:
        return None
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return None
    package = importlib.util.module_from_spec(spec)
    package.__dict__.update(preset)
    loader = spec.loader

    def __getattr__(attribute: str) -> object:  # noqa: N807 - the module hook's own name (PEP 562)
        if importlib.util.find_spec(f"{name}.{attribute}") is not None:
            # ``from package import submodule`` asks first; the import system then loads it.
            raise AttributeError(attribute)
        package.__dict__.pop("__getattr__", None)  # the package may define its own
        loader.exec_module(package)
        return getattr(package, attribute)

    package.__dict__["__getattr__"] = __getattr__
    sys.modules[name] = package
    return package
