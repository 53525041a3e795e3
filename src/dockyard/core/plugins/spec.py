"""The OCI runtime config a managed plugin runs with: moby's ``Plugin.InitSpec``.

Docker's default container spec (core/runtime/spec.py), then: the plugin's rootfs read-only, its
runtime directory (``<exec-root>/plugins/<id>``, where it creates its socket) bound at
``/run/docker/plugins``, the host's ``/etc/hosts`` and ``/etc/resolv.conf`` when it asks for a
network, the host's network/IPC/PID namespaces when it asks for them, its mounts and devices with
the user's settings, ``Entrypoint`` + settings' ``Args`` as the process, ``PATH`` + settings'
``Env``, and its extra capabilities added to Docker's default set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockyard.core.runtime.model import BindMount, ProcessUser, SecuritySpec, SpecInput
from dockyard.core.runtime.security import host_devices
from dockyard.core.runtime.spec import build_spec
from dockyard.errors import InvalidArgument

RUNTIME_DESTINATION = "/run/docker/plugins"  # moby's defaultPluginRuntimeDestination
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _mounts(config: dict[str, Any], settings: dict[str, Any], runtime_dir: Path,
            propagated: Path | None) -> list[BindMount]:
    mounts: list[BindMount] = []
    if propagated is not None:
        mounts.append(BindMount(config["PropagatedMount"], str(propagated), "bind",
                                ("rbind", "rw", "rshared")))
    for mount in settings["Mounts"]:
        if mount["Source"] is None:
            raise InvalidArgument("mount source is not specified")
        if not mount["Destination"].startswith("/"):
            raise InvalidArgument(f"mount destination {mount['Destination']!r} is not absolute")
        mounts.append(BindMount(mount["Destination"], mount["Source"], mount["Type"] or "bind",
                                tuple(mount["Options"])))
    mounts.append(BindMount(RUNTIME_DESTINATION, str(runtime_dir), "bind", ("rbind", "rshared")))
    if config["Network"]["Type"]:
        for path in ("/etc/hosts", "/etc/resolv.conf"):
            mounts.append(BindMount(path, path, "bind", ("rbind", "ro")))
    return mounts


def plugin_spec(plugin_id: str, config: dict[str, Any], settings: dict[str, Any], *, rootfs: Path,
                runtime_dir: Path, propagated: Path | None = None) -> dict[str, Any]:
    """The bundle's ``config.json`` for plugin ``plugin_id``."""
    args = tuple(config["Entrypoint"]) + tuple(settings["Args"])
    if not args:
        raise InvalidArgument(f"plugin {plugin_id[:12]} has no Entrypoint")
    devices = []
    for device in settings["Devices"]:
        if device["Path"]:
            devices.extend(host_devices(device["Path"], device["Path"], "rwm"))
    user = config.get("User") or {}
    inp = SpecInput(
        container_id=plugin_id, rootfs=rootfs, args=args,
        env=(f"PATH={DEFAULT_PATH}", *settings["Env"]), cwd=config["WorkDir"] or "/",
        user=ProcessUser(int(user.get("UID", 0)), int(user.get("GID", 0))), terminal=False,
        hostname=plugin_id[:12], mounts=tuple(_mounts(config, settings, runtime_dir, propagated)),
        network="host" if config["Network"]["Type"] == "host" else "private",
        cgroups_path=f"/dockyard/{plugin_id}", readonly_rootfs=True,
        cap_add=tuple(config["Linux"]["Capabilities"]),
        security=SecuritySpec(devices=tuple(devices), ipc="host" if config["IpcHost"] else "private",
                              pid="host" if config["PidHost"] else "private"),
    )
    spec = build_spec(inp)
    linux = spec["linux"]
    if config["Linux"]["AllowAllDevices"]:
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    if propagated is not None:
        linux["rootfsPropagation"] = "rshared"
    return spec
