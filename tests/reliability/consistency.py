"""What a store must look like after any crash: checked through the CLI and on disk."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from conformance.daemon import Daemon

from dockyard.core.builder.contexts import ENTRY_PREFIX, MAX_ENTRIES

BUILD_LABEL = "io.dockyard.build.step"


def blob_mismatches(data_root: Path) -> list[str]:
    """Blobs whose sha256 is not their name (a torn write renamed into place)."""
    bad: list[str] = []
    for path in (data_root / "content" / "blobs" / "sha256").glob("*"):
        digest = hashlib.sha256()
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != path.name:
            bad.append(path.name)
    return bad


def integrity(data_root: Path) -> str:
    conn = sqlite3.connect(f"file:{data_root / 'dockyard.db'}?mode=ro", uri=True, timeout=30)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def check_store(d: Daemon, *, restarted: bool = True) -> dict[str, str]:
    """Assert the daemon's store is whole; returns container id -> state. Just after a restart its
    tmp dir is empty; later it may hold the build contexts it keeps (at most two) and nothing else."""
    for args in (("images", "-a"), ("ps", "-a"), ("system", "df")):
        code, _, err = d.docker(*args)
        assert code == 0, f"docker {' '.join(args)} failed after a crash: {err}\n{d.log_tail()}"
    assert blob_mismatches(d.data_root) == []
    assert integrity(d.data_root) == "ok"
    for image_id in set(d.docker_ok("images", "-a", "-q", "--no-trunc").split()):
        code, out, err = d.docker("image", "inspect", image_id)
        assert code == 0, f"half-made image {image_id}: {err}"
        layers = json.loads(out)[0]["RootFS"].get("Layers") or []
        assert all(layer.startswith("sha256:") for layer in layers)
    states: dict[str, str] = {}
    for cid in d.docker_ok("ps", "-a", "-q", "--no-trunc").split():
        code, out, err = d.docker("inspect", cid)
        assert code == 0, f"half-made container {cid}: {err}"
        info = json.loads(out)[0]
        assert BUILD_LABEL not in (info["Config"].get("Labels") or {}), "a build's RUN container survived"
        states[cid] = info["State"]["Status"]
    # Every container directory belongs to a container the daemon lists.
    dirs = {p.name for p in (d.data_root / "containers").iterdir() if p.is_dir()}
    assert dirs <= set(states), f"orphaned container directories: {dirs - set(states)}"
    tmp = d.data_root / "tmp"
    leftovers = sorted(tmp.iterdir()) if tmp.exists() else []
    kept = tmp / "build-contexts"
    if not restarted and kept in leftovers:
        leftovers.remove(kept)
        contexts = sorted(kept.iterdir())
        assert len(contexts) <= MAX_ENTRIES and all(p.name.startswith(ENTRY_PREFIX) for p in contexts), \
            f"more than the kept build contexts: {contexts}"
    assert leftovers == [], f"scratch left under tmp: {leftovers}"
    return states
