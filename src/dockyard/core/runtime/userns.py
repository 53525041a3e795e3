"""User-namespace remapping (dockerd's ``--userns-remap``): containers' root is an unprivileged host uid.

``--userns-remap default`` uses the ``dockremap`` user (created with its /etc/subuid and /etc/subgid
ranges when missing, as dockerd does); ``user[:group]`` uses that user's ranges. The ranges become
the OCI ``uidMappings``/``gidMappings`` of every container not run with ``--userns host``.

Root filesystem ownership: a process in the user namespace has capabilities only over inodes whose
owner is mapped into it, so the image's files (owned by host root) must appear owned by the remapped
root. Of the three ways (idmapped mounts, chowning each container's tree, a shifted copy of each
layer), the shifted copy is the one that works here with plain overlayfs and runc 1.1 (which cannot
idmap the rootfs): like dockerd's ``<root>/<uid>.<gid>/`` graph, each layer directory used by a
remapped container is copied once to ``<data-root>/<uid>.<gid>/snapshots/`` with every owner shifted
into the range, and the container's overlay uses those copies as lower layers. The writable upper
directory belongs to the remapped root, so new files get host uids inside the range.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.layers.snapshots import Mount
from dockyard.errors import Internal, InvalidArgument

log = logging.getLogger(__name__)

DEFAULT_REMAP_USER = "dockremap"
_RANGE_SIZE = 65536
_FIRST_SUBID = 100000
_TIMEOUT = 60
OVERFLOW_ID = 65534  # what the kernel shows for an id the namespace does not map (overflowuid)
# (uid, gid) -> (uid, gid): host ids to a container's view, or back.
IdMap = Callable[[int, int], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class IdRange:
    """One line of /etc/subuid: host ids ``start`` .. ``start + size - 1``."""

    start: int
    size: int


@dataclass(frozen=True, slots=True)
class UsernsRemap:
    """The remapping in force: the user's name and its subordinate uid and gid ranges."""

    user: str
    uids: tuple[IdRange, ...]
    gids: tuple[IdRange, ...]

    @property
    def root_uid(self) -> int:
        return self.uids[0].start

    @property
    def root_gid(self) -> int:
        return self.gids[0].start

    def oci_mappings(self) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
        """``linux.uidMappings`` and ``linux.gidMappings``: the ranges laid end to end from 0."""
        return _mappings(self.uids), _mappings(self.gids)

    def shift(self, uid: int, gid: int) -> tuple[int, int]:
        return _shift(uid, self.uids), _shift(gid, self.gids)

    def unshift(self, uid: int, gid: int) -> tuple[int, int]:
        """Host ids as the container sees them (``docker cp``/``commit``/``export`` record these)."""
        return _unshift(uid, self.uids), _unshift(gid, self.gids)


def _mappings(ranges: Sequence[IdRange]) -> list[dict[str, int]]:
    result, inside = [], 0
    for r in ranges:
        result.append({"containerID": inside, "hostID": r.start, "size": r.size})
        inside += r.size
    return result


def _shift(value: int, ranges: Sequence[IdRange]) -> int:
    if any(r.start <= value < r.start + r.size for r in ranges):
        return value  # already shifted: a tree is shifted again on every start (copy snapshotter)
    inside = 0
    for r in ranges:
        if value < inside + r.size:
            return r.start + value - inside
        inside += r.size
    return ranges[0].start + ranges[0].size - 1  # unmapped ids collapse to the range's last id


def _unshift(value: int, ranges: Sequence[IdRange]) -> int:
    inside = 0
    for r in ranges:
        if r.start <= value < r.start + r.size:
            return inside + value - r.start
        inside += r.size
    return OVERFLOW_ID


def read_ranges(path: Path, names: Sequence[str]) -> tuple[IdRange, ...]:
    """The ranges of /etc/subuid or /etc/subgid whose owner is one of ``names`` (name or id)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return ()
    ranges = []
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] in names and fields[1].isdigit() and fields[2].isdigit():
            ranges.append(IdRange(int(fields[1]), int(fields[2])))
    return tuple(ranges)


def _next_free(path: Path) -> int:
    end = _FIRST_SUBID
    for line in path.read_text().splitlines() if path.exists() else ():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            end = max(end, int(fields[1]) + int(fields[2]))
    return end


def _ensure_default_user(etc: Path) -> None:
    """dockerd's ``default``: the ``dockremap`` user and one 65536-id range in each file."""
    import pwd

    try:
        pwd.getpwnam(DEFAULT_REMAP_USER)
        exists = True
    except KeyError:
        exists = False
    if not exists:
        argv = ["useradd", "--system", "--shell", "/bin/false", "--no-create-home", DEFAULT_REMAP_USER]
        proc = subprocess.run(argv, capture_output=True, timeout=_TIMEOUT, check=False)
        if proc.returncode != 0:
            raise Internal(f"cannot create the {DEFAULT_REMAP_USER} user: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
        log.info("created the %s user for user-namespace remapping", DEFAULT_REMAP_USER)
    for name in ("subuid", "subgid"):
        path = etc / name
        if read_ranges(path, [DEFAULT_REMAP_USER]):
            continue
        start = _next_free(path)
        with path.open("a") as f:
            f.write(f"{DEFAULT_REMAP_USER}:{start}:{_RANGE_SIZE}\n")
        log.info("added %s:%d:%d to %s", DEFAULT_REMAP_USER, start, _RANGE_SIZE, path)


def _names_of(user: str, *, group: bool) -> list[str]:
    import grp
    import pwd

    names = [user]
    try:
        if group:
            entry_g = grp.getgrgid(int(user)) if user.isdigit() else grp.getgrnam(user)
            names += [entry_g.gr_name, str(entry_g.gr_gid)]
        else:
            entry_u = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
            names += [entry_u.pw_name, str(entry_u.pw_uid)]
    except KeyError as exc:
        kind = "group" if group else "user"
        raise InvalidArgument(f"Error during {kind} lookup for {user!r}: no such {kind}") from exc
    return names


def load_remap(setting: str, *, etc: Path = Path("/etc")) -> UsernsRemap:
    """Resolve ``--userns-remap`` (``default`` or ``user[:group]``) into its subordinate ranges."""
    user, _, group = setting.partition(":")
    if user == "default":
        _ensure_default_user(etc)
        user = DEFAULT_REMAP_USER
    group = group or user
    uids = read_ranges(etc / "subuid", _names_of(user, group=False))
    gids = read_ranges(etc / "subgid", _names_of(group, group=True) if group != user
                       else _names_of(user, group=False))
    if not uids or not gids:
        raise InvalidArgument(f"can't create ID mappings: no subuid/subgid ranges found for user {user!r}")
    return UsernsRemap(user=user, uids=uids, gids=gids)


def check_root_access(data_root: Path) -> None:
    """dockerd's check: the remapped root must be able to walk down to the daemon's root."""
    for parent in data_root.absolute().parents:
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            raise InvalidArgument(
                f"a subdirectory in your graphroot path ({data_root}) restricts access to the "
                "remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories")


# ---- root filesystems ----
def _shift_tree(root: Path, remap: UsernsRemap) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            uid, gid = remap.shift(st.st_uid, st.st_gid)
            os.lchown(path, uid, gid)
            if not os.path.islink(path):
                os.chmod(path, st.st_mode & 0o7777)  # chown cleared setuid/setgid bits


def shifted_dir(source: Path, *, data_root: Path, remap: UsernsRemap) -> Path:
    """The copy of layer directory ``source`` with owners shifted into the range (made once)."""
    relative = source.relative_to(data_root)
    target = data_root / f"{remap.root_uid}.{remap.root_gid}" / relative
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run(["cp", "-a", "--reflink=auto", "--", str(source), str(tmp)],
                          capture_output=True, timeout=600, check=False)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise Internal(f"copying {source} for user-namespace remapping: "
                       f"{proc.stderr.decode(errors='replace').strip()}")
    _shift_tree(tmp, remap)
    tmp.rename(target)
    return target


def remapped_mounts(mounts: Sequence[Mount], *, data_root: Path, remap: UsernsRemap) -> list[Mount]:
    """``mounts`` of a container's rootfs with shifted lower layers and an upper owned by its root."""
    result = []
    for m in mounts:
        if m.type != "overlay":
            if m.type == "bind":
                _shift_tree(Path(m.source), remap)  # the copy snapshotter's private tree
            result.append(m)
            continue
        options: list[str] = []
        for option in m.options:
            key, _, value = option.partition("=")
            if key == "lowerdir":
                lowers = [str(shifted_dir(Path(p), data_root=data_root, remap=remap))
                          if Path(p).is_relative_to(data_root) else p for p in value.split(":")]
                option = "lowerdir=" + ":".join(lowers)
            elif key == "upperdir":
                os.chown(value, remap.root_uid, remap.root_gid)
            options.append(option)
        result.append(Mount(m.type, m.source, tuple(options)))
    return result

