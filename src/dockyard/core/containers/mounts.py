"""What a container mounts: ``-v``, ``--mount``, ``--tmpfs``, ``--volumes-from`` and the image's
``VOLUME``, resolved into :class:`MountPoint` records, and those into the runtime's bind mounts.

Docker's order (moby ``registerMountPoints``): mounts copied with ``--volumes-from`` first, then
``Binds`` (``-v``) replacing any at the same destination, then ``Mounts`` (``--mount``), which may not
repeat a destination; the image's and ``-v /path`` volumes last, only where nothing is mounted yet.
A volume point with an empty ``name`` is an anonymous volume the service has yet to create.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace
from typing import Any

from dockyard.core.naming import bad_character
from dockyard.core.runtime.model import BindMount
from dockyard.core.volumes.model import validate_name as validate_volume_name
from dockyard.errors import InvalidArgument

_PROPAGATIONS = frozenset({"shared", "rshared", "slave", "rslave", "private", "rprivate"})
_LABELS = frozenset({"z", "Z"})
TMPFS_DEFAULTS = ("nosuid", "nodev", "noexec")


@dataclass(frozen=True, slots=True)
class MountPoint:
    """One mount of a container, as inspect's ``Mounts`` shows it.

    *source* is the host path (a bind's directory, a volume's ``_data``); *name* a volume's name.
    """

    type: str  # "bind", "volume" or "tmpfs"
    destination: str
    source: str = ""
    name: str = ""
    driver: str = ""
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    options: tuple[str, ...] = ()  # tmpfs data options (size=…, mode=…)
    nocopy: bool = False
    # "tmpfs" for HostConfig.Tmpfs (inspect does not list those), "binds" for -v binds (whose
    # missing source directory is created, where --mount refuses it).
    from_flag: str = ""
    volume_options: tuple[tuple[str, str], ...] = ()  # --mount volume-opt=…, for a volume it creates
    volume_labels: tuple[tuple[str, str], ...] = ()
    # The ID a volume driver was given at Mount (moby's MountPoint.ID): one per mount point and
    # start, kept in the record so the Unmount after a daemon restart names the same mount.
    mount_id: str = ""

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> MountPoint:
        fields = dict(data)
        for key in ("options", "volume_options", "volume_labels"):
            fields[key] = tuple(tuple(v) if isinstance(v, list) else v for v in fields.get(key) or ())
        return cls(**fields)


def _clean_destination(path: str, spec: str) -> str:
    if not path.startswith("/"):
        raise InvalidArgument(f"invalid volume specification: '{spec}': invalid mount config for "
                              f"type \"volume\": invalid mount path: '{path}' mount path must be absolute")
    cleaned = posixpath.normpath(path)
    if cleaned == "/":
        raise InvalidArgument(f"invalid volume specification: '{spec}': invalid mount config: "
                              "destination can't be '/'")
    return cleaned


def _no_parent_steps(source: str, context: str) -> None:
    # normpath would make "/srv/app/../../etc" the host's /etc without the user seeing it; a
    # bind source names the host directory it means.
    if ".." in source.split("/"):
        raise InvalidArgument(f"{context}: a bind source may not contain '..'")


def _volume_source(name: str) -> None:
    # A volume's name is its directory under the data root: "../x" or "a/b" must never get as
    # far as the volume service's mkdir. The full name rule is the volume service's at create.
    if "/" in name or name in (".", "..") or bad_character(name) is not None:
        validate_volume_name(name)


def parse_bind(spec: str) -> MountPoint:
    """``-v src:dst[:opts]``: an absolute ``src`` is a bind, anything else a volume name."""
    parts = spec.split(":")
    if len(parts) == 2:
        source, dest, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        source, dest, mode = parts
    else:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    if not source:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    dest = _clean_destination(dest, spec)
    rw, propagation, nocopy = True, "", False
    for option in [o for o in mode.split(",") if o]:
        if option in ("ro", "rw"):
            rw = option == "rw"
        elif option in _PROPAGATIONS:
            propagation = option
        elif option == "nocopy":
            nocopy = True
        elif option not in _LABELS:
            raise InvalidArgument(f"invalid mode: {mode}")
    if source.startswith("/"):
        _no_parent_steps(source, f"invalid volume specification: '{spec}'")
        return MountPoint(type="bind", destination=dest, source=posixpath.normpath(source),
                          mode=mode, rw=rw, propagation=propagation or "rprivate", from_flag="binds")
    if propagation:
        raise InvalidArgument(f"invalid mode: {mode}")
    _volume_source(source)
    return MountPoint(type="volume", destination=dest, name=source, driver="local",
                      mode=mode or "z", rw=rw, nocopy=nocopy)


def parse_mount(spec: dict[str, Any]) -> MountPoint:
    """One ``HostConfig.Mounts`` entry (``--mount type=…,source=…,target=…``)."""
    kind = str(spec.get("Type") or "")
    target = str(spec.get("Target") or spec.get("Destination") or "")
    if not target:
        raise InvalidArgument(f'invalid mount config for type "{kind}": field Target must not be empty')
    dest = _clean_destination(target, target)
    source = str(spec.get("Source") or "")
    readonly = bool(spec.get("ReadOnly"))
    if kind == "bind":
        return _parse_bind_mount(spec, dest, source, readonly)
    if kind == "volume":
        _volume_source(source)
        opts = spec.get("VolumeOptions") or {}
        driver = (opts.get("DriverConfig") or {})
        return MountPoint(type="volume", destination=dest, name=source,
                          driver=str(driver.get("Name") or "local"), rw=not readonly,
                          nocopy=bool(opts.get("NoCopy")),
                          volume_options=tuple(sorted((driver.get("Options") or {}).items())),
                          volume_labels=tuple(sorted((opts.get("Labels") or {}).items())))
    if kind == "tmpfs":
        if source:
            raise InvalidArgument('invalid mount config for type "tmpfs": field Source must not be specified')
        return MountPoint(type="tmpfs", destination=dest, rw=not readonly,
                          options=_tmpfs_options(spec.get("TmpfsOptions") or {}))
    raise InvalidArgument(f'mount type unknown: "{kind}"' if kind else "mount type unknown")


def _parse_bind_mount(spec: dict[str, Any], dest: str, source: str, readonly: bool) -> MountPoint:
    if not source:
        raise InvalidArgument('invalid mount config for type "bind": field Source must not be empty')
    if not source.startswith("/"):
        raise InvalidArgument(f'invalid mount config for type "bind": invalid mount path: '
                              f"'{source}' mount path must be absolute")
    _no_parent_steps(source, f'invalid mount config for type "bind": invalid mount path: \'{source}\'')
    propagation = str((spec.get("BindOptions") or {}).get("Propagation") or "rprivate")
    if propagation not in _PROPAGATIONS:
        raise InvalidArgument(f"invalid propagation mode: {propagation}")
    return MountPoint(type="bind", destination=dest, source=posixpath.normpath(source),
                      rw=not readonly, propagation=propagation)


def _tmpfs_options(opts: dict[str, Any]) -> tuple[str, ...]:
    result: list[str] = []
    size = int(opts.get("SizeBytes") or 0)
    if size < 0:
        raise InvalidArgument("invalid tmpfs size")
    if size:
        result.append(f"size={size // 1024}k" if size % 1024 == 0 else f"size={size}")
    mode = int(opts.get("Mode") or 0)
    if mode:
        result.append(f"mode={mode:o}")
    return tuple(result)


def parse_tmpfs(tmpfs: dict[str, Any]) -> list[MountPoint]:
    """``HostConfig.Tmpfs``: destination -> ``"size=64m,mode=1777"``."""
    points = []
    for dest, options in sorted(tmpfs.items()):
        words = [w for w in str(options or "").split(",") if w]
        rw = "ro" not in words
        words = [w for w in words if w not in ("ro", "rw")]
        points.append(MountPoint(type="tmpfs", destination=_clean_destination(dest, dest), rw=rw,
                                 options=tuple(words), from_flag="tmpfs"))
    return points


def parse_volumes_from(spec: str) -> tuple[str, str]:
    """``ctr[:ro|rw]`` -> (container reference, mode)."""
    ref, _, mode = spec.partition(":")
    if mode not in ("", "ro", "rw") or not ref:
        raise InvalidArgument(f"invalid mode: {mode}" if ref
                              else f"malformed volumes-from specification: {spec}")
    return ref, mode


def plan(host: dict[str, Any], config_volumes: dict[str, Any],
         inherited: list[tuple[list[MountPoint], str]]) -> list[MountPoint]:
    """Every mount of a new container, in Docker's order of precedence (module docstring).

    ``inherited`` holds, per ``--volumes-from`` entry, the other container's mounts and the mode."""
    points: dict[str, MountPoint] = {}
    for mounts, mode in inherited:
        for point in mounts:
            if point.from_flag == "tmpfs":
                continue
            # The other container's mount ID is its own: this one mounts under a new one.
            points[point.destination] = replace(point, rw=point.rw if not mode else mode == "rw",
                                                mount_id="")
    seen: set[str] = set()
    # --volume-driver: the driver of the volumes -v names and of the image's (moby's
    # ParseMountRaw(bind, hostConfig.VolumeDriver)); --mount names its own.
    driver = str(host.get("VolumeDriver") or "local")
    for spec in host.get("Binds") or []:
        point = parse_bind(str(spec))
        if point.type == "volume":
            point = replace(point, driver=driver)
        if point.destination in seen:
            raise InvalidArgument(f"Duplicate mount point: {point.destination}")
        seen.add(point.destination)
        points[point.destination] = point
    for spec in host.get("Mounts") or []:
        point = parse_mount(dict(spec))
        if point.destination in seen:
            raise InvalidArgument(f"Duplicate mount point: {point.destination}")
        seen.add(point.destination)
        points[point.destination] = point
    tmpfs = parse_tmpfs(dict(host.get("Tmpfs") or {}))
    for point in tmpfs:
        points.pop(point.destination, None)
    covered = set(points) | {p.destination for p in tmpfs}
    for dest in sorted(config_volumes):
        cleaned = _clean_destination(str(dest), str(dest))
        if cleaned not in covered:
            points[cleaned] = MountPoint(type="volume", destination=cleaned, driver=driver, mode="")
            covered.add(cleaned)
    return [*points.values(), *tmpfs]


def volume_driver_warning(host: dict[str, Any]) -> str:
    """moby's handleVolumeDriverBC (API 1.48+): --volume-driver does not reach --mount volumes."""
    if not host.get("VolumeDriver"):
        return ""
    for spec in host.get("Mounts") or []:
        driver = ((spec.get("VolumeOptions") or {}).get("DriverConfig") or {}).get("Name")
        if spec.get("Type") == "volume" and not driver:
            return ("WARNING: the container-wide volume-driver configuration is ignored for volumes "
                    "specified via 'mount'. Use '--mount type=volume,volume-driver=...' instead")
    return ""


def bind_mounts(points: list[MountPoint]) -> list[BindMount]:
    """The runtime's mounts, parents before children (a mount inside another comes after it)."""
    result = []
    for point in sorted(points, key=lambda p: p.destination.count("/")):
        ro = () if point.rw else ("ro",)
        if point.type == "tmpfs":
            options = (*TMPFS_DEFAULTS, *point.options, *ro)
            result.append(BindMount(destination=point.destination, source="tmpfs", type="tmpfs",
                                    options=options))
        else:
            propagation = point.propagation or "rprivate"
            result.append(BindMount(destination=point.destination, source=point.source,
                                    options=("rbind", propagation, *ro)))
    return result


def covering(points: list[MountPoint], path: str) -> tuple[MountPoint | None, str]:
    """The mount holding container ``path`` (deepest first) and the path inside it, relative
    (None: the rootfs holds it)."""
    best: MountPoint | None = None
    for point in points:
        dest = point.destination
        if (path == dest or path.startswith(dest.rstrip("/") + "/")) and (
                best is None or len(dest) > len(best.destination)):
            best = point
    if best is None:
        return None, path.lstrip("/")
    return best, path[len(best.destination):].lstrip("/")
