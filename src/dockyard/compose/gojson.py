"""Go's ``encoding/json`` text, for values Compose v2 hashes (confighash.py); ``time.Duration``'s is
in dockyard/gofmt.py."""

from __future__ import annotations

import struct
from decimal import Decimal
from typing import Any


class Float32(float):
    """A Go ``float32``: marshalled in its shortest round-tripping decimal form."""


def _round32(value: float) -> float:
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def _float_text(value: float, *, bits: int = 64) -> str:
    """Go's ``strconv.FormatFloat(v, 'f' or 'e', -1, bits)`` as encoding/json picks between them."""
    if bits == 32:
        value = _round32(value)
        for digits in range(1, 18):
            text = f"{value:.{digits}g}"
            if _round32(float(text)) == value:
                break
    else:
        text = repr(value)
    if value and not 1e-6 <= abs(value) < 1e21:
        return text
    plain = format(Decimal(text), "f")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
            "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_string(text: str) -> str:
    out = []
    for char in text:
        escaped = _ESCAPES.get(char)
        if escaped is None and ord(char) < 0x20:
            escaped = f"\\u{ord(char):04x}"
        out.append(escaped or char)
    return '"' + "".join(out) + '"'


def go_json(value: Any) -> str:
    """Compact JSON as Go's ``encoding/json`` writes it (dicts are written in their own order)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Float32):
        return _float_text(value, bits=32)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_string(str(k))}:{go_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise TypeError(f"cannot marshal {type(value).__name__}")
