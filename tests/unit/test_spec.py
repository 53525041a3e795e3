"""build_spec: Docker's defaults, valid against the OCI runtime-spec schema."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from dockyard.core.runtime.capabilities import DEFAULT_CAPABILITIES
from dockyard.core.runtime.model import BindMount, ProcessUser, SpecInput
from dockyard.core.runtime.spec import MASKED_PATHS, READONLY_PATHS, build_spec
from dockyard.errors import InvalidArgument

# ../shared beside the clone, where CI puts it too.
SCHEMA_DIR = Path(__file__).resolve().parents[3] / "shared/reference/oci-runtime-spec-schema"
BASE = "https://schemas.invalid/oci-runtime/"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    if not SCHEMA_DIR.is_dir():
        pytest.skip(f"{SCHEMA_DIR} not present")
    registry: Registry[Any] = Registry()
    for path in SCHEMA_DIR.glob("*.json"):
        contents = json.loads(path.read_text())
        registry = registry.with_resource(BASE + path.name, Resource.from_contents(contents, DRAFT4))
    root = json.loads((SCHEMA_DIR / "config-schema.json").read_text())
    root["id"] = BASE + "config-schema.json"  # relative $refs resolve against this
    validator_cls = jsonschema.validators.validator_for(root)
    return validator_cls(root, registry=registry)


def _input(**changes: Any) -> SpecInput:
    values: dict[str, Any] = {
        "container_id": "c" * 64, "rootfs": Path("/var/lib/dockyard/containers/x/rootfs"),
        "args": ("sh", "-c", "echo hi"), "env": ("PATH=/usr/bin:/bin", "HOME=/root"), "cwd": "/",
        "user": ProcessUser(0, 0), "terminal": False, "hostname": "cccccccccccc",
        "cgroups_path": "/dockyard/" + "c" * 64,
    }
    values.update(changes)
    return SpecInput(**values)


CASES = {
    "default": _input(),
    "tty": _input(terminal=True),
    "host-network": _input(network="host"),
    "joined-netns": _input(network="ns:/run/netns/x"),
    "readonly": _input(readonly_rootfs=True),
    "user": _input(user=ProcessUser(1000, 1000, (10, 20)), cwd="/home/u"),
    "caps": _input(cap_add=("NET_ADMIN", "sys_ptrace"), cap_drop=("CAP_CHOWN",)),
    "privileged": _input(privileged=True),
    "mounts": _input(mounts=(BindMount("/etc/hosts", "/tmp/hosts"),
                             BindMount("/dev/shm", "shm", "tmpfs", ("size=1m",)))),
    "rlimits": _input(rlimits={"RLIMIT_NOFILE": (1024, 2048)}, annotations={"a": "b"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_spec_validates_against_schema(validator: jsonschema.protocols.Validator, name: str) -> None:
    spec = build_spec(CASES[name], cgroup_v2=False)
    errors = sorted(validator.iter_errors(spec), key=str)
    assert not errors, [e.message for e in errors]
    # The schema itself must be strict enough to catch a broken document.
    assert list(validator.iter_errors({**spec, "ociVersion": 7}))


def test_defaults_are_dockers() -> None:
    spec = build_spec(_input(), cgroup_v2=False)
    caps = spec["process"]["capabilities"]
    assert caps["bounding"] == list(DEFAULT_CAPABILITIES) == caps["effective"] == caps["permitted"]
    assert "inheritable" not in caps and "ambient" not in caps
    assert spec["ociVersion"] == "1.0.2"
    assert spec["process"]["noNewPrivileges"] is False
    assert "rlimits" not in spec["process"]
    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]
    linux = spec["linux"]
    assert [n["type"] for n in linux["namespaces"]] == ["pid", "ipc", "mount", "uts", "network"]
    assert linux["maskedPaths"] == list(MASKED_PATHS)
    assert linux["readonlyPaths"] == list(READONLY_PATHS)
    assert linux["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    assert linux["cgroupsPath"] == "/dockyard/" + "c" * 64
    assert spec["hostname"] == "cccccccccccc"


def test_cgroup_namespace_only_on_unified_hosts() -> None:
    v2 = build_spec(_input(), cgroup_v2=True)["linux"]["namespaces"]
    assert {"type": "cgroup"} in v2
    assert {"type": "cgroup"} not in build_spec(_input(), cgroup_v2=False)["linux"]["namespaces"]


def test_host_network_shares_netns_and_hostname() -> None:
    spec = build_spec(_input(network="host"), cgroup_v2=False)
    types = [n["type"] for n in spec["linux"]["namespaces"]]
    assert "network" not in types and "uts" not in types
    assert "hostname" not in spec


def test_joined_network_namespace() -> None:
    spec = build_spec(_input(network="ns:/run/netns/x"), cgroup_v2=False)
    assert {"type": "network", "path": "/run/netns/x"} in spec["linux"]["namespaces"]


def test_cap_add_drop_and_all() -> None:
    caps = build_spec(CASES["caps"], cgroup_v2=False)["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in caps and "CAP_SYS_PTRACE" in caps and "CAP_CHOWN" not in caps
    only = build_spec(_input(cap_drop=("ALL",), cap_add=("KILL",)), cgroup_v2=False)
    assert only["process"]["capabilities"]["bounding"] == ["CAP_KILL"]
    with pytest.raises(InvalidArgument, match="unknown capability"):
        build_spec(_input(cap_add=("NOPE",)), cgroup_v2=False)


def test_privileged_gets_all_caps_and_devices_and_no_masks() -> None:
    spec = build_spec(CASES["privileged"], cgroup_v2=False)
    assert "CAP_SYS_ADMIN" in spec["process"]["capabilities"]["bounding"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "maskedPaths" not in spec["linux"]
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "rw" in sys_mount["options"]


def test_input_mount_replaces_default_at_same_destination() -> None:
    spec = build_spec(CASES["mounts"], cgroup_v2=False)
    shm = [m for m in spec["mounts"] if m["destination"] == "/dev/shm"]
    assert shm == [{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["size=1m"]}]
    assert spec["mounts"][-1]["destination"] == "/dev/shm"


def test_rlimit_never_above_daemon_hard_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard nofile limit here")
    spec = build_spec(_input(rlimits={"RLIMIT_NOFILE": (hard * 4, hard * 4)}), cgroup_v2=False)
    assert spec["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard}]


def test_user_and_readonly_and_terminal() -> None:
    spec = build_spec(CASES["user"], cgroup_v2=False)
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
    assert build_spec(CASES["readonly"], cgroup_v2=False)["root"]["readonly"] is True
    assert build_spec(CASES["tty"], cgroup_v2=False)["process"]["terminal"] is True


def test_empty_command_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        build_spec(_input(args=()), cgroup_v2=False)
