"""Snapshotters on directories (overlayfs, and a copying one for tests) and a mount(2) mounter.

Layout under the snapshotter root::

    <hex of chainID>/fs       committed snapshot: one unpacked layer (overlay) or a full tree (copy)
    <hex of chainID>/parent   the name of the snapshot below, absent for a bottom layer
    active/<key>/fs           writable upper directory of an active snapshot
    active/<key>/work         overlayfs work directory
    active/<key>/parent
    empty/                    the lower directory of a snapshot without parent (overlay needs one)

Every change is a rename of a fully prepared directory, so a crash leaves either the old or the new
state plus ``.tmp-*``/``.trash-*`` leftovers that the constructor removes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from dockyard.core.ids import hex_of
from dockyard.core.layers.snapshots import Mount
from dockyard.errors import AlreadyExists, Internal, InvalidArgument, NotFound

log = logging.getLogger(__name__)

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PAGE = 4096
_COPY_TIMEOUT = 600


class _DirSnapshotter:
    """What both snapshotters share: names, layout, crash-safe prepare/commit/remove."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._active = root / "active"
        self._empty = root / "empty"
        for directory in (self._root, self._active, self._empty):
            directory.mkdir(parents=True, exist_ok=True)
        self._cleanup()

    def _cleanup(self) -> None:
        for parent in (self._root, self._active):
            for leftover in parent.iterdir():
                if leftover.name.startswith((".tmp-", ".trash-")):
                    log.info("removing leftover snapshot directory %s", leftover)
                    shutil.rmtree(leftover, ignore_errors=True)

    # ---- naming ----
    def _committed(self, name: str) -> Path:
        return self._root / hex_of(name)

    def _key_dir(self, key: str) -> Path:
        if not _KEY_RE.match(key):
            raise InvalidArgument(f"invalid snapshot key {key!r}")
        return self._active / key

    def _dir_of(self, key_or_name: str) -> Path | None:
        if key_or_name.startswith("sha256:") and self._committed(key_or_name).is_dir():
            return self._committed(key_or_name)
        if _KEY_RE.match(key_or_name) and (self._active / key_or_name).is_dir():
            return self._active / key_or_name
        return None

    def _parent_of(self, directory: Path) -> str | None:
        try:
            return (directory / "parent").read_text().strip() or None
        except FileNotFoundError:
            return None

    # ---- Snapshotter ----
    def exists(self, key_or_name: str) -> bool:
        return self._dir_of(key_or_name) is not None

    def upper_dir(self, key: str) -> Path:
        return self._key_dir(key) / "fs"

    def parent_dirs(self, key: str) -> list[Path]:
        directory = self._dir_of(key)
        if directory is None:
            raise NotFound(f"snapshot {key} does not exist")
        result: list[Path] = []
        parent = self._parent_of(directory)
        while parent is not None:
            result.append(self._committed(parent) / "fs")
            parent = self._parent_of(self._committed(parent))
        return result

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        final = self._key_dir(key)
        if final.exists():
            raise AlreadyExists(f"snapshot {key} already exists")
        if parent is not None and not self._committed(parent).is_dir():
            raise NotFound(f"parent snapshot {parent} does not exist")
        tmp = self._active / f".tmp-{key}-{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            (tmp / "work").mkdir()
            self._populate(tmp / "fs", parent)
            if parent is not None:
                (tmp / "parent").write_text(parent)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.mounts(key)

    def _populate(self, fs: Path, parent: str | None) -> None:
        fs.mkdir(mode=0o755)

    def commit(self, name: str, key: str) -> None:
        source = self._key_dir(key)
        if not source.is_dir():
            raise NotFound(f"snapshot {key} does not exist")
        target = self._committed(name)
        if target.exists():
            # Content-addressed: a concurrent unpack of the same layer already committed it.
            self.remove(key)
            return
        shutil.rmtree(source / "work", ignore_errors=True)
        os.rename(source, target)

    def remove(self, key_or_name: str) -> None:
        directory = self._dir_of(key_or_name)
        if directory is None:
            return
        trash = directory.parent / f".trash-{secrets.token_hex(6)}"
        os.rename(directory, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def mounts(self, key: str) -> list[Mount]:
        raise NotImplementedError


class OverlaySnapshotter(_DirSnapshotter):
    """One directory per layer, stacked by overlayfs at mount time."""

    def mounts(self, key: str) -> list[Mount]:
        directory = self._key_dir(key)
        if not directory.is_dir():
            raise NotFound(f"snapshot {key} does not exist")
        lowers = self.parent_dirs(key) or [self._empty]
        return [Mount("overlay", "overlay", (
            "lowerdir=" + ":".join(str(p) for p in lowers),
            f"upperdir={directory / 'fs'}",
            f"workdir={directory / 'work'}",
        ))]


class CopySnapshotter(_DirSnapshotter):
    """Each snapshot is a full copy of its parent's tree; mounted with a bind mount.

    Slow and large, but needs neither root nor overlayfs: the unit tests use it.
    """

    def _populate(self, fs: Path, parent: str | None) -> None:
        if parent is None:
            fs.mkdir(mode=0o755)
            return
        source = self._committed(parent) / "fs"
        # cp -a keeps hard links, devices, owners and xattrs, which shutil.copytree does not.
        proc = subprocess.run(["cp", "-a", "--", str(source), str(fs)], capture_output=True,
                              timeout=_COPY_TIMEOUT, check=False)
        if proc.returncode != 0:
            raise Internal(f"copying snapshot {parent}: {proc.stderr.decode(errors='replace').strip()}")

    def mounts(self, key: str) -> list[Mount]:
        directory = self._key_dir(key)
        if not directory.is_dir():
            raise NotFound(f"snapshot {key} does not exist")
        return [Mount("bind", str(directory / "fs"), ("rbind", "rw"))]


# ---------------------------------------------------------------------------------------------
# mount(2) through ctypes

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2

_FLAG_OPTIONS = {"ro": MS_RDONLY, "rw": 0, "bind": MS_BIND, "rbind": MS_BIND | MS_REC}


class SyscallMounter:
    """Mounts with mount(2)/umount2(2) directly: no ``mount`` process per container."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.c_ulong, ctypes.c_char_p]
        self._libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

    def mount(self, mounts: Sequence[Mount], target: Path) -> None:
        done = 0
        try:
            for m in mounts:
                self._mount_one(m, target)
                done += 1
        except BaseException:
            for _ in range(done):
                self.unmount(target)
            raise

    def _mount_one(self, m: Mount, target: Path) -> None:
        flags = 0
        data: list[str] = []
        for option in m.options:
            if option in _FLAG_OPTIONS:
                flags |= _FLAG_OPTIONS[option]
            else:
                data.append(option)
        if m.type == "bind":
            flags |= MS_BIND
        joined = ",".join(data)
        if len(joined) >= _PAGE:
            raise InvalidArgument(
                f"mount options of {target} are {len(joined)} bytes: mount(2) takes at most {_PAGE - 1}"
                " (too many layers)")
        fstype = None if flags & MS_BIND else m.type
        self._call_mount(m.source, target, fstype, flags & ~MS_RDONLY if flags & MS_BIND else flags,
                         joined or None)
        if flags & MS_BIND and flags & MS_RDONLY:
            # A bind mount ignores MS_RDONLY on creation; read-only takes a remount.
            self._call_mount(m.source, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)

    def _call_mount(self, source: str, target: Path, fstype: str | None, flags: int,
                    data: str | None) -> None:
        rc = self._libc.mount(source.encode(), str(target).encode(),
                              fstype.encode() if fstype else None, flags,
                              data.encode() if data else None)
        if rc != 0:
            err = ctypes.get_errno()
            raise Internal(f"mount {source} on {target} ({fstype or 'bind'}): {os.strerror(err)}")

    def unmount(self, target: Path) -> None:
        rc = self._libc.umount2(str(target).encode(), 0)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return  # not mounted, or gone: nothing to undo
        if err == errno.EBUSY:
            # Still in use (a lingering process): detach now, the kernel finishes later.
            if self._libc.umount2(str(target).encode(), MNT_DETACH) == 0:
                return
            err = ctypes.get_errno()
        raise Internal(f"unmount {target}: {os.strerror(err)}")
