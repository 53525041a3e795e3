#!/usr/bin/env python3
"""Generate ``src/dockyard/api/wire_types.py`` from the Engine API spec.

The daemon cannot read the spec at run time (it lives outside the package), so this derives the
one thing the API layer needs from it: the JSON type of every field of every request body, as a
compact table of Go-like type expressions that ``api/validate.py`` walks.

    scripts/gen_wire_types.py [SPEC] > src/dockyard/api/wire_types.py

``tests/unit/test_wire_validate.py`` regenerates it and fails when the committed file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SPEC = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / \
    "docker-engine-api-v1.50.yaml"

# The Go struct each route decodes into, for Docker's message ("Go struct field HostConfig.…").
# moby decodes the create body into runconfig's wrapper, which embeds Config.
ROUTE_GO_NAMES = {
    "POST /containers/create": "ContainerConfigWrapper",
    "POST /containers/{id}/update": "UpdateConfig",
    "POST /containers/{id}/exec": "ExecOptions",
    "POST /exec/{id}/start": "ExecStartOptions",
    "POST /networks/create": "CreateRequest",
    "POST /networks/{id}/connect": "ConnectOptions",
    "POST /networks/{id}/disconnect": "DisconnectOptions",
    "POST /commit": "Config",
}
DEFINITION_GO_NAMES = {"ContainerConfig": "Config", "EndpointIPAMConfig": "EndpointIPAMConfig"}
# Fields whose Go type has its own UnmarshalJSON: strslice.StrSlice takes a string or a list.
FIELD_OVERRIDES = {("ContainerConfig", "Cmd"): "strslice", ("ContainerConfig", "Entrypoint"): "strslice",
                   ("ContainerConfig", "Shell"): "strslice"}
_INT_FORMATS = {"int64", "int32", "uint64", "uint32", "uint16", "uint8"}


class Generator:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.structs: dict[str, tuple[str, list[str], dict[str, str]]] = {}

    def _ref(self, ref: str) -> tuple[str, dict[str, Any]]:
        name = ref.rsplit("/", 1)[-1]
        return name, self.spec["definitions"][name]

    def _properties(self, schema: dict[str, Any], owner: str) -> dict[str, tuple[str, Any]] | None:
        """A struct's fields with the definition each comes from, allOf parts merged (Go's
        embedding); None if it is no struct."""
        if "$ref" in schema:
            name, target = self._ref(schema["$ref"])
            return self._properties(target, name)
        if "allOf" in schema:
            merged: dict[str, tuple[str, Any]] = {}
            for part in schema["allOf"]:
                merged.update(self._properties(part, owner) or {})
            return merged
        if "properties" in schema:
            return {field: (owner, sub) for field, sub in schema["properties"].items()}
        return None

    def type_of(self, schema: dict[str, Any], name: str, go_name: str) -> str:
        """The type expression of ``schema``; ``name`` keys a struct it defines inline."""
        if "$ref" in schema:
            ref_name, target = self._ref(schema["$ref"])
            go = DEFINITION_GO_NAMES.get(ref_name) or target.get("x-go-name") or ref_name
            return self.type_of(target, ref_name, go)
        kind = schema.get("type")
        if "allOf" in schema and not self._properties(schema, name):
            # allOf around one scalar definition (Mount.Type: MountType, a string enum).
            return self.type_of(schema["allOf"][0], name, go_name)
        if "allOf" in schema or "properties" in schema:
            self.struct(schema, name, go_name)
            return "@" + name
        if kind == "array":
            return "[]" + self.type_of(schema.get("items") or {}, name + "[]", go_name)
        if kind == "object":
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return "map[string]" + self.type_of(extra, name + "{}", go_name)
            return "object"
        if kind == "string":
            return "string"
        if kind == "boolean":
            return "bool"
        if kind == "number":
            return "float64"
        if kind == "integer":
            fmt = schema.get("format")
            return fmt if fmt in _INT_FORMATS else "int"
        return "any"

    def struct(self, schema: dict[str, Any], name: str, go_name: str) -> None:
        """Record a struct: the definitions an allOf embeds (Go's embedded structs, kept once in
        the table) and the fields it declares itself."""
        if name in self.structs:
            return
        embeds: list[str] = []
        fields: dict[str, str] = {}
        self.structs[name] = (go_name, embeds, fields)
        own: dict[str, Any] = {}
        for part in schema.get("allOf", [schema]):
            if "$ref" in part and self._properties(part, name):
                embeds.append(self.type_of(part, name, go_name)[1:])
            else:
                own.update(part.get("properties") or {})
        for field, sub in own.items():
            sub_go = sub.get("x-go-name") or sub.get("title") or field
            fields[field] = FIELD_OVERRIDES.get((name, field)) or \
                self.type_of(sub, f"{name}.{field}", sub_go)

    def routes(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for path, operations in self.spec["paths"].items():
            for method, operation in operations.items():
                if not isinstance(operation, dict):
                    continue
                for param in operation.get("parameters", []):
                    schema = param.get("schema") or {}
                    if param.get("in") != "body" or schema.get("type") == "string":
                        continue
                    key = f"{method.upper()} {path}"
                    go = ROUTE_GO_NAMES.get(key) or schema.get("title") or _go_of(self, schema)
                    result[key] = self.type_of(schema, key, go)
        return result


def _go_of(gen: Generator, schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name, target = gen._ref(schema["$ref"])
        return str(DEFINITION_GO_NAMES.get(name) or target.get("x-go-name") or name)
    if "allOf" in schema:
        for part in schema["allOf"]:
            if "$ref" in part:
                return _go_of(gen, part)
    return "body"


def render(spec: dict[str, Any]) -> str:
    gen = Generator(spec)
    routes = gen.routes()
    lines = [
        '"""Generated by scripts/gen_wire_types.py from docker-engine-api-v1.50.yaml: do not edit.',
        "",
        "ROUTES: each request body's type. STRUCTS: name -> (Go struct name, embedded structs,",
        "field -> type).",
        "Types: string, bool, int, int64, uint64, …, float64, object (any JSON object), any,",
        "[]T, map[string]T, @Struct.",
        '"""',
        "",
        "ROUTES: dict[str, str] = {",
        *(f"    {key!r}: {value!r}," for key, value in sorted(routes.items())),
        "}",
        "",
        "STRUCTS: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {",
    ]
    for name in sorted(gen.structs):
        go_name, embeds, fields = gen.structs[name]
        lines.append(f"    {name!r}: ({go_name!r}, {tuple(embeds)!r}, {{")
        lines.extend(f"        {field!r}: {kind!r}," for field, kind in fields.items())
        lines.append("    }),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    spec_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC
    sys.stdout.write(render(yaml.safe_load(spec_path.read_text())))


if __name__ == "__main__":
    main()
