"""The request-body validator (api/validate.py) and its generated type table (api/wire_types.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.api import validate
from dockyard.errors import InvalidArgument

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "reference" / "docker-engine-api-v1.50.yaml"
CREATE = validate.route_type("POST", "/v{api_version}/containers/create")


def _check(route: str, body: Any) -> Any:
    method, path = route.split(" ", 1)
    kind = validate.route_type(method, path)
    assert kind is not None, route
    return validate.check(kind, validate.parse(json.dumps(body).encode()))


def _refused(route: str, body: Any) -> str:
    with pytest.raises(InvalidArgument) as info:
        _check(route, body)
    return str(info.value)


@pytest.mark.skipif(not SPEC.exists(), reason="the spec is in ../shared/reference")
def test_generated_table_is_up_to_date() -> None:
    loader = importlib.util.spec_from_file_location("gen_wire_types", ROOT / "scripts" / "gen_wire_types.py")
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    import yaml

    expected = module.render(yaml.safe_load(SPEC.read_text()))
    committed = (ROOT / "src" / "dockyard" / "api" / "wire_types.py").read_text()
    assert committed == expected, "run scripts/gen_wire_types.py > src/dockyard/api/wire_types.py"


def test_route_templates_with_and_without_version_and_any_param_name() -> None:
    assert CREATE is not None
    assert validate.route_type("POST", "/containers/create") == CREATE
    assert validate.route_type("post", "/v{api_version:[0-9.]+}/networks/{net}/connect") is not None
    assert validate.route_type("GET", "/containers/json") is None


@pytest.mark.parametrize(("route", "body", "message"), [
    ("POST /containers/create", {"Image": "b", "StopTimeout": {}},
     "json: cannot unmarshal object into Go struct field ContainerConfigWrapper.StopTimeout of type int"),
    ("POST /containers/create", {"Image": "b", "Labels": [None]},
     "json: cannot unmarshal array into Go struct field ContainerConfigWrapper.Labels of type "
     "map[string]string"),
    ("POST /containers/create", {"Image": "b", "HostConfig": {"Memory": {}}},
     "json: cannot unmarshal object into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ("POST /containers/create", {"Image": "b", "HostConfig": {"Memory": 2**63}},
     f"json: cannot unmarshal number {2**63} into Go struct field HostConfig.HostConfig.Memory of type "
     "int64"),
    ("POST /containers/create", {"Image": "b", "HostConfig": {"CpuShares": 1.5}},
     "json: cannot unmarshal number 1.5 into Go struct field HostConfig.HostConfig.CpuShares of type int"),
    ("POST /containers/create", {"Image": "b", "HostConfig": {"Privileged": "yes"}},
     "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Privileged of type bool"),
    ("POST /containers/create", {"Image": "b", "HostConfig": {"RestartPolicy": {"Name": 1}}},
     "json: cannot unmarshal number 1 into Go struct field RestartPolicy.HostConfig.RestartPolicy.Name "
     "of type string"),
    ("POST /containers/create", {"Image": "b", "Cmd": [1]},
     "json: cannot unmarshal array into Go struct field ContainerConfigWrapper.Cmd of type "
     "strslice.StrSlice"),
    ("POST /containers/{id}/exec", {"Cmd": "ls"},
     "json: cannot unmarshal string into Go struct field ExecOptions.Cmd of type []string"),
    ("POST /exec/{id}/start", {"ConsoleSize": "80x24"},
     "json: cannot unmarshal string into Go struct field ExecStartOptions.ConsoleSize of type []int"),
    ("POST /networks/create", {"Name": "n", "Labels": {"a": 1}},
     "json: cannot unmarshal number 1 into Go struct field CreateRequest.Labels of type string"),
    ("POST /networks/{id}/connect", {"Container": "c", "EndpointConfig": {"Aliases": "a"}},
     "json: cannot unmarshal string into Go struct field EndpointSettings.EndpointConfig.Aliases of "
     "type []string"),
    ("POST /volumes/create", {"Name": "v", "DriverOpts": []},
     "json: cannot unmarshal array into Go struct field CreateOptions.DriverOpts of type "
     "map[string]string"),
    ("POST /volumes/create", [],
     "json: cannot unmarshal array into Go value of type CreateOptions"),
])
def test_wrong_json_types_are_refused_in_gos_words(route: str, body: Any, message: str) -> None:
    assert _refused(route, body) == message


def test_go_semantics_null_anywhere_unknown_fields_kept_nulls_in_lists_zeroed() -> None:
    body = _check("POST /containers/create", {
        "Image": "b", "StopTimeout": None, "Cmd": "sh -c true", "Future": {"x": [1]},
        "Env": [None, "A=1"], "Labels": {"k": None},
        "HostConfig": {"ConsoleSize": [None, None], "Memory": None, "Mounts": [None]}})
    assert body["StopTimeout"] is None and body["Cmd"] == "sh -c true"
    assert body["Future"] == {"x": [1]}
    assert body["Env"] == ["", "A=1"] and body["Labels"] == {"k": ""}
    assert body["HostConfig"]["ConsoleSize"] == [0, 0]
    assert body["HostConfig"]["Mounts"] == [{}]
    assert _check("POST /containers/create", {"Image": "b", "HostConfig": {"Memory": 2**63 - 1}})


@pytest.mark.parametrize("raw", [b'{"Memory": NaN}', b'{"Memory": Infinity}', b'{"a": -Infinity}'])
def test_nan_and_infinity_are_not_json(raw: bytes) -> None:
    with pytest.raises(InvalidArgument, match="invalid character"):
        validate.parse(raw)


@pytest.mark.parametrize("depth", [validate.MAX_DEPTH + 1, 5000, 100_000])
def test_deep_nesting_is_refused_without_recursion(depth: int) -> None:
    with pytest.raises(InvalidArgument, match="exceeded max depth"):
        validate.parse(b"[" * depth + b"]" * depth)
    with pytest.raises(InvalidArgument, match="exceeded max depth"):
        validate.parse(b'{"a":' * depth + b"1" + b"}" * depth)


def test_nesting_within_the_limit_and_malformed_json() -> None:
    depth = validate.MAX_DEPTH
    assert validate.parse(b"[" * depth + b"]" * depth) is not None
    with pytest.raises(InvalidArgument, match="invalid JSON"):
        validate.parse(b'{"Name": "\xff"}')
    with pytest.raises(InvalidArgument, match="invalid JSON"):
        validate.parse(b'{"Name": ')


@pytest.mark.skipif(not SPEC.exists(), reason="the spec is in ../shared/reference")
def test_the_specs_own_request_examples_pass() -> None:
    import yaml

    spec = yaml.safe_load(SPEC.read_text())
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = param.get("schema") or {}
                if param.get("in") != "body":
                    continue
                examples = [part["example"] for part in [schema, *schema.get("allOf", [])]
                            if "example" in part]
                kind = validate.route_type(method, path)
                for example in examples:
                    assert kind is not None
                    validate.check(kind, validate.parse(json.dumps(example).encode()))
                    checked += 1
    assert checked >= 10
