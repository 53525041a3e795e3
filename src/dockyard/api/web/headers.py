"""Ordered multi-valued maps for a request's headers (names without case) and its query string."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar, overload

_T = TypeVar("_T")


class MultiDict(Mapping[str, str]):
    """Pairs in the order they came; ``[name]`` and ``get`` give a name's first value,
    ``getall`` every value."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        if items is not None:
            self.extend(items)

    @staticmethod
    def _key(name: str) -> str:
        return name

    def extend(self, items: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def __getitem__(self, name: str) -> str:
        key = self._key(name)
        for item, value in self._items:
            if self._key(item) == key:
                return value
        raise KeyError(name)

    @overload
    def getall(self, name: str) -> list[str]: ...

    @overload
    def getall(self, name: str, default: _T) -> list[str] | _T: ...

    def getall(self, name: str, default: object = KeyError) -> object:
        key = self._key(name)
        found = [value for item, value in self._items if self._key(item) == key]
        if found:
            return found
        if default is KeyError:
            raise KeyError(name)
        return default

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = self._key(name)
        return any(self._key(item) == key for item, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]  # every pair, repeats too
        return list(self._items)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}({self._items!r})>"


class Headers(MultiDict):
    """Header fields: names match without case, and keep the case they were given."""

    __slots__ = ()

    @staticmethod
    def _key(name: str) -> str:
        return name.lower()

    def __setitem__(self, name: str, value: str) -> None:
        key = name.lower()
        self._items = [(n, v) for n, v in self._items if n.lower() != key]
        self._items.append((name, value))

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        kept = [(n, v) for n, v in self._items if n.lower() != key]
        if len(kept) == len(self._items):
            raise KeyError(name)
        self._items = kept

    def setdefault(self, name: str, default: str) -> str:
        try:
            return self[name]
        except KeyError:
            self._items.append((name, default))
            return default

    def pop(self, name: str, default: str | None = None) -> str | None:
        try:
            value = self[name]
        except KeyError:
            return default
        del self[name]
        return value

    def update(self, items: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self[name] = value
