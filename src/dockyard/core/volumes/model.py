"""The volume record and the ``local`` driver's options.

A *named* volume is made by ``docker volume create`` or by ``-v name:/path``; an *anonymous* one by
``-v /path`` or an image's ``VOLUME``, and carries Docker's ``com.docker.volume.anonymous`` label
(so ``docker rm -v`` and ``docker volume prune`` know it). Its data lives in
``volumes/<name>/_data``; with ``-o type=…`` options that directory is a mount point the daemon fills
on first use (a tmpfs, or a bind of ``device``), as Docker's local driver does.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dockyard.core.layers.snapshots import Mount
from dockyard.core.naming import check_name
from dockyard.errors import InvalidArgument

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
LOCAL_DRIVER = "local"
# Docker's local driver accepts exactly these options (moby volume/local/local_unix.go).
LOCAL_OPTIONS = frozenset({"type", "o", "device", "size"})
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass(slots=True)
class Volume:
    name: str
    driver: str
    created_at: str
    mountpoint: Path
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    # Asked of the driver each time, never stored: a plugin's Capabilities scope and Get status.
    scope: str = "local"
    status: dict[str, Any] | None = None

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    @property
    def mountpoint_text(self) -> str:
        """The host path as the API shows it: empty while a plugin has not said where."""
        return "" if self.mountpoint == Path() else str(self.mountpoint)

    def to_record(self) -> dict[str, Any]:
        data = asdict(self)
        data["mountpoint"] = self.mountpoint_text
        del data["scope"], data["status"]
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Volume:
        return cls(**{**data, "mountpoint": Path(data["mountpoint"])})


def validate_name(name: str) -> str:
    check_name("volume", name)
    if not _NAME.fullmatch(name):  # not match: "$" also matches before a trailing newline
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
            "use absolute path")
    return name


def validate_options(options: dict[str, str]) -> None:
    """Docker's checks at create: known keys only; a bind needs a device."""
    for key in options:
        if key not in LOCAL_OPTIONS:
            raise InvalidArgument(f'invalid option: "{key}"')
    if options and "type" not in options and "device" in options:
        raise InvalidArgument('missing required option: "type"')
    flags = (options.get("o") or "").split(",")
    if "bind" in flags and not options.get("device"):
        raise InvalidArgument('missing required option: "device"')


def host_mount(options: dict[str, str]) -> Mount | None:
    """The mount that fills ``_data`` (None when the volume is a plain directory)."""
    kind = options.get("type", "")
    if not kind:
        return None
    flags = [o for o in (options.get("o") or "").split(",") if o]
    if "size" in options:
        flags.append(f"size={options['size']}")
    device = options.get("device") or kind
    if "bind" in flags:
        # type=none,o=bind,device=/dir: a bind of the host directory (MS_BIND, not a filesystem).
        return Mount(type="bind", source=device, options=tuple(f for f in flags if f != "bind"))
    return Mount(type=kind, source=device, options=tuple(flags))
