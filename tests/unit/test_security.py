"""Seccomp rendering, security options in the spec, and userns ranges; specs checked against the
OCI runtime-spec schema."""

from __future__ import annotations

import gzip
import platform
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_spec import _input, validator  # noqa: F401  (the schema fixture)

from dockyard.core.runtime import seccomp
from dockyard.core.runtime.security import (
    Device,
    SecuritySpec,
    check_sysctls,
    info_options,
    parse_security_opts,
    validate,
)
from dockyard.core.runtime.spec import build_spec
from dockyard.core.runtime.userns import IdRange, UsernsRemap, load_remap, read_ranges
from dockyard.errors import InvalidArgument

DEFAULT_CAPS = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"]


def _rules(rendered: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in rendered["syscalls"] if name in r["names"]]


def test_default_profile_denies_namespaces_without_sys_admin() -> None:
    rendered = seccomp.render(seccomp.default_profile(), capabilities=DEFAULT_CAPS,
                              machine="x86_64", kernel=(6, 1))
    assert rendered["defaultAction"] == "SCMP_ACT_ERRNO" and rendered["defaultErrnoRet"] == 1
    assert rendered["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    for name in ("unshare", "mount", "setns", "umount2", "bpf", "init_module", "reboot", "keyctl"):
        assert not _rules(rendered, name), name
    (clone,) = _rules(rendered, "clone")
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
    (clone3,) = _rules(rendered, "clone3")
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38
    (socket,) = _rules(rendered, "socket")
    assert socket["args"][0]["op"] == "SCMP_CMP_NE" and socket["args"][0]["value"] == 40
    assert _rules(rendered, "arch_prctl") and _rules(rendered, "ptrace")
    assert {r["args"][0]["value"] for r in _rules(rendered, "personality")} == \
        {0, 8, 0x20000, 0x20008, 0xFFFFFFFF}


def test_capabilities_bring_their_syscalls_back() -> None:
    rendered = seccomp.render(seccomp.default_profile(),
                              capabilities=[*DEFAULT_CAPS, "CAP_SYS_ADMIN", "CAP_SYS_TIME"],
                              machine="x86_64", kernel=(6, 1))
    for name in ("unshare", "mount", "setns", "clone3", "settimeofday"):
        assert any(r["action"] == "SCMP_ACT_ALLOW" and "args" not in r for r in _rules(rendered, name))
    assert not any(r["action"] == "SCMP_ACT_ERRNO" for r in _rules(rendered, "clone3"))


def test_arch_and_kernel_conditions() -> None:
    arm = seccomp.render(seccomp.default_profile(), capabilities=DEFAULT_CAPS, machine="aarch64",
                         kernel=(4, 4))
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert not _rules(arm, "arch_prctl") and _rules(arm, "cacheflush")
    assert not _rules(arm, "ptrace")  # before 4.8, ptrace could bypass seccomp


def test_user_profile_and_errors() -> None:
    profile = seccomp.parse_profile('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": '
                                    '["SCMP_ARCH_X86_64"], "syscalls": [{"name": "mkdir", '
                                    '"action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}')
    rendered = seccomp.render(profile, capabilities=[], machine="x86_64", kernel=(6, 1))
    assert rendered["syscalls"] == [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    with pytest.raises(InvalidArgument, match="Decoding seccomp profile failed"):
        seccomp.parse_profile("{nope")
    with pytest.raises(InvalidArgument, match="use either 'architectures' or 'archMap'"):
        seccomp.parse_profile('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x"], '
                              '"archMap": [{}]}')


SECURITY_CASES = {
    "default": SecuritySpec(),
    "nnp-devices-sysctl": SecuritySpec(
        no_new_privileges=True, sysctls={"kernel.shmmax": "1"}, group_add=(10,),
        devices=(Device("/dev/fuse", "c", 10, 229, 0o600, 0, 0),)),
    "host-namespaces": SecuritySpec(pid="host", ipc="host", uts="host", cgroupns="private"),
    "joined": SecuritySpec(pid="ns:/proc/1/ns/pid", ipc="ns:/proc/1/ns/ipc"),
    "userns": SecuritySpec(userns=UsernsRemap("dockremap", (IdRange(100000, 65536),),
                                              (IdRange(100000, 65536),))),
    "unconfined": SecuritySpec(seccomp="unconfined"),
}


@pytest.mark.parametrize("case", sorted(SECURITY_CASES))
def test_security_spec_validates(validator: jsonschema.protocols.Validator, case: str) -> None:  # noqa: F811
    spec = build_spec(replace(_input(network="ns:/run/netns/x"), security=SECURITY_CASES[case]),
                      cgroup_v2=False)
    validator.validate(spec)


def test_security_spec_contents() -> None:
    spec = build_spec(replace(_input(), security=SECURITY_CASES["nnp-devices-sysctl"]), cgroup_v2=False)
    assert spec["process"]["noNewPrivileges"] is True
    assert "seccomp" in spec["linux"] and spec["linux"]["sysctl"]["kernel.shmmax"] == "1"
    assert spec["linux"]["devices"][0]["path"] == "/dev/fuse"
    assert spec["linux"]["resources"]["devices"][-1] == {"allow": True, "type": "c", "major": 10,
                                                         "minor": 229, "access": "rwm"}
    assert spec["process"]["user"]["additionalGids"] == [10]
    host = build_spec(replace(_input(), security=SECURITY_CASES["host-namespaces"]), cgroup_v2=False)
    kinds = {n["type"] for n in host["linux"]["namespaces"]}
    assert "pid" not in kinds and "ipc" not in kinds and "uts" not in kinds and "cgroup" in kinds
    assert "hostname" not in host
    unconfined = build_spec(replace(_input(), security=SECURITY_CASES["unconfined"]))
    assert "seccomp" not in unconfined["linux"]
    privileged = build_spec(replace(_input(privileged=True), security=SecuritySpec()))
    assert "seccomp" not in privileged["linux"]


def test_userns_spec_in_daemon_netns() -> None:
    spec = build_spec(replace(_input(network="ns:/run/netns/x"), security=SECURITY_CASES["userns"]),
                      cgroup_v2=False)
    linux = spec["linux"]
    assert {"type": "user"} in linux["namespaces"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": 100000, "size": 65536}]
    assert not any(k.startswith("net.") for k in linux.get("sysctl", {}))
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert sys_mount["type"] == "bind"


def test_security_opt_parsing_and_validation() -> None:
    assert parse_security_opts(["no-new-privileges"]).no_new_privileges is True
    assert parse_security_opts(["no-new-privileges:false"]).no_new_privileges is False
    assert parse_security_opts(["seccomp=unconfined"]).seccomp == "unconfined"
    with pytest.raises(InvalidArgument, match='invalid --security-opt 1: "bogus"'):
        parse_security_opts(["bogus"])
    with pytest.raises(InvalidArgument, match="invalid --security-opt 2"):
        parse_security_opts(["no-new-privileges=maybe"])
    with pytest.raises(InvalidArgument, match="not in a separate kernel namespace"):
        check_sysctls({"kernel.panic": "1"}, network_mode="bridge", ipc_mode="")
    with pytest.raises(InvalidArgument, match="host IPC namespace"):
        check_sysctls({"kernel.shmmax": "1"}, network_mode="bridge", ipc_mode="host")
    with pytest.raises(InvalidArgument, match="invalid IPC mode"):
        validate({"IpcMode": "weird"}, remap=None)
    remap = UsernsRemap("u", (IdRange(1, 2),), (IdRange(1, 2),))
    with pytest.raises(InvalidArgument, match="incompatible with user namespaces"):
        validate({"Privileged": True}, remap=remap)
    validate({"Privileged": True, "UsernsMode": "host"}, remap=remap)


def test_info_options() -> None:
    assert info_options(cgroup_version="1", no_new_privileges=False, remap_active=False) == \
        ["name=seccomp,profile=builtin"]
    assert info_options(cgroup_version="2", no_new_privileges=True, remap_active=True) == \
        ["name=seccomp,profile=builtin", "name=userns", "name=no-new-privileges", "name=cgroupns"]


def test_subordinate_ranges(tmp_path: Path) -> None:
    (tmp_path / "subuid").write_text("alice:100000:65536\n1001:300000:1000\n")
    (tmp_path / "subgid").write_text("alice:200000:65536\n")
    assert read_ranges(tmp_path / "subuid", ["bob", "1001"]) == (IdRange(300000, 1000),)
    ranges = (IdRange(100000, 10), IdRange(500000, 10))
    two = UsernsRemap("alice", ranges, ranges)
    assert two.oci_mappings()[0] == [{"containerID": 0, "hostID": 100000, "size": 10},
                                     {"containerID": 10, "hostID": 500000, "size": 10}]
    assert two.shift(12, 0) == (500002, 100000)
    assert two.shift(100003, 0)[0] == 100003  # already shifted
    with pytest.raises(InvalidArgument, match="no subuid/subgid ranges"):
        load_remap("root", etc=tmp_path)


def test_x32_only_where_the_kernel_serves_it() -> None:
    # On a kernel without the x32 ABI an x32 syscall can only fail, and the arch's rules cost runc
    # a third of the filter's compile time at every start and exec.
    def arches(x32: bool, profile: dict[str, Any] | None = None) -> list[str]:
        return seccomp.render(profile or seccomp.default_profile(), capabilities=DEFAULT_CAPS,
                              machine="x86_64", kernel=(6, 1), x32=x32)["architectures"]

    assert arches(True) == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert arches(False) == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    # A profile's own list of architectures is the user's word, kept whole.
    listed = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]}
    assert arches(False, listed) == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]



def test_the_x32_probe_agrees_with_the_kernel_config() -> None:
    config = Path("/proc/config.gz")
    if platform.machine() != "x86_64" or not config.exists():
        pytest.skip("no x86_64 kernel config to compare with")
    if "# CONFIG_X86_X32_ABI is not set" in gzip.decompress(config.read_bytes()).decode():
        assert seccomp.kernel_runs_x32() is False
    else:
        pytest.skip("x32 built in: served or not depends on syscall.x32=, which the probe answers")
