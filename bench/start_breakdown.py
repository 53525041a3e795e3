"""The per-step breakdown of dockyardd's `docker run`, from the spans its daemon wrote
(``DOCKYARD_TRACE=<file>``, see src/dockyard/core/trace.py).

``python bench/start_breakdown.py <trace file>`` prints the table; run_latency.py and
parallel_start.py call :func:`breakdown` on the file of the daemon they started.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

# Steps in the order they happen on `docker run --rm` (create → attach → start → wait → autoremove);
# spans not listed here follow, in the order first seen.
ORDER = ("api.create", "api.attach", "api.wait", "api.start", "net.join", "net.netns", "net.ports",
         "net.veth", "net.nft", "net.dns", "net.files", "start.mount", "start.volumes", "start.spec",
         "start.logs", "start.conmon+runtime.create", "start.net_wait", "start.late_join", "start.attach",
         "runtime.start", "run.until_exit_seen", "exit.drain_logs", "exit.oom_check",
         "exit.runtime_delete", "exit.unmount", "exit.network", "net.veth_delete+nft",
         "net.netns_delete", "exit.after (autoremove)", "rm.runtime_delete", "rm.files",
         "rm.background", "api.delete")


def load(path: Path) -> list[dict[str, object]]:
    spans = []
    for line in path.read_text().splitlines():
        try:
            spans.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return spans


def breakdown(path: Path, skip: int = 0) -> list[tuple[str, float, int]]:
    """(step, median ms per container, containers with that step), leaving out the first ``skip``
    containers seen (warm-up runs)."""
    per_container: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    order: list[str] = []
    for span in load(path):
        cid, step = str(span.get("id") or "-"), str(span["step"])
        per_container[cid][step] += int(str(span["ns"]))
        if step not in order:
            order.append(step)
    kept = [steps for cid, steps in list(per_container.items())[skip:] if cid != "-"]
    result = []
    for step in [s for s in ORDER if s in order] + [s for s in order if s not in ORDER]:
        values = [steps[step] / 1e6 for steps in kept if step in steps]
        if values:
            result.append((step, round(statistics.median(values), 2), len(values)))
    return result


def table(rows: list[tuple[str, float, int]]) -> str:
    lines = ["| step | median ms | containers |", "|---|---|---|"]
    lines += [f"| {step} | {ms:.2f} | {count} |" for step, ms, count in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(breakdown(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)))
