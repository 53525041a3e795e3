"""Build requests and results as the core sees them (the API maps ``POST /build``'s query)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument

Emit = Callable[[str], Awaitable[None]]  # one piece of Docker's "stream" text


@dataclass(frozen=True, slots=True)
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    remove: bool = True  # rm: remove intermediate containers after a successful step
    force_remove: bool = False  # forcerm: also after a failed one (we always do)
    quiet: bool = False
    cache_from: tuple[str, ...] = ()
    network_mode: str = ""
    platform: str = ""
    # RUN --mount=type=secret values by id; never printed, stored, nor part of a cache key.
    secrets: dict[str, bytes] = field(default_factory=dict, repr=False)
    # HostConfig fields every RUN container gets: ExtraHosts (--add-host), ShmSize, Memory,
    # MemorySwap, CpuShares, CpusetCpus, CpusetMems, CpuPeriod, CpuQuota, Ulimits, CgroupParent.
    run_host: dict[str, Any] = field(default_factory=dict)
    # The Dockerfile's text when it does not travel in the context (BuildKit clients send it
    # apart); ``dockerfile`` then only names it in messages.
    dockerfile_text: str | None = None


@dataclass(frozen=True, slots=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]


class StepFailed(InvalidArgument):
    """A RUN exited non-zero: Docker's message and the exit code (the CLI's exit status)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
