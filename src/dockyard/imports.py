"""Modules loaded on first use, so an idle daemon holds only what serving needs.

``lazy("httpx")`` registers the module at once (``import httpx`` elsewhere gets the same object) and
runs it at the first attribute access: the registry client's ~6 MB stay out of a daemon that has
not pulled or pushed. Modules bind it under ``if not TYPE_CHECKING`` so mypy still sees the real
module's types.
"""

from __future__ import annotations

import importlib.util
import re
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


def defer_package_init(name: str, *, with_version: bool = False, **preset: object) -> ModuleType | None:
    """Register package ``name`` so its submodules import without its ``__init__``, which runs
    the first time an attribute the package itself defines is asked for.

    aiohttp's ``__init__`` imports its whole client (~4 MB resident) to re-export it; the daemon
    serves with ``aiohttp.web`` alone. ``preset`` gives the few names the submodules take from
    the package itself (aiohttp's ``__version__``). ``import aiohttp; aiohttp.ClientSession`` and
    ``from aiohttp import ClientSession`` still work, the first of them running the ``__init__``:
    the saving holds for a process that never asks. ``with_version``: preset ``__version__`` as
    the ``__init__.py`` assigns it in its first lines, read, not run (importlib.metadata would
    cost more than the deferral saves); without it the package is left alone. None when the
    package is already imported, not installed, or its version is wanted and not found."""
    if name in sys.modules:
        return None
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return None
    if with_version:
        version = _version_in_source(spec.origin)
        if not version:
            return None
        preset = {**preset, "__version__": version}
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


def _version_in_source(origin: str | None) -> str:
    """``__version__`` as the ``__init__.py`` at ``origin`` assigns it in its first lines ("" if not)."""
    if not origin:
        return ""
    try:
        with open(origin, encoding="utf-8") as source:
            head = source.read(4096)
    except OSError:
        return ""
    found = re.search(r'^__version__ = "([^"]+)"$', head, re.MULTILINE)
    return found.group(1) if found else ""
