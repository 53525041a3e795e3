"""What an attack must not change on the host: checksums of a tree, taken before and after."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def tree_digest(root: Path, *, skip: tuple[Path, ...] = ()) -> dict[str, str]:
    """``rel path -> digest of (type, mode, owner, size, content or link target)`` for every entry
    below ``root`` (symlinks not followed); ``skip`` prunes subtrees (the daemon's own store)."""
    found: dict[str, str] = {}
    skipped = {str(p) for p in skip}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skipped]
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            # A directory's size only says how many blocks its entries ever took: not compared.
            size = 0 if stat.S_ISDIR(st.st_mode) else st.st_size
            h = hashlib.sha256(f"{st.st_mode}:{st.st_uid}:{st.st_gid}:{size}".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(path).encode())
            elif stat.S_ISREG(st.st_mode):
                try:
                    with open(path, "rb") as f:
                        h.update(f.read())
                except OSError:
                    h.update(b"unreadable")
            found[os.path.relpath(path, root)] = h.hexdigest()
    return found


def etc_digest() -> dict[str, str]:
    # /etc/mtab and the like change with mounts the tests themselves make.
    return {k: v for k, v in tree_digest(Path("/etc")).items() if not k.startswith(("mtab", "ld.so.cache"))}
