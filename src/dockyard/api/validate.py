"""Request bodies parsed and checked once, as dockerd's Go decoder would, before any route reads them.

Every JSON body goes through :func:`parse` (no NaN/Infinity, bounded nesting) and :func:`check`
against the field types the Engine API spec gives (``wire_types.py``, generated from it). A field
of the wrong JSON type is a 400 naming it in Go's words (``json: cannot unmarshal object into Go
struct field HostConfig.HostConfig.Memory of type int64``) instead of a 500 deep in a route.

Go's semantics are kept where clients rely on them: ``null`` is allowed anywhere (the field keeps
its zero value), unknown fields are ignored, and a ``null`` inside a list or map becomes the element
type's zero value (``ConsoleSize: [null, null]`` is ``[0, 0]``), so routes never see a None where
the spec puts a number or a string.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from dockyard.api.wire_types import ROUTES, STRUCTS
from dockyard.errors import InvalidArgument

# Go's encoding/json stops at 10,000 levels; no Docker body is deeper than about 10, and Python's
# own recursion limit (1,000) must never be what answers.
MAX_DEPTH = 100

_INT_RANGES = {
    "int": (-(2**63), 2**63 - 1), "int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1),
    "uint64": (0, 2**64 - 1), "uint32": (0, 2**32 - 1), "uint16": (0, 2**16 - 1), "uint8": (0, 255),
}
_ZERO: dict[str, Any] = {"string": "", "bool": False, "float64": 0.0, "strslice": []}


class Number(float):
    """A JSON number with a fraction or exponent, keeping its text for Go's message."""

    literal: str

    def __new__(cls, literal: str) -> Number:
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


def _no_constants(name: str) -> Any:
    # Go: `invalid character 'N' looking for beginning of value`.
    raise InvalidArgument(f"invalid JSON: invalid character '{name[0]}' looking for beginning of value")


def parse(raw: bytes) -> Any:
    """Decode a request body; malformed, NaN/Infinity or too deep JSON is a 400."""
    try:
        value = json.loads(raw, parse_float=Number, parse_constant=_no_constants)
    except RecursionError as exc:
        raise InvalidArgument("invalid JSON: exceeded max depth") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from exc
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise InvalidArgument("invalid JSON: exceeded max depth")
        stack.extend((child, depth + 1) for child in children)


_PARAM = re.compile(r"\{[^}]*\}")


def _normal(path: str) -> str:
    return _PARAM.sub("{}", path)


@cache
def _routes() -> dict[str, str]:
    result = {}
    for key, kind in ROUTES.items():
        method, path = key.split(" ", 1)
        result[f"{method} {_normal(path)}"] = kind
    return result


def route_type(method: str, path_template: str) -> str | None:
    """The spec's body type for a route (its template, with or without the ``/v{…}`` prefix)."""
    path = re.sub(r"^/v\{[^}]*\}", "", path_template)
    return _routes().get(f"{method.upper()} {_normal(path)}")


def check(kind: str, value: Any) -> Any:
    """``value`` checked against type ``kind``; returns it with nulls in lists/maps zeroed."""
    return _Walk().value(value, kind, struct="", path="")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Number):
        return f"number {value.literal}"
    if isinstance(value, int | float):
        return f"number {value}"
    return "null"


@cache
def go_type(kind: str) -> str:
    """How Go names the type in its message."""
    if kind.startswith("[]"):
        return "[]" + go_type(kind[2:])
    if kind.startswith("map[string]"):
        return "map[string]" + go_type(kind[len("map[string]"):])
    if kind.startswith("@"):
        return STRUCTS[kind[1:]][0]
    return {"object": "map[string]interface {}", "any": "interface {}",
            "strslice": "strslice.StrSlice"}.get(kind, kind)


# Fields that are Go time.Duration in moby's types (nanoseconds on the wire, int64 in the spec):
# Go names that type in its message.
_DURATIONS = frozenset({"Delay", "Monitor", "Interval", "Timeout", "StartPeriod", "StartInterval",
                        "StopGracePeriod", "Window", "HeartbeatPeriod", "NodeCertExpiry"})


class _Walk:
    def fail(self, value: Any, kind: str, struct: str, path: str) -> InvalidArgument:
        found = _json_kind(value)
        if kind == "int64" and path.rsplit(".", 1)[-1] in _DURATIONS:
            kind = "time.Duration"
        if not path:
            return InvalidArgument(f"json: cannot unmarshal {found} into Go value of type {go_type(kind)}")
        return InvalidArgument(
            f"json: cannot unmarshal {found} into Go struct field {struct}.{path} of type {go_type(kind)}")

    def value(self, value: Any, kind: str, *, struct: str, path: str) -> Any:
        if value is None or kind == "any":
            return value
        if kind.startswith("@"):
            return self.struct(value, kind, struct=struct, path=path)
        if kind.startswith("[]"):
            if not isinstance(value, list):
                raise self.fail(value, kind, struct, path)
            elem = kind[2:]
            return [self.element(item, elem, struct=struct, path=path) for item in value]
        if kind.startswith("map[string]") or kind == "object":
            if not isinstance(value, dict):
                raise self.fail(value, kind, struct, path)
            if kind == "object":
                return value
            elem = kind[len("map[string]"):]
            return {key: self.element(item, elem, struct=struct, path=path) for key, item in value.items()}
        return self.scalar(value, kind, struct=struct, path=path)

    def element(self, value: Any, kind: str, *, struct: str, path: str) -> Any:
        if value is None:
            return _zero(kind)
        return self.value(value, kind, struct=struct, path=path)

    def struct(self, value: Any, kind: str, *, struct: str, path: str) -> Any:
        if not isinstance(value, dict):
            raise self.fail(value, kind, struct, path)
        go_name = STRUCTS[kind[1:]][0]
        fields = _fields(kind[1:])
        result = dict(value)
        for key, item in value.items():
            field_kind = fields.get(key)
            if field_kind is not None:
                result[key] = self.value(item, field_kind, struct=go_name,
                                         path=f"{path}.{key}" if path else key)
        return result

    def scalar(self, value: Any, kind: str, *, struct: str, path: str) -> Any:
        if kind == "string":
            ok = isinstance(value, str)
        elif kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "float64":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif kind == "strslice":
            ok = isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(v, str | None) for v in value))
            if ok and isinstance(value, list):
                return ["" if v is None else v for v in value]
        elif kind in _INT_RANGES:
            low, high = _INT_RANGES[kind]
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        else:
            ok = True
        if not ok:
            raise self.fail(value, kind, struct, path)
        return value


@cache
def _fields(name: str) -> dict[str, str]:
    """A struct's fields with those of the structs it embeds (promoted, as in Go)."""
    _, embeds, own = STRUCTS[name]
    fields: dict[str, str] = {}
    for embedded in embeds:
        fields.update(_fields(embedded))
    fields.update(own)
    return fields


def _zero(kind: str) -> Any:
    if kind in _INT_RANGES:
        return 0
    if kind.startswith("[]"):
        return []
    if kind.startswith("map[string]") or kind.startswith("@") or kind == "object":
        return {}
    return _ZERO.get(kind)
