"""The LogDriver Protocol and the one registry of drivers by name.

A driver is a factory (``DriverSpec``: its name, the options it accepts, whether ``docker logs``
can read what it writes) that makes one ``LogDriver`` per running container. Built-in drivers
live in ``backends/logdrivers``; a plugin driver would register the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

from dockyard.errors import InvalidArgument

# Options every driver takes (moby's daemon/logger: mode, max-buffer-size). The container never
# blocks on a driver here (conmon writes a spool the daemon ships from); the mode is how the spool
# is delivered to the driver: blocking waits, non-blocking buffers and drops (core/logging/ring.py).
COMMON_OPTS = frozenset({"mode", "max-buffer-size"})
# Dual logging (Docker 20.10+): the local cache kept for drivers that cannot be read back.
CACHE_OPTS = frozenset({"cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"})
ATTR_OPTS = frozenset({"labels", "labels-regex", "env", "env-regex"})


class LogMessage(NamedTuple):  # a tuple: one is made per line at container speed
    line: bytes  # without its newline
    stream: str  # "stdout" | "stderr"
    time_ns: int
    partial: bool = False  # the process wrote no newline (yet)


@dataclass(frozen=True, slots=True)
class LogContext:
    """What a driver may need to know of its container (moby's logger.Info)."""

    container_id: str
    name: str  # without the leading "/"
    image_id: str
    image_name: str
    command: list[str]
    created: str
    labels: Mapping[str, str]
    env: list[str]
    config: Mapping[str, str]  # the container's LogConfig.Config
    log_dir: Path  # the container's directory: file drivers write here
    daemon_name: str = "dockyard"

    def extra_attributes(self) -> dict[str, str]:
        """``labels``/``env``/``labels-regex``/``env-regex``: the attributes drivers attach."""
        attrs: dict[str, str] = {}
        wanted = [k for k in self.config.get("labels", "").split(",") if k]
        for key in wanted:
            if key in self.labels:
                attrs[key] = self.labels[key]
        pattern = self.config.get("labels-regex")
        if pattern:
            regex = re.compile(pattern)
            attrs.update({k: v for k, v in self.labels.items() if regex.match(k)})
        env = dict(e.split("=", 1) for e in self.env if "=" in e)
        for key in [k for k in self.config.get("env", "").split(",") if k]:
            if key in env:
                attrs[key] = env[key]
        pattern = self.config.get("env-regex")
        if pattern:
            regex = re.compile(pattern)
            attrs.update({k: v for k, v in env.items() if regex.match(k)})
        return attrs

    def tag(self, default: str = "{{.ID}}") -> str:
        """moby's ``tag`` template: ``{{.ID}}`` (12 chars), ``{{.FullID}}``, ``{{.Name}}``,
        ``{{.ImageName}}``, ``{{.ImageID}}``, ``{{.ImageFullID}}``, ``{{.DaemonName}}``."""
        template = self.config.get("tag") or default
        values = {
            "ID": self.container_id[:12], "FullID": self.container_id, "Name": self.name,
            "ImageName": self.image_name, "ImageID": self.image_id.removeprefix("sha256:")[:12],
            "ImageFullID": self.image_id, "DaemonName": self.daemon_name,
        }

        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in values:
                raise InvalidArgument(f"template: log-tag:1: can't evaluate field {key}")
            return values[key]

        return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", fill, template)


class LogDriver(Protocol):
    """One container's sink. The shipper calls it from a worker thread, never on the event
    loop, so drivers use plain blocking files and sockets (with timeouts)."""

    def write(self, messages: Sequence[LogMessage]) -> None: ...

    def close(self) -> None: ...


class SpoolWriter(Protocol):
    """A driver that may take whole spool lines at once (json-file, local): the shipper offers
    each chunk first and makes messages only when it answers False."""

    def write_spool(self, chunk: bytes) -> bool: ...


class DriverSpec(Protocol):
    name: str
    options: frozenset[str]  # beyond COMMON_OPTS
    readable: bool  # docker logs reads its own files (json-file, local)

    def validate(self, config: Mapping[str, str]) -> None:
        """Values of the options (keys are checked by the registry); InvalidArgument if bad."""

    def read_path(self, log_dir: Path, container_id: str) -> Path:
        """Where ``docker logs`` reads (readable drivers only)."""

    def create(self, context: LogContext) -> LogDriver:
        """Connect/open (blocking, in a thread); an error here fails the container's start."""


@dataclass
class LogDriverRegistry:
    drivers: dict[str, DriverSpec] = field(default_factory=dict)

    def register(self, spec: DriverSpec) -> None:
        self.drivers[spec.name] = spec

    def get(self, name: str) -> DriverSpec:
        spec = self.drivers.get(name)
        if spec is None:
            raise InvalidArgument(f"logger: no log driver named '{name}' is registered")
        return spec

    def names(self) -> list[str]:
        return sorted(self.drivers)

    def validate(self, name: str, config: Mapping[str, str]) -> None:
        """moby's ValidateLogOpts: every key known to the driver, every value sound."""
        if name == "none":
            return
        spec = self.get(name)
        allowed = spec.options | COMMON_OPTS | (frozenset() if spec.readable else CACHE_OPTS)
        for key in config:
            if key not in allowed:
                raise InvalidArgument(f"unknown log opt '{key}' for {name} log driver")
        mode = config.get("mode", "blocking")
        if mode not in ("blocking", "non-blocking"):
            raise InvalidArgument(f"logger: unknown mode {mode!r}")
        if "max-buffer-size" in config:
            if mode != "non-blocking":
                raise InvalidArgument(
                    "logger: max-buffer-size option is only supported with 'mode=non-blocking'")
            parse_size(config["max-buffer-size"], "max-buffer-size")
        for key in ("labels-regex", "env-regex"):
            if key in config:
                try:
                    re.compile(config[key])
                except re.error as exc:
                    raise InvalidArgument(f"invalid {key} {config[key]!r}: {exc}") from exc
        for key in ("cache-disabled", "cache-compress"):
            if key in config:
                parse_bool(config[key], key)
        if "cache-max-size" in config:
            parse_size(config["cache-max-size"], "cache-max-size")
        if "cache-max-file" in config:
            parse_int(config["cache-max-file"], "cache-max-file", 1)
        spec.validate(config)


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str, what: str) -> int:
    """Docker's RAMInBytes (``10m``, ``1g``, ``512k``, plain bytes); ``-1`` means unlimited."""
    if value.strip() == "-1":
        return -1
    match = _SIZE.match(value.strip())
    if not match:
        raise InvalidArgument(f"invalid size: '{value}' for {what}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_int(value: str, what: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise InvalidArgument(f"invalid value for {what}: {value!r}") from exc
    if number < minimum:
        raise InvalidArgument(f"{what} must be at least {minimum}, got {number}")
    return number


def parse_bool(value: str, what: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false", ""):
        return False
    raise InvalidArgument(f'strconv.ParseBool: parsing "{value}": invalid syntax ({what})')
