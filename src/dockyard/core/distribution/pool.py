"""Running a transfer per blob concurrently, failing as one.

``asyncio.TaskGroup`` cancels the siblings of a failed task and raises an ``ExceptionGroup``; the
user wants the error itself (``filesystem layer verification failed …``), so the first one is
re-raised, with the group as its context for the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def run_all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Await every coroutine concurrently; their results in order, or the first error."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as errors:
        raise _first(errors) from errors
    return [t.result() for t in tasks]


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error
