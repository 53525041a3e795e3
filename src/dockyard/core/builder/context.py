"""The build context: the tar the client sends, unpacked, filtered and digested.

Extraction refuses members that would land outside the context directory and never follows the
archive's links on the host. Sources named by COPY/ADD are resolved inside the context, as
BuildKit resolves them: a symlink to ``/etc/passwd`` or ``../../x`` names the context's own entry;
a source written with a leading ``..`` is refused with the classic builder's ``forbidden path
outside the build context``. Content digests (sha256 of mode, link target and bytes; never mtimes)
feed the cache keys and are memoised for the build, and are read through descriptors.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from pathlib import Path

from dockyard.core.builder import source
from dockyard.core.builder.ignore import Matcher, read_patterns
from dockyard.core.builder.source import Source, refuse_outside
from dockyard.core.rootfs.root import Root
from dockyard.core.rootfs.tree import Entry, link_target, names, open_content, pin
from dockyard.core.rootfs.unpack import UnpackOptions, unpack

_CHUNK = 1 << 20


def extract(tar_path: Path, dest: Path, limit: int | None = None) -> None:
    """Unpack the context tar (plain or compressed) into ``dest`` (which exists). Blocking.

    The archive is the client's: its symlinks are followed only inside ``dest`` and its hard links
    only name entries of ``dest`` (:mod:`dockyard.core.rootfs`); device nodes and FIFOs are dropped,
    as Docker's context never carries them. Owners are kept when the daemon is root.
    """
    with Root.at(dest) as root:
        unpack(tar_path, root, UnpackOptions(special_files=False, limit=limit))


def apply_dockerignore(root: Path, dockerfile_name: str) -> None:
    """Remove what ``.dockerignore`` excludes, as the daemon's classic builder does for clients that
    did not; the Dockerfile and ``.dockerignore`` are removed only when they match themselves."""
    ignore = root / ".dockerignore"
    if not ignore.is_file():
        return
    matcher = Matcher(read_patterns(ignore.read_text(errors="replace")))
    if not matcher.patterns:
        return
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        rel_dir = os.path.relpath(dirpath, root)
        keep_dirs = []
        for name in dirnames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if matcher.excluded(rel) and not matcher.has_exclusions:
                _remove(Path(dirpath) / name)
            else:
                keep_dirs.append(name)
        dirnames[:] = keep_dirs
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if matcher.excluded(rel):
                (Path(dirpath) / name).unlink()


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


class Context:
    """An unpacked context directory: its sources (:mod:`dockyard.core.builder.source`) and their
    memoised content digests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._digests: dict[str, str] = {}

    def find(self, given: str) -> Source | None:
        """The context entry ``given`` names (symlinks resolved inside the context), or None."""
        refuse_outside(given)
        return source.find(self.root, given)

    def glob(self, given: str) -> list[Source]:
        """``given`` with Go's filepath.Match wildcards expanded; NotFound when nothing matches."""
        refuse_outside(given)
        return source.glob(self.root, given)

    def digest(self, src: Source) -> str:
        """The content digest of ``src`` (a file, link or whole directory tree)."""
        with src.pinned() as entry:
            return self._digest(src.path, entry)

    def _digest(self, path: str, entry: Entry) -> str:
        cached = self._digests.get(path)
        if cached is None:
            cached = self._digests[path] = self._compute(path, entry)
        return cached

    def _compute(self, path: str, entry: Entry) -> str:
        st = entry.st
        h = hashlib.sha256(f"{stat.S_IFMT(st.st_mode)}:{stat.S_IMODE(st.st_mode)}".encode())
        if stat.S_ISLNK(st.st_mode):
            h.update(link_target(entry).encode())
        elif stat.S_ISREG(st.st_mode):
            with os.fdopen(open_content(entry), "rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
        elif stat.S_ISDIR(st.st_mode):
            for name in names(entry):
                child = pin(entry.fd, name, name)
                if child is None:
                    continue
                try:
                    digest = self._digest(posixpath.join(path, name), child)
                finally:
                    os.close(child.fd)
                h.update(name.encode() + b"\0" + digest.encode())
        return h.hexdigest()
