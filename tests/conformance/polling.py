"""Waiting in tests: a condition polled against a deadline, never a sleep (podman ``common.py``).

Two shapes cover the suite: :func:`wait_for` waits for something to appear (a running task, a
receiver's message) and fails the test when it does not; :func:`settled` waits for things to go
away (background teardowns finishing) and hands back what stayed, for the test to assert on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy, and return that value.

    The timeout only bounds a failing test (a passing one returns as soon as the condition holds);
    the error names ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def settled(probe: Callable[[], T], timeout: float = 15.0, interval: float = 0.2) -> T:
    """Poll ``probe`` until it finds nothing (a falsy value) or the deadline passes; return its last
    answer, so that ``assert settled(leftovers) == []`` shows what was left behind."""
    deadline = time.monotonic() + timeout
    found = probe()
    while found and time.monotonic() < deadline:
        time.sleep(interval)
        found = probe()
    return found
