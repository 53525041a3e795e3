"""A service the composition root names at start and makes on its first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class Lazy(Generic[_T]):
    """``make()`` runs at the first ``get()``, and once: the Dockerfile builder's modules (about
    1 MB resident) stay out of a daemon that has not built anything."""

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[], _T]) -> None:
        self._make = make
        self._made: _T | None = None

    def get(self) -> _T:
        if self._made is None:
            self._made = self._make()
        return self._made

    @property
    def made(self) -> bool:
        return self._made is not None
