"""docker's CSV syntax of --mount and --gpus, and --device-cgroup-rule's grammar."""

from __future__ import annotations

import pytest

from dockyard.cli.client import CliError
from dockyard.cli.mount_opts import parse_mount
from dockyard.cli.security_opts import parse_gpus
from dockyard.core.runtime.devices import parse_cgroup_rule
from dockyard.errors import InvalidArgument


def test_mount_fields() -> None:
    assert parse_mount("type=bind,src=/a,dst=/b,readonly,bind-propagation=rslave") == {
        "Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True,
        "BindOptions": {"Propagation": "rslave"}}
    assert parse_mount("source=v,target=/v,volume-nocopy,volume-label=a=b") == {
        "Type": "volume", "Source": "v", "Target": "/v",
        "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"}}}
    assert parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770")["TmpfsOptions"] == {
        "SizeBytes": 1 << 20, "Mode": 0o1770}
    with pytest.raises(CliError, match="unexpected key 'color'"):
        parse_mount("target=/x,color=red")


def test_gpus() -> None:
    assert parse_gpus("all")["Count"] == -1
    assert parse_gpus('"device=0,1",capabilities=compute')["DeviceIDs"] == ["0", "1"]
    assert parse_gpus("2")["Capabilities"] == [["gpu"]]


def test_cgroup_rules() -> None:
    assert parse_cgroup_rule("a *:* rwm") == {"allow": True, "type": "a", "access": "rwm"}
    assert parse_cgroup_rule("b 8:* r") == {"allow": True, "type": "b", "major": 8, "access": "r"}
    for bad in ("c 1:3", "c 1 r", "z 1:3 r", "c 1:3 rx"):
        with pytest.raises(InvalidArgument):
            parse_cgroup_rule(bad)
