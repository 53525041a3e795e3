"""Container names: Docker's validation rule and generated ``adjective_surname`` names."""

from __future__ import annotations

import re
import secrets

from dockyard.core.naming import check_name
from dockyard.errors import InvalidArgument

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
