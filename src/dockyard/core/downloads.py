"""Fetching a URL into a file: ``docker import <url>`` now, ``ADD <url>`` in builds later."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Fetcher(Protocol):
    """Downloads what a URL names; the daemon's HTTP client lives behind it."""

    async def fetch(self, url: str, dest: Path) -> None:
        """Write the body at ``url`` to ``dest``. Errors: NotFound (404), InvalidArgument (a bad
        URL or another 4xx), Unavailable (unreachable, 5xx). ``dest`` is left absent on failure."""
        ...


def normalise_url(source: str) -> str:
    """Docker's rule for ``fromSrc``: a source without a scheme is fetched over http."""
    return source if "://" in source else f"http://{source}"
