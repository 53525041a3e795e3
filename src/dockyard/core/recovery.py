"""What a daemon killed mid-operation leaves, cleaned before the next one serves.

Every operation that spools or stages (API uploads, load, pull, push, commit, build steps) works
under ``<data-root>/tmp``; only a running daemon uses it, so at start everything there is a leftover:
mounts (a build step's root filesystem) are unmounted and the rest removed. A build's filesystem
steps work on active snapshots keyed ``build-…`` that no record owns: those go too. Containers a
build ran, or a commit paused, are the container service's (:func:`BUILD_LABEL`, the commit marker).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from dockyard.core.layers.snapshots import Mounter, Snapshotter
from dockyard.errors import DockyardError

log = logging.getLogger(__name__)

# On a container a build step runs: a daemon that finds one at start removes it.
BUILD_LABEL = "io.dockyard.build.step"
# Snapshot keys of a build's filesystem steps (core/builder/steps.py).
BUILD_SNAPSHOT_PREFIX = "build-"


def clean_scratch(tmp_dir: Path, active_snapshots: Path, *, mounter: Mounter,
                  snapshotter: Snapshotter) -> int:
    """Unmount and remove everything under ``tmp_dir``; remove build snapshots. Returns the count
    of entries removed (logged: each is evidence of a crash)."""
    removed = 0
    if tmp_dir.is_dir():
        for entry in sorted(tmp_dir.iterdir()):
            if os.path.ismount(entry):
                with contextlib.suppress(DockyardError, OSError):
                    mounter.unmount(entry)
            if os.path.ismount(entry):
                log.warning("cannot unmount %s left by a crash; keeping it", entry)
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            removed += 1
    if active_snapshots.is_dir():
        for entry in sorted(active_snapshots.iterdir()):
            if entry.name.startswith(BUILD_SNAPSHOT_PREFIX):
                with contextlib.suppress(DockyardError, OSError):
                    snapshotter.remove(entry.name)
                removed += 1
    if removed:
        log.warning("removed %d scratch entries left by a crash under %s", removed, tmp_dir)
    return removed
