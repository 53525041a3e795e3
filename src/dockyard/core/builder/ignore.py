"""``.dockerignore`` with Docker's semantics (moby's ``patternmatcher``).

Each line is a pattern cleaned as a path (``./a/../b`` is ``b``; a leading ``/`` is dropped); ``#``
starts a comment; ``!`` makes an exception. ``*`` and ``?`` stop at ``/``, ``**`` crosses
directories, ``[…]`` is a class and ``\\`` escapes. A pattern that matches a directory matches
everything under it. The last matching pattern decides.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

_SPECIAL = set(".+()|{}$^")


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str
    exclusion: bool  # a "!" line: re-include what earlier patterns excluded
    regex: re.Pattern[str]


def read_patterns(content: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file, in order (``!`` kept)."""
    patterns: list[str] = []
    for raw in content.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append(("!" if invert else "") + line)
    return patterns


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            if pattern[i:i + 1] == "*":
                i += 1
                if pattern[i:i + 1] == "/":
                    i += 1
                out.append(".*" if i >= len(pattern) else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            out.append(re.escape(pattern[i]) if i < len(pattern) else "\\\\")
            i += 1
        elif ch in _SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    out.append("$")
    try:
        return re.compile("".join(out))
    except re.error:
        return re.compile(r"(?!)")  # an invalid class matches nothing, as Go's filepath.Match errors


class Matcher:
    """Decides whether a context path (slash-separated, relative) is excluded."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [Pattern(p.lstrip("!"), p.startswith("!"), _compile(p.lstrip("!")))
                         for p in patterns if p.lstrip("!")]

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        path = posixpath.normpath(path)
        parents = path.split("/")[:-1]
        matched = False
        for pattern in self.patterns:
            hit = bool(pattern.regex.match(path))
            if not hit:
                hit = any(pattern.regex.match("/".join(parents[:i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pattern.exclusion
        return matched
