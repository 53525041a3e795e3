"""Go's text of a few values, where Docker's own output is Go's ``fmt`` or ``time`` formatting:
Compose v2's config hash (compose/confighash.py) and the classic builder's history text
(core/builder/instructions.py) both print them. Here, below every layer, so neither copies it."""

from __future__ import annotations

import json

_RUNE_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v",
                 39: "\\'", 92: "\\\\"}


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``: ``1m30s``, ``500ms``, ``1h0m0s``, ``0s``."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 10**9:
        unit, scale = ("µs", 1000) if ns < 10**6 else ("ms", 10**6)
        return sign + _decimal(ns, scale) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = _decimal(rest, 10**9) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _decimal(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``) for printable text: a JSON string without
    JSON's escaping of non-ASCII."""
    return json.dumps(text, ensure_ascii=False)


def go_quote_rune(number: int) -> str:
    """Go's ``%q`` of an integer: a quoted character literal (``3`` → ``'\\x03'``), which is how
    ``fmt`` prints an ``int`` field under ``%q``."""
    if number in _RUNE_ESCAPES:
        return f"'{_RUNE_ESCAPES[number]}'"
    if number < 0 or number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
        return "'\\ufffd'"  # not a rune: Go prints the replacement character
    char = chr(number)
    if char.isprintable():
        return f"'{char}'"
    if number < 0x80:
        return f"'\\x{number:02x}'"
    return f"'\\u{number:04x}'" if number <= 0xFFFF else f"'\\U{number:08x}'"
