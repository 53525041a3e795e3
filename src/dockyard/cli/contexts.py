"""The docker CLI's context store, read and written as the docker CLI does, so both CLIs share it.

A *context* names an endpoint: ``$DOCKER_CONFIG/contexts/meta/<sha256 of name>/meta.json`` holds
``{"Name", "Metadata": {"Description"}, "Endpoints": {"docker": {"Host", "SkipTLSVerify"}}}`` and
``contexts/tls/<sha256 of name>/docker/{ca,cert,key}.pem`` its TLS files; ``currentContext`` in
``config.json`` is the one in use. ``default`` is not stored: it is ``-H``/``DOCKER_HOST``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.cli.endpoint import DEFAULT_HOST, Endpoint, TlsConfig, docker_config_dir, flag_tls
from dockyard.cli.errors import CliError

DEFAULT = "default"
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$")


@dataclass(frozen=True, slots=True)
class Context:
    name: str
    host: str
    description: str = ""
    skip_tls_verify: bool = False
    tls_files: dict[str, bytes] = field(default_factory=dict)  # ca.pem/cert.pem/key.pem -> PEM
    extra: dict[str, Any] = field(default_factory=dict)  # other keys of meta.json, kept as read


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


class ContextStore:
    def __init__(self, config_dir: Path | None = None) -> None:
        self.config_dir = config_dir or docker_config_dir()
        self.meta_root = self.config_dir / "contexts" / "meta"
        self.tls_root = self.config_dir / "contexts" / "tls"

    def meta_dir(self, name: str) -> Path:
        return self.meta_root / _digest(name)

    def tls_dir(self, name: str) -> Path:
        return self.tls_root / _digest(name) / "docker"

    # ---- config.json ----
    def _config(self) -> dict[str, Any]:
        try:
            data = json.loads((self.config_dir / "config.json").read_text())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise CliError(f"loading config file: {self.config_dir / 'config.json'}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def current(self) -> str:
        return str(self._config().get("currentContext") or DEFAULT)

    def set_current(self, name: str) -> None:
        config = self._config()
        if name == DEFAULT:
            config.pop("currentContext", None)
        else:
            config["currentContext"] = name
        self.config_dir.mkdir(parents=True, exist_ok=True)
        path = self.config_dir / "config.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent="\t") + "\n")
        os.replace(tmp, path)

    # ---- contexts ----
    def exists(self, name: str) -> bool:
        return (self.meta_dir(name) / "meta.json").is_file()

    def get(self, name: str) -> Context:
        try:
            meta = json.loads((self.meta_dir(name) / "meta.json").read_text())
        except FileNotFoundError:
            raise CliError(f"context \"{name}\" does not exist") from None
        except ValueError as exc:
            raise CliError(f"context \"{name}\": invalid meta.json: {exc}") from exc
        docker = (meta.get("Endpoints") or {}).get("docker") or {}
        tls = {f: (self.tls_dir(name) / f).read_bytes() for f in TLS_FILES
               if (self.tls_dir(name) / f).is_file()}
        return Context(name=name, host=str(docker.get("Host") or ""),
                       description=str((meta.get("Metadata") or {}).get("Description") or ""),
                       skip_tls_verify=bool(docker.get("SkipTLSVerify")), tls_files=tls,
                       extra={k: v for k, v in meta.items() if k not in ("Name", "Metadata", "Endpoints")})

    def list(self) -> list[Context]:
        found = []
        if self.meta_root.is_dir():
            for entry in self.meta_root.iterdir():
                try:
                    name = json.loads((entry / "meta.json").read_text())["Name"]
                except (OSError, ValueError, KeyError):
                    continue
                found.append(self.get(str(name)))
        return sorted(found, key=lambda c: c.name)

    def save(self, context: Context) -> None:
        check_name(context.name)
        meta = {"Name": context.name, "Metadata": {"Description": context.description} if
                context.description else {},
                "Endpoints": {"docker": {"Host": context.host, "SkipTLSVerify": context.skip_tls_verify}},
                **context.extra}
        directory = self.meta_dir(context.name)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "meta.json").write_text(json.dumps(meta))
        tls = self.tls_dir(context.name)
        shutil.rmtree(tls, ignore_errors=True)
        if context.tls_files:
            tls.mkdir(parents=True, exist_ok=True)
            for filename, data in context.tls_files.items():
                path = tls / filename
                path.write_bytes(data)
                path.chmod(0o600 if filename == "key.pem" else 0o644)

    def remove(self, name: str) -> None:
        if not self.exists(name):
            raise CliError(f"context \"{name}\" does not exist")
        shutil.rmtree(self.meta_dir(name), ignore_errors=True)
        shutil.rmtree(self.tls_root / _digest(name), ignore_errors=True)

    # ---- export / import: the docker CLI's tar layout ----
    def export(self, name: str) -> bytes:
        context = self.get(name)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            _add(tar, "meta.json", (self.meta_dir(name) / "meta.json").read_bytes())
            if context.tls_files:
                for directory in ("tls", "tls/docker"):
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o700
                    tar.addfile(info)
            for filename, data in context.tls_files.items():
                _add(tar, f"tls/docker/{filename}", data)
        return buffer.getvalue()

    def import_(self, name: str, data: bytes) -> None:
        check_name(name)
        if name == DEFAULT or self.exists(name):
            raise CliError(f"context \"{name}\" already exists")
        meta: dict[str, Any] | None = None
        tls: dict[str, bytes] = {}
        try:
            for member_name, content in _members(data):
                if member_name == "meta.json":
                    meta = json.loads(content)
                elif member_name.startswith("tls/docker/") and member_name[11:] in TLS_FILES:
                    tls[member_name[11:]] = content
        except (tarfile.TarError, ValueError) as exc:
            raise CliError(f"invalid context archive: {exc}") from exc
        if not isinstance(meta, dict):
            raise CliError("invalid context archive: no meta.json")
        docker = (meta.get("Endpoints") or {}).get("docker") or {}
        self.save(Context(name=name, host=str(docker.get("Host") or ""),
                          description=str((meta.get("Metadata") or {}).get("Description") or ""),
                          skip_tls_verify=bool(docker.get("SkipTLSVerify")), tls_files=tls))


def _members(data: bytes) -> list[tuple[str, bytes]]:
    """Regular files of a tar; the docker CLI writes its exports without the end-of-archive
    blocks, so reading stops quietly at the end of the data."""
    found: list[tuple[str, bytes]] = []
    tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    while True:
        try:
            member = tar.next()
        except tarfile.ReadError:
            if found:
                break
            raise
        if member is None:
            break
        handle = tar.extractfile(member) if member.isfile() else None
        if handle is not None:
            found.append((member.name, handle.read()))
    return found


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600 if name.endswith("key.pem") else 0o644
    tar.addfile(info, io.BytesIO(data))


def check_name(name: str) -> None:
    if name == DEFAULT:
        raise CliError('"default" is a reserved context name')
    if not _NAME_RE.match(name):
        raise CliError(f'context name "{name}" is invalid, names are validated against regexp '
                       '"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"')


@dataclass(frozen=True, slots=True)
class Selection:
    """The global options that choose an endpoint (docker's ``-H``, ``--context``, ``--tls*``)."""

    host: str | None = None
    context: str | None = None
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None


def context_name(selection: Selection, store: ContextStore) -> str:
    """docker's order: ``--context``; ``-H`` or ``DOCKER_HOST`` (the default context);
    ``DOCKER_CONTEXT``; ``currentContext``; ``default``."""
    if selection.context and selection.host:
        raise CliError("conflicting options: either specify --host or --context, not both")
    if selection.context:
        return selection.context
    if selection.host or os.environ.get("DOCKER_HOST"):
        return DEFAULT
    return os.environ.get("DOCKER_CONTEXT") or store.current()


def context_endpoint(context: Context, store: ContextStore) -> Endpoint:
    tls: TlsConfig | None = None
    if context.tls_files or context.skip_tls_verify:
        directory = store.tls_dir(context.name)
        files = {f: str(directory / f) if f in context.tls_files else None for f in TLS_FILES}
        tls = TlsConfig(ca=files["ca.pem"], cert=files["cert.pem"], key=files["key.pem"],
                        verify=not context.skip_tls_verify)
    return Endpoint(context.host or DEFAULT_HOST, tls if context.host.startswith("tcp://") else None)


def default_endpoint(selection: Selection) -> Endpoint:
    host = selection.host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    if host.startswith("tcp://"):
        return Endpoint(host, flag_tls(tls=selection.tls, tlsverify=selection.tlsverify,
                                       ca=selection.tlscacert, cert=selection.tlscert, key=selection.tlskey))
    return Endpoint(host)


def resolve_endpoint(selection: Selection, store: ContextStore | None = None) -> Endpoint:
    """The endpoint the options, environment and context store choose."""
    store = store or ContextStore()
    name = context_name(selection, store)
    if name == DEFAULT:
        return default_endpoint(selection)
    return context_endpoint(store.get(name), store)
