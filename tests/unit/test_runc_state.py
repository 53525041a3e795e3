"""runc's delete of a stopped container done in-process (backends/runc_state.py): only when the init
is known to be gone, and then the cgroups and the state directory go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.backends import runc_state
from dockyard.backends.runc_state import delete_stopped

CGROUPS = "/dockyard/" + "c" * 64


def _state(tmp_path: Path, *, pid: int = 4242, started: int = 777,
           hooks: dict[str, Any] | None = None) -> Path:
    state_dir = tmp_path / "runc" / ("c" * 64)
    state_dir.mkdir(parents=True)
    config = {"cgroups": {"path": CGROUPS}, "Hooks": hooks or {"poststop": None, "prestart": None}}
    cgroups = {name: tmp_path / "cgroup" / name / CGROUPS.strip("/") for name in ("memory", "pids")}
    for cgroup in cgroups.values():
        cgroup.mkdir(parents=True)
    (state_dir / "state.json").write_text(json.dumps(
        {"init_process_pid": pid, "init_process_start": started, "config": config,
         "cgroup_paths": {name: str(path) for name, path in cgroups.items()}}))
    return state_dir


def _cgroups_left(tmp_path: Path) -> list[str]:
    return sorted(p.parent.parent.name for p in (tmp_path / "cgroup").glob("*/dockyard/*"))


def _proc(tmp_path: Path, pid: int, *, state: str = "S", started: int = 777) -> Path:
    proc = tmp_path / "proc"
    (proc / str(pid)).mkdir(parents=True)
    rest = [state, *["0"] * 18, str(started), "0", "0"]  # fields 3.. of /proc/<pid>/stat
    (proc / str(pid) / "stat").write_text(f"{pid} (runc:[2:INIT) {' '.join(rest)}\n")
    return proc


@pytest.fixture
def reaped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(runc_state, "reap_cgroup", lambda path: calls.append(path) or 0)
    return calls


def test_an_exited_init_takes_its_cgroups_and_state_with_it(tmp_path: Path, reaped: list[str]) -> None:
    state_dir = _state(tmp_path)
    assert delete_stopped(state_dir, proc=tmp_path / "no-proc")
    assert _cgroups_left(tmp_path) == []
    assert reaped == []  # nothing was busy
    assert not state_dir.exists()


def test_a_busy_cgroup_is_reaped(tmp_path: Path, reaped: list[str]) -> None:
    # rmdir fails on a cgroup still holding a process or a child cgroup (here: any entry).
    state_dir = _state(tmp_path)
    (tmp_path / "cgroup" / "pids" / CGROUPS.strip("/") / "child").mkdir()
    assert delete_stopped(state_dir, proc=tmp_path / "no-proc")
    assert reaped == [CGROUPS]
    assert not state_dir.exists()


@pytest.mark.parametrize(("state", "started", "deleted"), [
    ("S", 777, False),  # the init still runs: runc's delete says so
    ("Z", 777, True),  # exited, not yet reaped
    ("S", 778, True),  # its pid now belongs to another process
])
def test_only_a_gone_init_counts_as_stopped(tmp_path: Path, reaped: list[str], state: str, started: int,
                                            deleted: bool) -> None:
    state_dir = _state(tmp_path)
    proc = _proc(tmp_path, 4242, state=state, started=started)
    assert delete_stopped(state_dir, proc=proc) is deleted
    assert state_dir.exists() is not deleted
    assert _cgroups_left(tmp_path) == ([] if deleted else ["memory", "pids"])


def test_what_it_cannot_read_or_would_skip_is_left_to_runc(tmp_path: Path, reaped: list[str]) -> None:
    assert not delete_stopped(tmp_path / "missing", proc=tmp_path)
    hooked = _state(tmp_path, hooks={"poststop": [{"path": "/bin/true"}]})
    assert not delete_stopped(hooked, proc=tmp_path / "no-proc")
    assert hooked.exists()
    (hooked / "state.json").write_text("{not json")
    assert not delete_stopped(hooked, proc=tmp_path / "no-proc")
    assert reaped == []
