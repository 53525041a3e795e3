"""In-process pub/sub behind ``docker events``: Docker's event model, a bounded history, filters.

An *event* is Docker's ``EventMessage``: a ``Type`` (container, image, network, volume…), an
``Action`` (``create``, ``start``, ``die``, ``health_status: healthy``…), an ``Actor`` (the
object's ID and string ``Attributes`` such as ``name``, ``image``, ``exitCode`` and the object's
labels), a ``scope`` and the time in seconds and nanoseconds. Services publish; the API subscribes.
The history keeps the newest events so a ``since`` in the past replays them, as dockerd's does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from dockyard.core.labels import labels_match
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

HISTORY_SIZE = 1024  # dockerd keeps 256; more costs little and helps `events --since` in tests
_QUEUE_SIZE = 4096  # a subscriber this far behind is dropped rather than grow without bound

_POLL = 1.0  # seconds between checks that the reader is still there
Filters = dict[str, list[str]]
FILTER_KEYS = frozenset({"type", "container", "image", "event", "label", "network", "volume",
                         "scope", "daemon", "plugin", "node", "service", "secret", "config"})


@dataclass(frozen=True, slots=True)
class Event:
    """One ``EventMessage``."""

    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_nano: int = 0
    scope: str = "local"

    @property
    def time(self) -> int:
        return self.time_nano // 1_000_000_000


def _object_match(event: Event, kind: str, refs: Sequence[str]) -> bool:
    """``container=``/``network=``/``volume=`` name or ID (prefix), as dockerd matches them."""
    if event.type != kind:
        return False
    name = event.attributes.get("name", "")
    return any(ref in (event.actor_id, name) or (len(ref) >= 3 and event.actor_id.startswith(ref))
               for ref in refs)


def _image_match(event: Event, refs: Sequence[str]) -> bool:
    # moby: the image filter matches an image event's ID or name, and a container's "image".
    candidates = {event.attributes.get("image", ""), event.attributes.get("name", "")}
    if event.type == "image":
        candidates.add(event.actor_id)
    for ref in refs:
        bare = ref.split(":", 1)[0] if ":" in ref and "/" not in ref.split(":", 1)[1] else ref
        if ref in candidates or f"{bare}:latest" in candidates or bare in candidates:
            return True
    return False


def validate(filters: Filters) -> None:
    for key in filters:
        if key not in FILTER_KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")


def matches(event: Event, filters: Filters) -> bool:
    """True when ``event`` passes every filter key (values of one key are alternatives)."""
    if "type" in filters and event.type not in filters["type"]:
        return False
    if "event" in filters and not any(
            event.action == wanted or event.action.split(":", 1)[0] == wanted
            for wanted in filters["event"]):
        return False
    if "scope" in filters and event.scope not in filters["scope"]:
        return False
    if "label" in filters and not labels_match(event.attributes, filters["label"]):
        return False
    if "image" in filters and not _image_match(event, filters["image"]):
        return False
    for key in ("container", "network", "volume"):
        if key in filters and not _object_match(event, key, filters[key]):
            return False
    return True


class EventBus:
    """Publishers call :meth:`publish`; readers iterate :meth:`subscribe`.

    A bus nobody reads is a no-op apart from the history, so services take one optionally.
    """

    def __init__(self, history: int = HISTORY_SIZE) -> None:
        self._history: deque[Event] = deque(maxlen=history)
        self._queues: set[asyncio.Queue[Event | None]] = set()

    @property
    def listeners(self) -> int:
        return len(self._queues)

    def publish(self, type_: str, action: str, actor_id: str,
                attributes: Mapping[str, str] | None = None) -> Event:
        event = Event(type=type_, action=action, actor_id=actor_id,
                      attributes=dict(attributes or {}), time_nano=time.time_ns())
        self._history.append(event)
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("dropping an events subscriber that fell %d events behind", _QUEUE_SIZE)
                self._queues.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)  # ends that subscriber's stream
        log.debug("event %s %s %s", type_, action, actor_id[:12])
        return event

    def history(self, *, since: float | None = None, until: float | None = None,
                filters: Filters | None = None) -> list[Event]:
        """Events kept in memory between ``since`` and ``until`` (Unix seconds, inclusive)."""
        return [e for e in self._history if _in_window(e, since, until)
                and matches(e, filters or {})]

    async def subscribe(self, *, since: float | None = None, until: float | None = None,
                        filters: Filters | None = None,
                        alive: Callable[[], bool] | None = None) -> AsyncIterator[Event]:
        """Past events from ``since``, then live ones until ``until`` (forever without it, or
        until ``alive()`` turns false: a reader that went away is noticed within a second).

        The queue is registered before the history is read, so nothing published in between is
        lost; events already replayed are skipped by identity.
        """
        filters = filters or {}
        validate(filters)
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self._queues.add(queue)
        try:
            replayed = self.history(since=since, until=until, filters=filters) if since is not None else []
            seen = {id(e) for e in replayed}
            for event in replayed:
                yield event
            if until is not None and until <= time.time():
                return
            async for event in _live(queue, until, alive or (lambda: True)):
                if id(event) not in seen and matches(event, filters):
                    yield event
        finally:
            self._queues.discard(queue)


def _in_window(event: Event, since: float | None, until: float | None) -> bool:
    seconds = event.time_nano / 1_000_000_000
    if since is not None and seconds < since:
        return False
    return until is None or seconds <= until


async def _live(queue: asyncio.Queue[Event | None], until: float | None,
                alive: Callable[[], bool]) -> AsyncIterator[Event]:
    while alive():
        timeout = _POLL if until is None else min(_POLL, until - time.time())
        if timeout <= 0:
            return
        try:
            event = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            continue
        if event is None:
            return
        yield event


def container_attributes(name: str, image: str, labels: Mapping[str, str],
                         extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A container event's Actor.Attributes: its labels, then ``image`` and ``name`` (moby's)."""
    attributes = dict(labels)
    attributes.update(extra or {})
    attributes["image"] = image
    attributes["name"] = name.lstrip("/")
    return attributes
