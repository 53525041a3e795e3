"""Loading a project: which files, the environment they are interpolated with, ``include`` and
``extends``, the merge, the schema check, profiles and the dependency graph.

Errors are :class:`ComposeError` with the file, the line and the key, as Compose v2 names them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from dockyard.compose import references
from dockyard.compose.interpolation import InterpolationError, interpolate_tree
from dockyard.compose.merge import merge, normalise_service, strip
from dockyard.compose.yamlfile import ComposeError, SourceFile, parse_text, read_file

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yml",
                  "docker-compose.override.yaml")
_NAME_INVALID = re.compile(r"[^a-z0-9_-]")


@dataclass(slots=True)
class Project:
    """A loaded project. ``services`` holds the active ones (profiles applied), each a mapping in
    the spec's long forms (see merge.normalise_service)."""

    name: str
    working_dir: Path
    config_files: list[Path]
    services: dict[str, dict[str, Any]]
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    disabled: dict[str, dict[str, Any]] = field(default_factory=dict)

    def model(self) -> dict[str, Any]:
        """The normalised file ``config`` prints."""
        data: dict[str, Any] = {"name": self.name, "services": self.services}
        for key in ("networks", "volumes", "secrets", "configs"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("dockyard.compose").joinpath("schema/compose-spec.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def parse_env_file(path: Path) -> dict[str, str]:
    """A ``.env``/``env_file``: ``KEY=VALUE`` lines, ``#`` comments, optional quotes, ``export``."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ComposeError(f"env file {path} not found: {exc.strerror or exc}") from exc
    env: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        value = value.strip()
        if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if sep:
            env[key.strip()] = value
    return env


def validate(source: SourceFile, data: dict[str, Any]) -> None:
    """The file against the Compose Specification's schema; the first error names file, line, key."""
    validator = jsonschema.Draft7Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), str(e.path)))
    if not errors:
        return
    error = errors[0]
    keys = [str(k) for k in error.absolute_path]
    message = error.message
    if error.validator == "additionalProperties":
        extra = [k for k in (error.instance or {}) if k not in (error.schema.get("properties") or {})
                 and not any(re.match(p, k) for p in error.schema.get("patternProperties") or {})]
        if extra:
            keys.append(extra[0])
            message = f"additional properties '{extra[0]}' not allowed"
    key = ".".join(keys) or "(root)"
    raise ComposeError(f"validating {source.where(keys)}: {key} {message}", 15)


def _interpolated(source: SourceFile, env: Mapping[str, str]) -> dict[str, Any]:
    def error(exc: InterpolationError, keys: list[str]) -> Exception:
        return ComposeError(f"{source.where(keys)}: {'.'.join(keys)}: {exc}")

    data: dict[str, Any] = interpolate_tree(source.data, env, error)
    return data


def _resolve_extends(name: str, services: dict[str, Any], source: SourceFile, env: Mapping[str, str],
                     seen: tuple[str, ...] = ()) -> dict[str, Any]:
    service = dict(services[name])
    ext = service.pop("extends", None)
    if ext is None:
        return normalise_service(service)
    ext = {"service": ext} if isinstance(ext, str) else ext
    base_name = str(ext["service"])
    if base_name in seen:
        raise ComposeError(f"{source.where(['services', name, 'extends'])}: services.{name}.extends: "
                           f"circular reference with {base_name}")
    if ext.get("file"):
        other = read_file((source.path.parent / str(ext["file"])).resolve())
        other_services = _interpolated(other, env).get("services") or {}
        if base_name not in other_services:
            raise ComposeError(f"{other.path}: cannot extend service {name!r}: service {base_name!r} "
                               "not found")
        base = _resolve_extends(base_name, other_services, other, env, (*seen, name))
    else:
        if base_name not in services:
            raise ComposeError(f"{source.where(['services', name, 'extends'])}: cannot extend service "
                               f"{name!r}: service {base_name!r} not found")
        base = _resolve_extends(base_name, services, source, env, (*seen, name))
    base.pop("depends_on", None)  # the spec: depends_on is never inherited
    merged: dict[str, Any] = merge(base, normalise_service(service), "services." + name)
    return merged


def _file_model(source: SourceFile, env: Mapping[str, str]) -> dict[str, Any]:
    data = _interpolated(source, env)
    validate(source, strip(data))
    services = data.get("services") or {}
    data["services"] = {name: _resolve_extends(name, services, source, env) for name in services}
    for include in data.pop("include", None) or []:
        spec = {"path": include} if isinstance(include, str) else include
        paths = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
        for rel in paths:
            included = _file_model(read_file((source.path.parent / str(rel)).resolve()), env)
            for section in ("services", "networks", "volumes", "secrets", "configs"):
                for key, value in (included.get(section) or {}).items():
                    if key in (data.get(section) or {}):
                        raise ComposeError(f"{source.where(['include'])}: imported compose file {rel} "
                                           f"defines conflicting {section[:-1]} {key}")
                    data.setdefault(section, {})[key] = value
    return data


def find_files(working_dir: Path) -> list[Path]:
    """compose.yaml (or its older names) in the directory or a parent, plus its override file."""
    for directory in (working_dir, *working_dir.parents):
        for name in DEFAULT_FILES:
            if (directory / name).is_file():
                found = [directory / name]
                found += [directory / o for o in OVERRIDE_FILES if (directory / o).is_file()][:1]
                return found
    raise ComposeError("no configuration file provided: not found")


def project_name(raw: str) -> str:
    """Compose's normalisation: lower case, only ``[a-z0-9_-]``, starting with a letter or digit."""
    name = _NAME_INVALID.sub("", raw.lower()).lstrip("_-")
    if not name:
        raise ComposeError(f"invalid project name {raw!r}: must consist only of lowercase alphanumeric "
                           "characters, hyphens, and underscores as well as start with a letter or number")
    return name


def check_dependencies(services: Mapping[str, dict[str, Any]], source: str) -> None:
    for name, service in services.items():
        for dep, cfg in (service.get("depends_on") or {}).items():
            if dep not in services and (cfg or {}).get("required", True):
                raise ComposeError(f"{source}: services.{name}.depends_on: service {name!r} depends on "
                                   f"undefined service {dep!r}: invalid compose project")
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = trail[trail.index(name):] + [name]
            raise ComposeError(f"{source}: services.{name}.depends_on: dependency cycle detected: "
                               + " -> ".join(cycle))
        state[name] = 1
        for dep in services[name].get("depends_on") or {}:
            if dep in services:
                visit(dep, [*trail, name])
        state[name] = 2

    for name in services:
        visit(name, [])


def check_references(services: Mapping[str, dict[str, Any]], model: Mapping[str, Any], source: str) -> None:
    """Named volumes, networks, secrets and configs a service uses must be declared (before
    anything is created, as Compose refuses the project)."""
    for name, service in services.items():
        uses: list[tuple[str, str]] = [("networks", n) for n in service.get("networks") or {}
                                       if n != "default"]
        for item in service.get("volumes") or []:
            source_ = item.get("source", "") if isinstance(item, dict) else (
                str(item).split(":")[0] if ":" in str(item) else "")
            kind = item.get("type", "volume") if isinstance(item, dict) else "volume"
            if kind == "volume" and source_ and not source_.startswith((".", "/", "~")):
                uses.append(("volumes", str(source_)))
        for kind in ("secrets", "configs"):
            uses += [(kind, str(i["source"] if isinstance(i, dict) else i)) for i in service.get(kind) or []]
        for kind, ref in uses:
            if ref not in (model.get(kind) or {}):
                raise ComposeError(f"{source}: services.{name}.{kind}: service {name!r} refers to "
                                   f"undefined {kind[:-1]} {ref}: invalid compose project")


def _environment(working_dir: Path, env_files: Sequence[Path], environ: Mapping[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for path in env_files or [working_dir / ".env"]:
        if path.is_file() or env_files:
            env.update(parse_env_file(path))
    env.update(environ)
    return env


def load_project(files: Sequence[Path] = (), *, text: str | None = None, working_dir: Path | None = None,
                 name: str | None = None, env_files: Sequence[Path] = (), profiles: Sequence[str] = (),
                 environ: Mapping[str, str] | None = None, services: Sequence[str] = ()) -> Project:
    """Load a project from files (or from ``text``, a pasted file) with Compose's rules."""
    environ = dict(os.environ if environ is None else environ)
    if text is None and not files and environ.get("COMPOSE_FILE"):
        files = [Path(f) for f in environ["COMPOSE_FILE"].split(os.pathsep)]
    cwd = (working_dir or Path.cwd()).resolve()
    paths = [Path(cwd / f).resolve() for f in files] if files or text is not None else find_files(cwd)
    working_dir = working_dir.resolve() if working_dir else (paths[0].parent if paths else cwd)
    env = _environment(working_dir, env_files, environ)
    sources = [parse_text(text, working_dir / "compose.yaml")] if text is not None else [
        read_file(p) for p in paths]
    merged: dict[str, Any] = {}
    for source in sources:
        merged = merge(merged, _file_model(source, env))
    merged = strip(merged)
    raw_name = name or environ.get("COMPOSE_PROJECT_NAME") or merged.get("name") or working_dir.name
    active = set(profiles) or {p for p in environ.get("COMPOSE_PROFILES", "").split(",") if p}
    all_services: dict[str, dict[str, Any]] = merged.get("services") or {}
    if not all_services:
        raise ComposeError("no service selected" if sources else "empty compose file")
    enabled = {n: s for n, s in all_services.items()
               if not s.get("profiles") or active & set(s["profiles"]) or n in services}
    references.check(all_services, str(sources[0].path))
    references.add_implicit_dependencies(all_services)
    check_dependencies(all_services, str(sources[0].path))
    check_references(enabled, merged, str(sources[0].path))
    return Project(
        name=project_name(str(raw_name)), working_dir=working_dir,
        config_files=[s.path for s in sources], services=enabled,
        networks=_with_default_network(merged.get("networks") or {}, enabled),
        volumes={k: v or {} for k, v in (merged.get("volumes") or {}).items()},
        secrets=merged.get("secrets") or {}, configs=merged.get("configs") or {}, environment=env,
        disabled={n: s for n, s in all_services.items() if n not in enabled})


def _with_default_network(networks: dict[str, Any], services: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    out = {k: v or {} for k, v in networks.items()}
    uses_default = any(not s.get("networks") and not s.get("network_mode") for s in services.values()) or any(
        "default" in (s.get("networks") or {}) for s in services.values())
    if uses_default:
        out.setdefault("default", {})
    return out
