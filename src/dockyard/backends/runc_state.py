"""``runc delete`` of a stopped container without a runc process.

For a container whose init has exited, runc 1.1's delete only destroys: it kills what is left in
the container's cgroups, removes them, runs the poststop hooks and removes its state directory.
Dockyard sets no hooks, so the rest is a few rmdirs; a runc process to do them costs a Go
runtime's start and about 15 ms on every container's exit. Anything else (no state yet, a state
this does not read, an init still running) is left to runc itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dockyard.backends.cgroup_reap import reap_cgroup
from dockyard.backends.processes import proc_stat


def delete_stopped(state_dir: Path, proc: Path = Path("/proc")) -> bool:
    """Remove the cgroups and the state of the container in ``state_dir`` (``<root>/<id>``) if
    its init has exited; False, having changed nothing, when that is not known for sure."""
    try:
        state = json.loads((state_dir / "state.json").read_text())
        pid, started = int(state["init_process_pid"]), int(state["init_process_start"])
        cgroups_path = str(state["config"]["cgroups"]["path"])
        hooks = any((state["config"].get("Hooks") or {}).values())
        cgroups = [Path(p) for p in (state.get("cgroup_paths") or {}).values()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    if not cgroups_path.strip("/") or hooks or _runs(pid, started, proc):
        return False
    if not _removed(cgroups):
        # Busy: what outlived the init in a shared pid namespace (runc kills it too), or cgroups
        # made below the container's.
        reap_cgroup(cgroups_path)
    shutil.rmtree(state_dir, ignore_errors=True)
    return True


def _removed(cgroups: list[Path]) -> bool:
    """rmdir each of the container's cgroups (one per hierarchy): the kernel refuses while a
    process or a child cgroup is in one, and then this says False."""
    for cgroup in cgroups:
        try:
            cgroup.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            return False
    return True


def _runs(pid: int, started: int, proc: Path) -> bool:
    """Whether ``pid`` is still the container's init: alive, not a zombie, and started at the
    recorded time (field 22 of /proc/<pid>/stat, as runc records it), not a reused pid."""
    stat = proc_stat(pid, proc)
    if stat is None:
        return False
    fields = stat[1]
    try:
        return fields[0] not in ("Z", "X") and int(fields[19]) == started
    except (IndexError, ValueError):
        return True  # unreadable: let runc decide
