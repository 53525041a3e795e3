"""Detaching from a container's terminal with a key sequence (ctrl-p ctrl-q), as the docker CLI
does on its own side of an interactive TTY session."""

from __future__ import annotations

from dockyard.cli.client import CliError

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str | None) -> bytes:
    """docker's ``--detach-keys``: comma-separated ``ctrl-<char>`` or single characters."""
    keys = bytearray()
    for item in (spec or DEFAULT_DETACH_KEYS).split(","):
        item = item.strip()
        if len(item) == 1:
            keys.append(ord(item))
        elif item.startswith("ctrl-") and len(item) == 6:
            char = item[5].lower()
            if "a" <= char <= "z":
                keys.append(ord(char) - ord("a") + 1)
            elif char in _CTRL_SPECIAL:
                keys.append(_CTRL_SPECIAL[char])
            else:
                raise CliError(f"Unknown character: '{item}'", 125)
        else:
            raise CliError(f"Unknown character: '{item}'", 125)
    return bytes(keys)


class DetachScanner:
    """Finds the key sequence in a stream of reads. Bytes that may start the sequence are held
    back until it is clear they do not, then passed on (docker's escape proxy does the same)."""

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to forward, and whether the sequence was typed (the rest is dropped)."""
        out = bytearray()
        buffer = self._held + data
        self._held = b""
        index = 0
        while index < len(buffer):
            rest = buffer[index:index + len(self._keys)]
            if rest == self._keys:
                return bytes(out), True
            if self._keys.startswith(rest):  # a possible start, cut short by the read
                self._held = rest
                return bytes(out), False
            out.append(buffer[index])
            index += 1
        return bytes(out), False
