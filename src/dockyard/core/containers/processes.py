"""``docker top``: ``ps`` output restricted to a container's processes, as Docker does it."""

from __future__ import annotations

import asyncio

from dockyard.core.containers.model import ProcessTable
from dockyard.errors import Internal, InvalidArgument

_PS_TIMEOUT = 10.0


async def run_ps(ps_args: str) -> str:
    argv = ["ps", *(ps_args.split() if ps_args else ["-ef"])]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), _PS_TIMEOUT)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise Internal("ps timed out") from exc
    if proc.returncode != 0:
        raise InvalidArgument(f"Error running ps: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")


def parse_ps(output: str, pids: list[int]) -> ProcessTable:
    """Keep the header and the lines whose PID column is one of ``pids``; the last column (the
    command) keeps its spaces."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise InvalidArgument("Couldn't find PID field in ps output")
    titles = lines[0].split()
    try:
        pid_index = titles.index("PID")
    except ValueError as exc:
        raise InvalidArgument("Couldn't find PID field in ps output") from exc
    wanted = set(pids)
    processes: list[list[str]] = []
    for line in lines[1:]:
        fields = line.split()
        try:
            pid = int(fields[pid_index])
        except (IndexError, ValueError):
            continue
        if pid not in wanted:
            continue
        head = fields[: len(titles) - 1]
        processes.append([*head, " ".join(fields[len(titles) - 1:])])
    return ProcessTable(titles=titles, processes=processes)
