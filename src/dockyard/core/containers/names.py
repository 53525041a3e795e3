"""Container names: Docker's validation rule and generated ``adjective_surname`` names."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dockyard.core.containers.store import name_conflict
from dockyard.core.naming import check_name
from dockyard.errors import AlreadyExists, InvalidArgument

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

# Our own short lists in the spirit of Docker's generator: a mood and a scientist or engineer.
_ADJECTIVES = (
    "admiring", "bold", "brave", "busy", "calm", "clever", "cool", "curious", "dazzling", "eager",
    "elastic", "epic", "festive", "focused", "friendly", "gallant", "gifted", "happy", "hopeful",
    "jolly", "keen", "kind", "lucid", "modest", "nifty", "optimistic", "patient", "quirky",
    "relaxed", "serene", "sharp", "stoic", "sweet", "tender", "trusting", "vibrant", "wizardly",
    "youthful", "zealous", "zen",
)
_SURNAMES = (
    "agnesi", "babbage", "bardeen", "bohr", "borg", "cerf", "curie", "darwin", "dijkstra",
    "euclid", "euler", "faraday", "fermat", "feynman", "franklin", "galileo", "gauss", "hamilton",
    "hopper", "hypatia", "kepler", "knuth", "lamarr", "lovelace", "maxwell", "meitner", "mendel",
    "noether", "pascal", "pasteur", "raman", "ritchie", "shannon", "tesla", "thompson", "torvalds",
    "turing", "volta", "wiles", "wing",
)


def validate_name(name: str) -> str:
    """Return the name with Docker's leading slash, or raise Docker's 400."""
    # fullmatch: ``$`` alone also matches before a trailing newline, which Go's regexp does not.
    check_name("container", name)
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name if name.startswith("/") else "/" + name


def generate_name(retry: int = 0) -> str:
    """A random ``adjective_surname``; after a collision a digit is appended, as Docker does."""
    name = f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_SURNAMES)}"
    if retry > 0:
        name += str(secrets.randbelow(10))
    return "/" + name


class NameReservations:
    """Names of containers being created: between the check and the record a create awaits (volumes,
    the snapshot), and concurrent creates would otherwise pick the same generated name; the second
    then failed with a 409 its client never asked for."""

    def __init__(self, owner_of: Callable[[str], str | None]) -> None:
        self._owner_of = owner_of
        self._pending: dict[str, str] = {}  # name -> id of the container being created

    def _owner(self, name: str) -> str | None:
        return self._owner_of(name) or self._pending.get(name)

    @contextmanager
    def reserve(self, wanted: str, container_id: str) -> Iterator[str]:
        """The name (``wanted``, or a generated one) held for ``container_id`` until the block ends:
        by then the container's record holds it, or the create failed."""
        name = self._pick(wanted)
        self._pending[name] = container_id
        try:
            yield name
        finally:
            self._pending.pop(name, None)

    def _pick(self, wanted: str) -> str:
        if wanted:
            name = validate_name(wanted)
            owner = self._owner(name)
            if owner is not None:
                raise name_conflict(name, owner)
            return name
        for attempt in range(10):
            name = generate_name(attempt)
            if self._owner(name) is None:
                return name
        raise AlreadyExists("could not generate a unique container name")
