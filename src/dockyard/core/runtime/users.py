"""User resolution inside a container's root filesystem: Docker's ``-u`` semantics.

``docker run -u SPEC`` accepts ``name``, ``uid``, ``name:group``, ``uid:gid``, ``uid:group`` (and
``name:gid``); names are looked up in the *container's* ``/etc/passwd`` and ``/etc/group``, never the
host's. Numeric ids need not exist in those files. Without a ``:group`` part, the primary group comes
from the passwd entry and the supplementary groups are every group of ``/etc/group`` that lists the
user by name (moby's ``user.GetExecUser``).

The rootfs is untrusted: a symlinked ``/etc/passwd`` is resolved as if the rootfs were ``/`` so that
it can never point the daemon at a host file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.rootfs.root import Root, proc_path
from dockyard.core.runtime.model import ProcessUser
from dockyard.errors import InvalidArgument

# Linux ids are unsigned 32-bit, but Docker (runc's libcontainer/user) refuses anything above
# int32 max because Go's ``int`` parsing and setgroups(2) callers treat -1 as "unset".
_MAX_ID = 2**31 - 1
_MAX_FILE = 16 << 20  # a passwd or group file larger than this is an attack, not a user list


@dataclass(frozen=True, slots=True)
class _PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True, slots=True)
class _GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _read_lines(rootfs: Path, path: str) -> list[str] | None:
    """Lines of a container file, or None when it does not exist (or is not a regular file).

    Pinned with ``openat2(RESOLVE_IN_ROOT)`` as ``O_PATH``: a symlinked ``/etc/passwd`` is followed
    inside the rootfs only, even if the container swaps it meanwhile; only a regular file is then
    opened for reading, so a FIFO or device node planted there is never opened."""
    try:
        with Root.at(rootfs) as root:
            pinned = root.open(path, os.O_PATH)
        try:
            if not stat.S_ISREG(os.fstat(pinned).st_mode):
                return None
            fd = os.open(proc_path(pinned), os.O_RDONLY | os.O_CLOEXEC)
        finally:
            os.close(pinned)
        with os.fdopen(fd, "rb") as f:
            text = f.read(_MAX_FILE).decode("utf-8", errors="replace")
    except OSError:
        return None
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _parse_passwd(lines: list[str]) -> list[_PasswdEntry]:
    entries: list[_PasswdEntry] = []
    for line in lines:
        fields = line.split(":")
        if len(fields) < 4:
            continue
        try:
            uid, gid = int(fields[2]), int(fields[3])
        except ValueError:
            continue
        home = fields[5] if len(fields) > 5 else ""
        entries.append(_PasswdEntry(fields[0], uid, gid, home))
    return entries


def _parse_group(lines: list[str]) -> list[_GroupEntry]:
    entries: list[_GroupEntry] = []
    for line in lines:
        fields = line.split(":")
        if len(fields) < 3:
            continue
        try:
            gid = int(fields[2])
        except ValueError:
            continue
        members = tuple(m.strip() for m in fields[3].split(",") if m.strip()) if len(fields) > 3 else ()
        entries.append(_GroupEntry(fields[0], gid, members))
    return entries


def _as_id(text: str) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    if value > _MAX_ID:
        raise InvalidArgument(f"uids and gids must be in range 0-{_MAX_ID}")
    return value


def _find_user(rootfs: Path, user_arg: str) -> _PasswdEntry | None:
    """The passwd entry named (or numbered) ``user_arg``; None for an unlisted numeric uid."""
    uid = _as_id(user_arg)
    lines = _read_lines(rootfs, "/etc/passwd")
    entries = _parse_passwd(lines) if lines is not None else []
    for entry in entries:
        if (uid is None and entry.name == user_arg) or (uid is not None and entry.uid == uid):
            return entry
    if uid is None:
        raise InvalidArgument(f"unable to find user {user_arg}: no matching entries in passwd file")
    return None


def _find_group(groups: list[_GroupEntry], group_arg: str) -> int:
    gid = _as_id(group_arg)
    for entry in groups:
        if (gid is None and entry.name == group_arg) or (gid is not None and entry.gid == gid):
            return entry.gid
    if gid is None:
        raise InvalidArgument(f"unable to find group {group_arg}: no matching entries in group file")
    return gid


def resolve_user(rootfs: Path, user: str) -> ProcessUser:
    """Turn ``docker run -u`` text into the uid, gid and supplementary gids of the process."""
    user_arg, _, group_arg = user.partition(":")
    if not user_arg:
        user_arg = "0"  # "" and ":grp" both mean root, as in Docker
    entry = _find_user(rootfs, user_arg)
    uid = entry.uid if entry is not None else _as_id(user_arg)
    assert uid is not None  # _find_user raised for an unknown name
    gid = entry.gid if entry is not None else 0
    group_lines = _read_lines(rootfs, "/etc/group")
    groups = _parse_group(group_lines) if group_lines is not None else []
    if group_arg:
        # An explicit group replaces the primary group and, as in Docker, suppresses the
        # membership lookup for supplementary groups.
        return ProcessUser(uid=uid, gid=_find_group(groups, group_arg))
    additional: tuple[int, ...] = ()
    if entry is not None:
        additional = tuple(g.gid for g in groups if entry.name in g.members)
    return ProcessUser(uid=uid, gid=gid, additional_gids=additional)


def home_of(rootfs: Path, uid: int) -> str:
    """HOME for ``uid``: its passwd home directory, "/" when it has none (Docker's default)."""
    lines = _read_lines(rootfs, "/etc/passwd")
    for entry in _parse_passwd(lines or []):
        if entry.uid == uid and entry.home:
            return entry.home
    return "/"
