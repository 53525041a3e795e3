"""``RUN --mount``: BuildKit's mount types for one RUN step, as Docker's ``Mounts`` of its container.

- ``type=bind`` (default): ``source`` from the context, or from a stage/image with ``from=``,
  resolved inside that tree (:mod:`dockyard.core.builder.source`: a stage's ``ln -s / x`` binds the
  stage's root, never the host's); read-only unless ``rw`` (then writes go to a throw-away copy,
  as BuildKit discards them). The runtime is handed a path of the daemon's own, bound from the
  pinned descriptor, so no symlink of the tree can redirect its mount.
- ``type=cache``: a directory under ``<data-root>/builder/cache/`` keyed by ``id`` (default: the
  target) that outlives the build; ``sharing=shared|private|locked``; ``uid``/``gid``/``mode`` set
  when the directory is first made.
- ``type=tmpfs``: a fresh tmpfs, ``size`` in bytes (suffixes k/m/g accepted).
- ``type=secret``: a file from the build's secrets (``dockyard build --secret``), read-only, at
  ``target`` (default ``/run/secrets/<id>``). Its content never reaches a layer or a cache key.

Mount targets live outside the container's upper directory, so the step's layer never holds what
was mounted; the empty stubs the runtime creates for them are dropped from the layer too.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import os
import posixpath
import re
import shutil
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.core.builder import source
from dockyard.core.builder.context import Context
from dockyard.core.builder.source import Source
from dockyard.core.images.model import Image
from dockyard.core.rootfs.copy import copy_into
from dockyard.core.rootfs.root import Root
from dockyard.core.rootfs.tree import open_content
from dockyard.errors import InvalidArgument, NotFound, Unimplemented

_TYPES = frozenset({"bind", "cache", "tmpfs", "secret"})
_SHARING = frozenset({"shared", "private", "locked"})
_SIZE = re.compile(r"^(\d+)([kmg]?)b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class RunMount:
    """One ``--mount`` flag of a RUN, after variable expansion."""

    type: str
    target: str
    source: str = ""
    from_: str = ""  # bind: a stage name or an image reference
    rw: bool = False
    id: str = ""
    sharing: str = "shared"
    uid: int = 0
    gid: int = 0
    mode: int | None = None
    size: int = 0
    required: bool = False

    def cache_part(self) -> list[Any]:
        """What the mount adds to the step's cache key; never a secret's value."""
        return [self.type, self.target, self.source, self.from_, self.rw, self.id, self.sharing,
                self.uid, self.gid, self.mode, self.size, self.required]


def _bool(value: str, what: str) -> bool:
    lowered = value.lower()
    if lowered in ("", "true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidArgument(f"invalid value for {what}: {value!r}")


def _size(value: str) -> int:
    match = _SIZE.match(value.strip())
    if not match:
        raise InvalidArgument(f"invalid size: {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in next(csv.reader([text])):
        key, eq, value = item.strip().partition("=")
        key = key.lower()
        if key in ("ro", "readonly", "rw", "readwrite", "required") and not eq:
            value = "true"
        elif not eq:
            raise InvalidArgument(f"invalid field '{item}' must be a key=value pair")
        fields[key] = value
    return fields


def parse_mount(text: str, workdir: str) -> RunMount:
    """One ``--mount`` value (CSV of key=value, as BuildKit reads it)."""
    f = _fields(text)
    kind = f.pop("type", "bind")
    if kind not in _TYPES:
        raise InvalidArgument(f"unsupported mount type {kind!r}")
    target = f.pop("target", "") or f.pop("dst", "") or f.pop("destination", "")
    source = f.pop("source", "") or f.pop("src", "")
    ident = f.pop("id", "")
    if kind == "secret":
        if not ident and not target:
            raise InvalidArgument("one of source, target required")
        ident = ident or posixpath.basename(target)
        target = target or f"/run/secrets/{ident}"
    if not target:
        raise InvalidArgument("mount destination not set")
    if not target.startswith("/"):
        target = posixpath.join(workdir or "/", target)
    target = posixpath.normpath(target)
    rw = kind == "cache"  # a cache is writable unless ro; a bind read-only unless rw
    for key in ("rw", "readwrite"):
        if key in f:
            rw = _bool(f.pop(key), key)
    for key in ("ro", "readonly"):
        if key in f:
            rw = not _bool(f.pop(key), key)
    sharing = f.pop("sharing", "shared")
    if sharing not in _SHARING:
        raise InvalidArgument(f"unsupported sharing value {sharing!r}")
    mode = f.pop("mode", "")
    mount = RunMount(type=kind, target=target, source=source, from_=f.pop("from", ""), rw=rw,
                     id=ident or (target if kind == "cache" else ""), sharing=sharing,
                     uid=int(f.pop("uid", "0")), gid=int(f.pop("gid", "0")),
                     mode=int(mode, 8) if mode else None, size=_size(f.pop("size", "0")),
                     required=_bool(f.pop("required", "false"), "required"))
    if f:
        raise InvalidArgument(f"unexpected key '{sorted(f)[0]}' in '{text}'")
    if kind == "cache" and mount.from_:
        raise Unimplemented("RUN --mount=type=cache,from= is not supported by this builder yet")
    return mount


def stage_refs(values: list[str]) -> list[str]:
    """The ``from=`` of each ``--mount`` value: stages a RUN depends on."""
    found = []
    for value in values:
        with contextlib.suppress(InvalidArgument, Unimplemented, ValueError, StopIteration):
            ref = _fields(value).get("from")
            if ref:
                found.append(ref)
    return found


class CacheDirs:
    """``type=cache`` directories under the data root, with ``sharing`` enforced in-process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[str, asyncio.Lock] = {}
        self._in_use: dict[str, int] = {}

    def path(self, ident: str) -> Path:
        # Hashed: an id is any text (a path, a name); the directory name must be one safe word.
        return self.root / hashlib.sha256(ident.encode()).hexdigest()

    @contextlib.asynccontextmanager
    async def use(self, mount: RunMount, scratch: Path) -> AsyncIterator[Path]:
        lock = self._locks.setdefault(mount.id, asyncio.Lock())
        async with contextlib.AsyncExitStack() as stack:
            if mount.sharing == "locked":
                await stack.enter_async_context(lock)
            path = self.path(mount.id)
            if mount.sharing == "private" and self._in_use.get(mount.id):
                path = scratch / ("cache-" + os.urandom(6).hex())  # a second writer gets its own
            await asyncio.to_thread(_make_cache_dir, path, mount)
            self._in_use[mount.id] = self._in_use.get(mount.id, 0) + 1
            try:
                yield path
            finally:
                self._in_use[mount.id] -= 1

    def size(self) -> int:
        total = 0
        for dirpath, _, files in os.walk(self.root):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
        return total

    def clear(self) -> int:
        """Remove every cache directory not in use; the bytes freed."""
        freed = 0
        if not self.root.is_dir():
            return 0
        for entry in self.root.iterdir():
            ident_busy = any(self.path(i) == entry and n for i, n in self._in_use.items())
            if ident_busy:
                continue
            freed += _disk_usage(entry)
            shutil.rmtree(entry, ignore_errors=True)
        return freed


def _make_cache_dir(path: Path, mount: RunMount) -> None:
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.mkdir(mode=0o755)
    os.chmod(path, mount.mode if mount.mode is not None else 0o755)
    os.chown(path, mount.uid, mount.gid)


def _disk_usage(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


MountImage = Callable[[Image | None], Awaitable[Path]]  # a mounted image's root, kept for the step
# A source bound read-only at a path of the daemon's own (by its pinned descriptor), kept for the step.
BindSource = Callable[[Source], Awaitable[Path]]


@dataclass(slots=True)
class MountSources:
    """Where a RUN's mounts come from during one build."""

    context: Context
    caches: CacheDirs
    secrets: dict[str, bytes]
    scratch: Path
    stage_image: Callable[[str], Awaitable[Image | None]]
    mount_image: MountImage
    bind: BindSource


async def resolve(mounts: list[RunMount], sources: MountSources,
                  stack: contextlib.AsyncExitStack) -> list[dict[str, Any]]:
    """Docker ``HostConfig.Mounts`` entries for ``mounts``; what they hold stays alive in ``stack``."""
    result: list[dict[str, Any]] = []
    for mount in mounts:
        if mount.type == "tmpfs":
            result.append({"Type": "tmpfs", "Target": mount.target,
                           "TmpfsOptions": {"SizeBytes": mount.size} if mount.size else {}})
        elif mount.type == "cache":
            path = await stack.enter_async_context(sources.caches.use(mount, sources.scratch))
            result.append({"Type": "bind", "Source": str(path), "Target": mount.target,
                           "ReadOnly": not mount.rw})
        elif mount.type == "secret":
            secret = await asyncio.to_thread(_secret_file, mount, sources)
            if secret is not None:
                result.append({"Type": "bind", "Source": str(secret), "Target": mount.target,
                               "ReadOnly": True})
        else:
            found = await _bind_source(mount, sources)
            if mount.rw:
                path = await asyncio.to_thread(_private_copy, found, sources.scratch)
            else:
                path = await sources.bind(found)
            result.append({"Type": "bind", "Source": str(path), "Target": mount.target,
                           "ReadOnly": not mount.rw})
    return result


async def _bind_source(mount: RunMount, sources: MountSources) -> Source:
    if not mount.from_:
        found = await asyncio.to_thread(sources.context.find, mount.source or "/")
    else:
        image = await sources.stage_image(mount.from_)
        root = await sources.mount_image(image)
        found = await asyncio.to_thread(source.find, root, mount.source or "/")
    if found is None:
        raise NotFound(f"failed to compute cache key: \"/{mount.source.lstrip('/')}\": not found")
    return found


def _private_copy(found: Source, scratch: Path) -> Path:
    """A throw-away copy for ``rw``, read by descriptors inside the source's tree."""
    dest = scratch / ("bind-" + os.urandom(6).hex())
    with found.pinned() as entry:
        if stat.S_ISDIR(entry.st.st_mode):
            dest.mkdir(mode=0o700)
            with Root.at(dest) as root:
                copy_into(entry, root)
            os.chown(dest, entry.st.st_uid, entry.st.st_gid)
            os.chmod(dest, stat.S_IMODE(entry.st.st_mode))
            return dest
        if not stat.S_ISREG(entry.st.st_mode):
            raise InvalidArgument(f"cannot bind-mount {found.given or '/'}: not a file or directory")
        with os.fdopen(open_content(entry), "rb") as data, \
                os.fdopen(os.open(dest, _NEW_FILE, 0o600), "wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
            os.fchmod(out.fileno(), stat.S_IMODE(entry.st.st_mode))
    return dest


def _secret_file(mount: RunMount, sources: MountSources) -> Path | None:
    value = sources.secrets.get(mount.id)
    if value is None:
        if mount.required:
            raise NotFound(f"secret {mount.id}: not found (pass it with dockyard build --secret"
                           f" id={mount.id},src=<file>)")
        return None
    directory = sources.scratch / "secrets"
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / hashlib.sha256(mount.id.encode()).hexdigest()
    if not path.exists():
        mode = mount.mode if mount.mode is not None else 0o400
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(value)
        os.chown(path, mount.uid, mount.gid)
    return path
