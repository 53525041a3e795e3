"""Reading one Compose file: YAML 1.2 through ruamel.yaml (``yes`` stays a string, as in Compose),
anchors and merge keys resolved, the ``!reset`` and ``!override`` tags kept as markers for the
merge, and where each key sits so that errors can name the file, the line and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError

from dockyard.cli.client import CliError


class ComposeError(CliError):
    """A problem with the project: one line naming the file (and key), exit status 1 (or 15 for a
    file that is not valid, as Compose v2 exits)."""


class Reset:
    """``!reset``: the merged value is removed (or emptied)."""

    def __repr__(self) -> str:
        return "Reset()"


@dataclass(slots=True)
class Override:
    """``!override``: the value replaces the one from earlier files instead of merging with it."""

    value: Any


@dataclass(slots=True)
class SourceFile:
    """A parsed file: its plain tree and the 1-based line of each key path."""

    path: Path
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    def line_of(self, keys: list[str]) -> int | None:
        """The line of the deepest key of ``keys`` that the file has."""
        for end in range(len(keys), 0, -1):
            line = self.lines.get(tuple(keys[:end]))
            if line is not None:
                return line
        return None

    def where(self, keys: list[str]) -> str:
        line = self.line_of(keys)
        return f"{self.path}:{line}" if line is not None else str(self.path)


def _plain(node: Any, path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> Any:
    tag = getattr(getattr(node, "tag", None), "value", None)
    if isinstance(node, TaggedScalar):
        value: Any = Reset() if tag == "!reset" else node.value
        return Override(value) if tag == "!override" else value
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            child = (*path, str(key))
            try:
                lines[child] = int(node.lc.key(key)[0]) + 1
            except (KeyError, TypeError, AttributeError):
                lines.setdefault(child, int(node.lc.line) + 1)
            out[str(key)] = _plain(node[key], child, lines)
        value = out
    elif isinstance(node, CommentedSeq):
        value = [_plain(item, (*path, str(index)), lines) for index, item in enumerate(node)]
    else:
        return node
    if tag == "!reset":
        return Reset()
    if tag == "!override":
        return Override(value)
    return value


def parse_text(text: str, path: Path) -> SourceFile:
    """Parse ``text`` as the Compose file at ``path`` (the path only names it in errors)."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ComposeError(f"yaml: {where}: {exc.problem or exc.context}", 15) from exc
    except Exception as exc:  # noqa: BLE001 - ruamel raises several unrelated classes
        raise ComposeError(f"yaml: {path}: {exc}", 15) from exc
    lines: dict[tuple[str, ...], int] = {}
    data = _plain(root, (), lines) if root is not None else {}
    if not isinstance(data, dict):
        raise ComposeError(f"{path}: Top-level object must be a mapping", 15)
    return SourceFile(path=path, data=data, lines=lines)


def read_file(path: Path) -> SourceFile:
    try:
        text = path.read_text()
    except OSError as exc:
        reason = str(exc.strerror or exc)
        raise ComposeError(f"open {path}: {reason[:1].lower()}{reason[1:]}", 14) from exc
    return parse_text(text, path)
