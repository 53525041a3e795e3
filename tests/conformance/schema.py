"""Validate API responses against the Docker Engine API v1.50 (Swagger 2.0) response schemas.

Swagger 2.0 schemas are JSON Schema draft 4 plus extensions. Docker's daemon is written in Go, where
a nil slice, map or pointer marshals to ``null``: the spec does not say so on every field, and real
Docker returns such nulls, so arrays, objects, integers, booleans, numbers and ``x-nullable`` fields
accept null. Strings never do (a Go string is never null), and required fields stay required.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import docker
import jsonschema
import yaml

# The spec lives in ../shared beside the clone (where CI puts it too).
SPEC_PATH = Path(__file__).resolve().parents[3] / "shared/reference/docker-engine-api-v1.50.yaml"

_NULLABLE_TYPES = {"array", "object", "integer", "boolean", "number"}


@functools.cache
def _spec() -> dict[str, Any]:
    with open(SPEC_PATH) as f:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        spec: dict[str, Any] = yaml.load(f, Loader=loader)
    return spec


def _go_nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_go_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _go_nullable(v) if k not in ("example", "x-go-name") else v for k, v in node.items()}
    kind = out.get("type")
    if isinstance(kind, str) and (kind in _NULLABLE_TYPES or out.get("x-nullable")):
        out["type"] = [kind, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


@functools.cache
def _validator(path: str, method: str, status: int) -> jsonschema.Draft4Validator:
    spec = _spec()
    response = spec["paths"][path][method]["responses"][status]
    schema = copy.deepcopy(response["schema"])
    root = {"definitions": _go_nullable(spec["definitions"]), **_go_nullable(schema)}
    return jsonschema.Draft4Validator(root)


def validate(path: str, method: str, body: Any, status: int = 200) -> None:
    """Raise AssertionError listing every schema violation of ``body``."""
    found = _validator(path, method, status).iter_errors(body)
    errors = sorted(found, key=lambda e: [str(p) for p in e.path])
    if errors:
        lines = [f"  {'/'.join(str(p) for p in e.path) or '<root>'}: {e.message[:300]}" for e in errors[:20]]
        raise AssertionError(f"{method.upper()} {path} response violates the v1.50 schema "
                             f"({len(errors)} errors):\n" + "\n".join(lines))


class ValidatingAPIClient(docker.APIClient):  # type: ignore[misc]
    """docker-py's low-level client, checking each JSON response it returns against the spec."""

    def containers(self, *args: Any, **kwargs: Any) -> Any:
        result = super().containers(*args, **kwargs)
        if not kwargs.get("quiet"):
            validate("/containers/json", "get", result)
        return result

    def inspect_container(self, *args: Any, **kwargs: Any) -> Any:
        result = super().inspect_container(*args, **kwargs)
        validate("/containers/{id}/json", "get", result)
        return result

    def images(self, *args: Any, **kwargs: Any) -> Any:
        result = super().images(*args, **kwargs)
        if not kwargs.get("quiet"):
            validate("/images/json", "get", result)
        return result

    def inspect_image(self, *args: Any, **kwargs: Any) -> Any:
        result = super().inspect_image(*args, **kwargs)
        validate("/images/{name}/json", "get", result)
        return result

    def version(self, *args: Any, **kwargs: Any) -> Any:
        result = super().version(*args, **kwargs)
        validate("/version", "get", result)
        return result

    def info(self, *args: Any, **kwargs: Any) -> Any:
        result = super().info(*args, **kwargs)
        validate("/info", "get", result)
        return result

    def exec_inspect(self, *args: Any, **kwargs: Any) -> Any:
        result = super().exec_inspect(*args, **kwargs)
        validate("/exec/{id}/json", "get", result)
        return result
