"""HostConfig settings this engine has no mechanism for, refused as dockerd refuses them on a host
without one: device requests (``--gpus``: no GPU device driver is registered here), storage
options (``--storage-opt size=``: overlay on a backing filesystem without project quotas), and the
settings dockerd itself no longer honours (``KernelMemoryTCP``, ``Cgroup``) or that need a plugin
(``VolumeDriver``)."""

from __future__ import annotations

from typing import Any

from dockyard.errors import InvalidArgument

# The registered device drivers (moby's deviceDrivers); dockerd registers "nvidia" only where the
# NVIDIA container toolkit is installed. None is, here.
DEVICE_DRIVERS: dict[str, tuple[str, ...]] = {}


def _go_list(capabilities: list[Any]) -> str:
    """A [][]string as Go's %v prints it: ``[[gpu utility]]``."""
    return "[" + " ".join("[" + " ".join(str(c) for c in group or []) + "]"
                          for group in capabilities) + "]"


def check_device_requests(raw: dict[str, Any]) -> None:
    for request in raw.get("DeviceRequests") or []:
        driver = str(request.get("Driver") or "")
        if driver not in DEVICE_DRIVERS:
            capabilities = request.get("Capabilities") or []
            raise InvalidArgument(f'could not select device driver "{driver}" with capabilities: '
                                  f"{_go_list(capabilities)}")


def check_storage_opts(raw: dict[str, Any]) -> None:
    options = raw.get("StorageOpt") or {}
    for key in options:
        if key.lower() != "size":
            raise InvalidArgument(f"Unknown option {key}")
    if options:
        # moby's overlay2 answer where the backing filesystem has no project quotas.
        raise InvalidArgument("--storage-opt is supported only for overlay over xfs with 'pquota' "
                              "mount option")


def check_unsupported(raw: dict[str, Any]) -> None:
    cgroup_rules(raw)  # a bad --device-cgroup-rule fails the create
    if raw.get("KernelMemoryTCP"):
        raise InvalidArgument("invalid HostConfig.KernelMemoryTCP: kernel TCP memory limits are not "
                              "supported (deprecated by the kernel and by Docker)")
    parent = str(raw.get("CgroupParent") or "")
    if ".." in parent.split("/") or any(ord(c) < 32 for c in parent):
        raise InvalidArgument(f"invalid cgroup parent {parent!r}")
    if raw.get("Cgroup"):
        raise InvalidArgument("invalid HostConfig.Cgroup: joining another container's cgroup is not "
                              "supported")
    for key in ("CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth"):
        if raw.get(key):
            raise InvalidArgument(f"invalid HostConfig.{key}: it applies to Windows containers only")
    if str(raw.get("Isolation") or "default") != "default":
        raise InvalidArgument(f"invalid isolation '{raw['Isolation']}' on linux")
    # HostConfig.VolumeDriver is applied by the volumes (core/containers/mounts.py plan).


_RULE_TYPES = ("a", "b", "c")


def parse_cgroup_rule(rule: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'c 1:3 mr'`` → an OCI ``linux.resources.devices`` allow entry."""
    parts = rule.split()
    if len(parts) != 3 or parts[0] not in _RULE_TYPES:
        raise InvalidArgument(f"invalid device cgroup format '{rule}'")
    major, sep, minor = parts[1].partition(":")
    access = parts[2]
    numbers_ok = sep and all(n == "*" or n.isdigit() for n in (major, minor))
    if not numbers_ok or not access or any(c not in "rwm" for c in access):
        raise InvalidArgument(f"invalid device cgroup format '{rule}'")
    entry: dict[str, Any] = {"allow": True, "type": parts[0], "access": access}
    if major != "*":
        entry["major"] = int(major)
    if minor != "*":
        entry["minor"] = int(minor)
    return entry


def cgroup_rules(raw: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    return tuple(parse_cgroup_rule(str(rule)) for rule in raw.get("DeviceCgroupRules") or ())
