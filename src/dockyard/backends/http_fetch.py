"""The :class:`dockyard.core.downloads.Fetcher` on httpx: streamed to disk, never held in memory."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument, NotFound, Unavailable

if TYPE_CHECKING:
    import httpx
else:
    from dockyard.imports import lazy

    httpx = lazy("httpx")  # on first use: ~6 MB an idle daemon need not hold (dockyard/imports.py)

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class HttpxFetcher:
    async def fetch(self, url: str, dest: Path) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidArgument(f"unsupported URL {url!r}: only http and https are fetched")
        log.info("fetching %s", url)
        try:
            timeout = httpx.Timeout(30.0, connect=10.0)
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
                async with client.stream("GET", url) as response:
                    _check(url, response)
                    with dest.open("wb") as out:
                        async for chunk in response.aiter_bytes(_CHUNK):
                            out.write(chunk)
        except httpx.InvalidURL as exc:
            raise InvalidArgument(f"invalid URL {url!r}: {exc}") from exc
        except httpx.HTTPError as exc:
            with contextlib.suppress(FileNotFoundError):
                dest.unlink()
            raise Unavailable(f"Get {url!r}: {exc}") from exc
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                dest.unlink()
            raise


def _check(url: str, response: httpx.Response) -> None:
    status = response.status_code
    if status == 404:
        raise NotFound(f"Get {url!r}: 404 Not Found")
    if 400 <= status < 500:
        raise InvalidArgument(f"Get {url!r}: {status} {response.reason_phrase}")
    if status >= 500:
        raise Unavailable(f"Get {url!r}: {status} {response.reason_phrase}")
