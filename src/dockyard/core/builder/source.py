"""COPY/ADD and ``RUN --mount`` sources: paths in a tree the build reads but does not trust.

The tree is the build context or another stage's root filesystem. Both may hold symlinks the
Dockerfile's author did not write (a stage can ``ln -s /etc/shadow x``; a context tar can carry
``l -> ../../..``), so a source is resolved as BuildKit resolves it: inside the tree, as if it were
``/`` — absolute targets restart at its top and ``..`` stops there — by the descriptor walk of
:func:`dockyard.core.rootfs.view.resolve`, and it is then read only through descriptors opened with
``openat2(RESOLVE_IN_ROOT)`` from the tree's top. Whatever the tree holds or does meanwhile, the
daemon reads an entry of the tree, never a host file. Blocking.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.rootfs.root import Root, parts_of
from dockyard.core.rootfs.tree import Entry
from dockyard.core.rootfs.view import resolve
from dockyard.errors import InvalidArgument, NotFound

_WILDCARDS = "*?["


@dataclass(frozen=True, slots=True)
class Source:
    """One source: ``given`` as the Dockerfile names it (cleaned, wildcards matched), ``path`` the
    entry it names in ``tree`` with every symlink resolved there ("/" for the top)."""

    tree: Path  # the top, a directory the daemon made: the context, a stage's mount point
    given: str  # "a/link" ("" for the top): its base name is the name the copy gets (BuildKit)
    path: str  # "/a/target"
    mode: int  # st_mode of the entry when it was resolved

    @property
    def name(self) -> str:
        return posixpath.basename(self.given) or posixpath.basename(self.path)

    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @contextmanager
    def pinned(self) -> Iterator[Entry]:
        """The entry itself, pinned ``O_PATH | O_NOFOLLOW`` by a lookup inside the tree."""
        with Root.at(self.tree) as root:
            fd = root.open(self.path, os.O_PATH | os.O_NOFOLLOW)
        try:
            yield Entry(rel="", name=self.name, fd=fd, st=os.fstat(fd))
        finally:
            os.close(fd)


def find(tree: Path, given: str) -> Source | None:
    """``given`` resolved inside ``tree`` (its last component followed too), None if absent."""
    clean = "/".join(parts_of(_normal(given)))
    found = resolve(tree, clean)
    return None if found is None else Source(tree=tree, given=clean, path=found[0], mode=found[1].st_mode)


def glob(tree: Path, given: str) -> list[Source]:
    """``given`` with Go's filepath.Match wildcards expanded in ``tree``; NotFound when nothing
    matches (Docker's texts). Directories are listed through descriptors inside the tree."""
    if not any(c in given for c in _WILDCARDS):
        source = find(tree, given)
        if source is None:
            raise NotFound(f"failed to compute cache key: \"{given}\": not found")
        return [source]
    candidates = [""]
    for part in parts_of(_normal(given)):
        if not any(c in part for c in _WILDCARDS):
            candidates = [posixpath.join(c, part) for c in candidates]
            continue
        candidates = [posixpath.join(c, n) for c in candidates for n in _listing(tree, c)
                      if fnmatch.fnmatchcase(n, part)]
    found = [s for s in (find(tree, c) for c in candidates) if s is not None]
    if not found:
        raise NotFound(f"failed to compute cache key: no source files were specified (\"{given}\")")
    return found


def _normal(given: str) -> str:
    """BuildKit cleans a source lexically first: ``a/../b`` is ``b``, and ``..`` stops at ``/``."""
    return posixpath.normpath("/" + given.replace("\\", "/"))


def _listing(tree: Path, given: str) -> list[str]:
    """The sorted names in directory ``given`` of ``tree`` ([] when it is not a directory)."""
    with Root.at(tree) as root:
        try:
            fd = root.open(given, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return []
    try:
        return sorted(os.listdir(fd))
    finally:
        os.close(fd)


def refuse_outside(given: str) -> None:
    """The classic builder's refusal of a source written to climb above the context."""
    if posixpath.normpath(given.replace("\\", "/")).startswith(".."):
        raise InvalidArgument(f"forbidden path outside the build context: {given} ()")
