"""A build's progress as BuildKit's ``Status`` stream: vertexes (one per step), their logs.

The builder reports Docker's classic stream text (``Step 2/5 : RUN make``, `` ---> Using cache``,
the step's output); each ``Step`` line opens a vertex named as BuildKit names a Dockerfile step
(``[2/5] RUN make``), the lines after it are that vertex's log, and the next step (or the build's
end) completes it. Every Status reader sees the whole history from the start, then new updates.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator

from dockyard.api.buildkit import wire_pb2 as pb

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
# Lines of the classic stream that say what the vertex shows anyway.
_QUIET = re.compile(r"^( ---> [0-9a-f]{12}| ---> Running in [0-9a-f]{12}"
                    r"|( ---> Removed|Removing) intermediate container .*|Successfully (built|tagged) .*)$")
STDOUT, STDERR = 1, 2


def now() -> pb.Timestamp:
    ns = time.time_ns()
    return pb.Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


class BuildStatus:
    """The updates of one build (by its ref), kept until the build is forgotten."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self._updates: list[pb.StatusResponse] = []
        self._changed = asyncio.Condition()
        self._done = False
        self._line = ""
        self._current: pb.Vertex | None = None
        self._count = 0

    # ---- the stream ----
    async def _publish(self, update: pb.StatusResponse) -> None:
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    async def updates(self) -> AsyncIterator[pb.StatusResponse]:
        sent = 0

        def ready() -> bool:
            return self._done or len(self._updates) > sent

        while True:
            async with self._changed:
                await self._changed.wait_for(ready)
                batch = self._updates[sent:]
                finished = self._done
            for update in batch:
                yield update
            sent += len(batch)
            if finished and sent == len(self._updates):
                return

    async def close(self) -> None:
        await self._complete_current()
        async with self._changed:
            self._done = True
            self._changed.notify_all()

    # ---- vertexes ----
    def _digest(self, name: str) -> str:
        self._count += 1
        return "sha256:" + hashlib.sha256(f"{self.ref}\0{self._count}\0{name}".encode()).hexdigest()

    async def start(self, name: str) -> pb.Vertex:
        """Open a vertex (completing the current one)."""
        await self._complete_current()
        vertex = pb.Vertex(digest=self._digest(name), name=name, started=now())
        self._current = vertex
        await self._publish(pb.StatusResponse(vertexes=[vertex]))
        return vertex

    async def complete(self, vertex: pb.Vertex, *, cached: bool = False, error: str = "") -> None:
        done = pb.Vertex()
        done.CopyFrom(vertex)
        done.cached, done.error = cached or vertex.cached, error
        done.completed.CopyFrom(now())
        if self._current is vertex:
            self._current = None
        await self._publish(pb.StatusResponse(vertexes=[done]))

    async def _complete_current(self) -> None:
        await self._flush_line()
        if self._current is not None:
            await self.complete(self._current)

    async def log(self, vertex: pb.Vertex, text: str, stream: int = STDOUT) -> None:
        entry = pb.VertexLog(vertex=vertex.digest, timestamp=now(), stream=stream, msg=text.encode())
        await self._publish(pb.StatusResponse(logs=[entry]))

    async def fail(self, message: str) -> None:
        """The build failed: the step that was running carries the error."""
        await self._flush_line()
        if self._current is not None:
            await self.complete(self._current, error=message)

    # ---- the classic builder's text ----
    async def emit(self, text: str) -> None:
        self._line += text
        while "\n" in self._line:
            line, self._line = self._line.split("\n", 1)
            await self._on_line(line)

    async def _flush_line(self) -> None:
        if self._line:
            line, self._line = self._line, ""
            await self._on_line(line)

    async def _on_line(self, line: str) -> None:
        step = _STEP.match(line)
        if step:
            await self.start(f"[{step[1]}/{step[2]}] {step[3]}")
            return
        current = self._current
        if current is None:
            return
        if line == " ---> Using cache":
            current.cached = True
            await self._publish(pb.StatusResponse(vertexes=[current]))
        elif not _QUIET.match(line):
            await self.log(current, line + "\n")
