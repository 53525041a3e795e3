"""Go's text of values (dockyard/gofmt.py), as Go's fmt and time print them."""

from __future__ import annotations

import pytest

from dockyard.gofmt import go_quote, go_quote_rune


@pytest.mark.parametrize(("number", "text"), [
    (0, "'\\x00'"), (3, "'\\x03'"), (10, "'\\n'"), (39, "'\\''"), (92, "'\\\\'"), (65, "'A'"),
    (127, "'\\x7f'"), (0xE9, "'é'"), (0x85, "'\\u0085'"), (-1, "'\\ufffd'"),
])
def test_quote_rune_is_go_percent_q_of_an_int(number: int, text: str) -> None:
    assert go_quote_rune(number) == text


def test_quote_keeps_printable_unicode_and_escapes_quotes() -> None:
    assert go_quote('say "héllo"\n') == '"say \\"héllo\\"\\n"'
