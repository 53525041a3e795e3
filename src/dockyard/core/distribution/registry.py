"""The Registry Protocol: what pull and push need from a registry speaking the distribution protocol.

The backend (``backends/registry.py``) implements it over HTTP: endpoints, TLS, tokens, retries of
single requests. The core decides what to copy, verifies every digest and resumes broken downloads.
Errors: NotFound (unknown manifest or blob), Unauthorized/Forbidden, Unavailable (unreachable, a
dropped connection, 5xx), InvalidArgument (a malformed answer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

from dockyard.core.distribution.model import AuthConfig, Repository

Chunks = AsyncIterator[bytes]


class Registry(Protocol):
    async def get_manifest(self, repo: Repository, reference: str) -> tuple[bytes, str]:
        """The manifest (or index) bytes named by tag or digest, and the media type declared."""
        ...

    def fetch_blob(self, repo: Repository, digest: str, offset: int = 0) -> Chunks:
        """The blob's bytes from ``offset`` on (a Range request; bytes before it are skipped when
        the registry ignores ranges)."""
        ...

    async def blob_size(self, repo: Repository, digest: str) -> int | None:
        """The size of a blob the repository holds, None when absent."""
        ...

    async def mount_blob(self, repo: Repository, digest: str, from_path: str) -> bool:
        """Cross-repository mount; False when the registry started an upload instead."""
        ...

    async def upload_blob(self, repo: Repository, digest: str, path: Path,
                          progress: Callable[[int], None]) -> None:
        """Upload the file at ``path`` as ``digest`` (chunked for large blobs, monolithic else)."""
        ...

    async def put_manifest(self, repo: Repository, tag: str, data: bytes, media_type: str) -> None:
        ...

    async def list_tags(self, repo: Repository) -> list[str]:
        ...

    async def login(self, host: str, auth: AuthConfig) -> str:
        """Check credentials against ``host``; return an identity token when the registry gives one."""
        ...

    async def search(self, host: str, term: str, limit: int, auth: AuthConfig) -> list[dict[str, Any]]:
        ...

    async def close(self) -> None:
        """Release connections (the daemon is shutting down)."""
        ...
