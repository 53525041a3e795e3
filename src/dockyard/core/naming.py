"""What every user-given object name must be, whatever its own rule: printable, valid text, short.

Containers, volumes and networks each have Docker's own character rule (names.py, volumes/model.py);
this is the common floor under them. A name is a file name (volumes), a key in the store and a word
in ``docker ps`` output, so a control character, a lone surrogate from undecodable bytes, U+FFFD
from a query string the server could not decode, or a name longer than a file name may be are refused
before anything is made.
"""

from __future__ import annotations

import unicodedata

from dockyard.errors import InvalidArgument

MAX_NAME = 255  # NAME_MAX: a volume's name is its directory's name


def bad_character(name: str) -> str | None:
    """The first character no name may hold (a control character, U+FFFD or a surrogate), if any."""
    for char in name:
        if char == "\ufffd" or unicodedata.category(char) in ("Cc", "Cs", "Cf"):
            return char
    return None


def check_name(kind: str, name: str) -> None:
    """Refuse ``name`` for a ``kind`` ("container", "volume", "network") with a 400 naming why."""
    char = bad_character(name)
    if char is not None:
        raise InvalidArgument(f"invalid {kind} name {name!r}: it contains the character "
                              f"U+{ord(char):04X}, which names may not hold")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"invalid {kind} name: {len(name)} characters, "
                              f"longer than the {MAX_NAME} allowed")
