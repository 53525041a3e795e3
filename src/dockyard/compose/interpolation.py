"""Compose's variable interpolation: ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+alt}``, ``${VAR+alt}`` and ``$$`` for a literal ``$``.

It applies to every string value of a file (not keys), before the schema check, as Compose does.
A nested default (``${A:-${B}}``) is expanded recursively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A ``${VAR:?msg}`` whose variable is unset, or a malformed ``${…}``."""


def _braced_end(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` that opens at ``start`` (nesting counted)."""
    depth = 0
    index = start
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise InterpolationError(f"invalid interpolation format for {text!r}: missing closing brace")


def _substitute(body: str, env: Mapping[str, str], text: str) -> str:
    match = _NAME.match(body)
    if match is None:
        raise InterpolationError(f'invalid interpolation format for "{text}". You may need to escape '
                                 "any $ with another $.")
    name, rest = match.group(0), body[match.end():]
    value = env.get(name)
    if not rest:
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op):]
            unset = value is None or (op.startswith(":") and value == "")
            if op.endswith("-"):
                return interpolate(arg, env) if unset else str(value)
            if op.endswith("+"):
                return "" if unset else interpolate(arg, env)
            if unset:
                message = interpolate(arg, env) if arg else f"variable {name} is missing a value"
                raise InterpolationError(f"required variable {name} is missing a value: {message}")
            return str(value)
    raise InterpolationError(f'invalid interpolation format for "{text}". You may need to escape any $ '
                             "with another $.")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """One string with its variables substituted."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "$":
            out.append(char)
            index += 1
            continue
        if text.startswith("$$", index):
            out.append("$")
            index += 2
        elif text.startswith("${", index):
            end = _braced_end(text, index)
            out.append(_substitute(text[index + 2:end], env, text))
            index = end + 1
        else:
            match = _NAME.match(text, index + 1)
            if match is None:
                out.append("$")
                index += 1
            else:
                out.append(env.get(match.group(0)) or "")
                index = match.end()
    return "".join(out)


def interpolate_tree(node: Any, env: Mapping[str, str],
                     on_error: Callable[[InterpolationError, list[str]], Exception],
                     path: list[str] | None = None) -> Any:
    """Every string value of a parsed file, in place where the containers allow it; ``on_error``
    turns a failure into the error that names the file and key."""
    path = path or []
    if isinstance(node, str):
        try:
            return interpolate(node, env)
        except InterpolationError as exc:
            raise on_error(exc, path) from exc
    if isinstance(node, dict):
        for key in list(node):
            node[key] = interpolate_tree(node[key], env, on_error, [*path, str(key)])
        return node
    if isinstance(node, list):
        for index, item in enumerate(node):
            node[index] = interpolate_tree(item, env, on_error, [*path, str(index)])
        return node
    return node
