"""The build context: the tar the client sends, unpacked, filtered and digested.

Extraction refuses members that would land outside the context directory and never follows the
archive's links on the host. Sources named by COPY/ADD
are resolved inside the context: ``..`` or a symlink leading out is refused with Docker's
``forbidden path outside the build context``. Content digests (sha256 of mode, link target and
bytes; never mtimes) feed the cache keys and are memoised for the build.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
from pathlib import Path

from dockyard.core.builder.ignore import Matcher, read_patterns
from dockyard.core.rootfs.root import Root
from dockyard.core.rootfs.unpack import UnpackOptions, unpack
from dockyard.errors import InvalidArgument, NotFound

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
    """An unpacked context directory with path resolution and memoised content digests."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))
        self._digests: dict[str, str] = {}

    def resolve(self, source: str, *, follow: bool = True) -> Path:
        """The context path of ``source`` (relative to the context root); refuse any escape."""
        clean = posixpath.normpath("/" + source.replace("\\", "/")) if source else "/"
        if posixpath.normpath(source).startswith(".."):
            raise InvalidArgument(f"forbidden path outside the build context: {source} ()")
        path = self.root / clean.lstrip("/")
        if follow and os.path.lexists(path):
            real = os.path.realpath(path)
            if real != str(self.root) and not real.startswith(str(self.root) + "/"):
                raise InvalidArgument(f"forbidden path outside the build context: {source} ()")
            return Path(real)
        return path

    def glob(self, source: str) -> list[Path]:
        """``source`` with Go's filepath.Match wildcards expanded; NotFound when nothing matches."""
        if not any(c in source for c in "*?["):
            path = self.resolve(source)
            if not os.path.lexists(path):
                raise NotFound(f"failed to compute cache key: \"{source}\": not found")
            return [path]
        self.resolve(posixpath.dirname(source) or ".")
        parts = [p for p in posixpath.normpath(source).split("/") if p not in ("", ".")]
        found = [self.root]
        for part in parts:
            matches: list[Path] = []
            for base in found:
                if base.is_dir():
                    matches += sorted(base / n for n in os.listdir(base) if fnmatch.fnmatchcase(n, part))
            found = matches
        found = [self.resolve(str(p.relative_to(self.root))) for p in found]
        if not found:
            raise NotFound(f"failed to compute cache key: no source files were specified (\"{source}\")")
        return found

    def digest(self, path: Path) -> str:
        """The content digest of ``path`` (a file, link or whole directory tree)."""
        key = str(path)
        cached = self._digests.get(key)
        if cached is None:
            cached = self._digests[key] = self._compute(path)
        return cached

    def _compute(self, path: Path) -> str:
        st = path.lstat()
        h = hashlib.sha256(f"{stat.S_IFMT(st.st_mode)}:{stat.S_IMODE(st.st_mode)}".encode())
        if stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(path).encode())
        elif stat.S_ISREG(st.st_mode):
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
        elif stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                h.update(name.encode() + b"\0" + self.digest(path / name).encode())
        return h.hexdigest()
