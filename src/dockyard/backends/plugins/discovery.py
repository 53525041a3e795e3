"""Legacy plugin discovery, as moby's pkg/plugins: a socket ``<dir>/<name>.sock`` (or
``<dir>/<name>/<name>.sock``) in ``/run/docker/plugins``, or a ``<name>.spec`` (one URL) or
``<name>.json`` (``{"Name", "Addr", "TLSConfig"}``) file in ``/etc/docker/plugins`` or
``/usr/lib/docker/plugins``."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Sequence
from pathlib import Path

from dockyard.core.plugins.registry import PluginAddress, TlsFiles

log = logging.getLogger(__name__)

SOCKET_DIRS = (Path("/run/docker/plugins"),)
SPEC_DIRS = (Path("/etc/docker/plugins"), Path("/usr/lib/docker/plugins"))


class LegacyDiscovery:
    def __init__(self, socket_dirs: Sequence[Path] = SOCKET_DIRS,
                 spec_dirs: Sequence[Path] = SPEC_DIRS) -> None:
        self._socket_dirs = tuple(socket_dirs)
        self._spec_dirs = tuple(spec_dirs)

    def lookup(self, name: str) -> PluginAddress | None:
        if not name or "/" in name or name.startswith("."):
            return None  # a legacy name is a file name; managed plugins are looked up elsewhere
        for directory in self._socket_dirs:
            for candidate in (directory / f"{name}.sock", directory / name / f"{name}.sock"):
                if _is_socket(candidate):
                    return PluginAddress(name=name, address=f"unix://{candidate}")
        for directory in self._spec_dirs:
            for candidate in (directory / f"{name}.spec", directory / f"{name}.json",
                              directory / name / f"{name}.spec", directory / name / f"{name}.json"):
                if candidate.is_file():
                    return _read_spec(name, candidate)
        return None

    def addresses(self) -> Sequence[PluginAddress]:
        names: set[str] = set()
        for directory in self._socket_dirs + self._spec_dirs:
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                known = entry.suffix in (".sock", ".spec", ".json")
                names.add(entry.name.rsplit(".", 1)[0] if known else entry.name)
        return [found for found in (self.lookup(name) for name in sorted(names)) if found is not None]


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def _read_spec(name: str, path: Path) -> PluginAddress | None:
    try:
        text = path.read_text().strip()
    except OSError as error:
        log.warning("plugin spec %s unreadable: %s", path, error)
        return None
    if path.suffix == ".spec":
        return PluginAddress(name=name, address=text) if text else None
    try:
        spec = json.loads(text)
    except ValueError:
        log.warning("plugin spec %s is not JSON", path)
        return None
    tls = spec.get("TLSConfig")
    files = None
    if isinstance(tls, dict):
        files = TlsFiles(ca_file=str(tls.get("CAFile") or ""), cert_file=str(tls.get("CertFile") or ""),
                         key_file=str(tls.get("KeyFile") or ""),
                         insecure_skip_verify=bool(tls.get("InsecureSkipVerify")))
    return PluginAddress(name=str(spec.get("Name") or name), address=str(spec.get("Addr") or ""),
                         tls=files)
