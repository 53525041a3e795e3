"""Detach keys on the CLI side: docker's key syntax and the scanner over split reads."""

from __future__ import annotations

import pytest

from dockyard.cli.client import CliError
from dockyard.cli.detach import DetachScanner, parse_detach_keys


@pytest.mark.parametrize(("spec", "keys"), [
    (None, b"\x10\x11"), ("ctrl-p,ctrl-q", b"\x10\x11"), ("ctrl-a,x", b"\x01x"), ("ctrl-@", b"\x00"),
    ("ctrl-\\", b"\x1c"), ("a,b,c", b"abc"),
])
def test_docker_key_syntax(spec: str | None, keys: bytes) -> None:
    assert parse_detach_keys(spec) == keys


@pytest.mark.parametrize("spec", ["ctrl-", "ctrl-1", "esc", "ctrl-pq"])
def test_bad_keys_are_refused(spec: str) -> None:
    with pytest.raises(CliError, match="Unknown character"):
        parse_detach_keys(spec)


def test_sequence_split_across_reads_is_found_and_not_forwarded() -> None:
    scanner = DetachScanner(b"\x10\x11")
    assert scanner.feed(b"ls\x10") == (b"ls", False)
    assert scanner.feed(b"\x11rest") == (b"", True)


def test_a_held_prefix_that_does_not_complete_is_passed_on() -> None:
    scanner = DetachScanner(b"\x10\x11")
    assert scanner.feed(b"a\x10") == (b"a", False)
    assert scanner.feed(b"b") == (b"\x10b", False)
    assert scanner.feed(b"\x10\x10\x11") == (b"\x10", True)
