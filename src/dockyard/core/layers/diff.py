"""Directories back into layers: the tar of what a container (or a build step) changed.

The inverse of :func:`dockyard.core.layers.apply.apply_layer`. From an overlay upper directory, a
character device 0/0 becomes the OCI whiteout ``.wh.<name>`` and a directory marked
``trusted.overlay.opaque=y`` is followed by ``.wh..wh..opq``. From a full tree (the copy
snapshotter) the changes are found by comparing with the parent, as ``docker diff`` does.
Blocking: callers run it in a worker thread.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

from dockyard.core.layers.apply import OPAQUE_WHITEOUT, OPAQUE_XATTR, WHITEOUT_PREFIX
from dockyard.core.layers.changes import CHANGE_DELETED, changes

_Owners = Callable[[int, int], tuple[int, int]] | None


def write_layer(upper: Path, lowers: list[Path], dest: Path, *, full_tree: bool = False,
                owners: Callable[[int, int], tuple[int, int]] | None = None) -> None:
    """Write to ``dest`` an uncompressed layer tar of the changes in ``upper`` over ``lowers``
    (with ``owners`` mapping each entry's uid and gid: a remapped container's, shifted back).

    Entries are in a stable order with their own mtimes, so the same changes give the same bytes
    (and so the same DiffID, which keeps build cache keys stable)."""
    with dest.open("wb") as out:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            if full_tree:
                _write_compared(tar, upper, lowers, owners)
            else:
                _write_upper(tar, upper, owners)
        out.flush()
        os.fsync(out.fileno())


def _write_upper(tar: tarfile.TarFile, upper: Path, owners: _Owners) -> None:
    for dirpath, dirnames, filenames in os.walk(upper):
        dirnames.sort()
        base = Path(dirpath)
        rel_dir = base.relative_to(upper)
        if base != upper and _is_opaque(base):
            tar.addfile(_whiteout_info(rel_dir / OPAQUE_WHITEOUT))
        for name in sorted(dirnames + filenames):
            path = base / name
            rel = rel_dir / name
            st = path.lstat()
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                tar.addfile(_whiteout_info(rel_dir / f"{WHITEOUT_PREFIX}{name}"))
            else:
                _add(tar, path, rel, owners)


def _write_compared(tar: tarfile.TarFile, upper: Path, lowers: list[Path], owners: _Owners) -> None:
    for kind, path in changes(upper, lowers, full_tree=True):
        rel = Path(path.lstrip("/"))
        if kind == CHANGE_DELETED:
            tar.addfile(_whiteout_info(rel.parent / f"{WHITEOUT_PREFIX}{rel.name}"))
        else:
            _add(tar, upper / rel, rel, owners)


def _add(tar: tarfile.TarFile, path: Path, rel: Path, owners: _Owners) -> None:
    info = tar.gettarinfo(str(path), arcname=str(rel))
    info.uname = info.gname = ""
    if owners is not None:
        info.uid, info.gid = owners(info.uid, info.gid)
    xattrs = _xattrs(path)
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
    if info.isreg():
        with path.open("rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def _xattrs(path: Path) -> dict[str, str]:
    """Extended attributes worth keeping (file capabilities, user.*), never overlay's own."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    found: dict[str, str] = {}
    for name in names:
        if name.startswith("trusted.overlay.") or not name.startswith(("user.", "security.capability")):
            continue
        try:
            found[name] = os.getxattr(path, name, follow_symlinks=False).decode("latin-1")
        except OSError:
            continue
    return found


def _is_opaque(directory: Path) -> bool:
    try:
        return os.getxattr(directory, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _whiteout_info(rel: Path) -> tarfile.TarInfo:
    info = tarfile.TarInfo(str(rel))
    info.type = tarfile.REGTYPE
    info.size = 0
    info.mode = 0o600
    return info
