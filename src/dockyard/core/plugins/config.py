"""A managed plugin's config (``config.json`` of ``docker plugin create``) and its settings.

The *config* is what the plugin's author wrote (moby ``api/types/plugin.Config``): its interface
(``Types`` such as ``docker.volumedriver/1.0`` and the ``Socket`` it listens on inside
``/run/docker/plugins``), entrypoint, environment, mounts, devices, capabilities and network. The
*settings* are the user's current values of the settable parts (``Env``, ``Args``, mount sources,
device paths), initialised from the config and changed by ``docker plugin set``. The *privileges*
are what installing the plugin grants it, computed from the config as moby's ``computePrivileges``
does, and compared order-insensitively with what the client accepted.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from dockyard.core.plugins.registry import AUTHZ, IPAM_DRIVER, LOG_DRIVER, NETWORK_DRIVER, VOLUME_DRIVER
from dockyard.errors import InvalidArgument

CONFIG_MEDIA_TYPE = "application/vnd.docker.plugin.v1+json"

# docker.<capability>/<version> → the name the plugin protocol announces in Plugin.Activate.
_CAPABILITIES = {"volumedriver": VOLUME_DRIVER, "networkdriver": NETWORK_DRIVER,
                 "ipamdriver": IPAM_DRIVER, "authz": AUTHZ, "logdriver": LOG_DRIVER,
                 "metricscollector": "MetricsCollector"}
_TYPE_RE = re.compile(r"^([a-z0-9]+)\.([a-z0-9]+)/([0-9a-z.]+)$")
# moby's allowed settable fields per kind (daemon/pkg/plugin/v2/settable.go).
_SETTABLE_FIELDS = {"Env": "value", "Args": "value", "Devices": "path", "Mounts": "source"}


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidArgument(f"failed to parse config: {where} must be a list of strings")
    return list(value)


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"failed to parse config: {where} must be a string")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"failed to parse config: {where} must be an object")
    return value


def _entries(value: Any, where: str, fields: dict[str, str]) -> list[dict[str, Any]]:
    """A list of Env/Mounts/Devices objects with every field Docker shows; ``fields`` maps each
    field to "s" (string), "l" (list of strings) or "n" (string or null)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(f"failed to parse config: {where} must be a list")
    out = []
    for index, raw in enumerate(value):
        item = _object(raw, f"{where}[{index}]")
        entry: dict[str, Any] = {}
        for name, kind in fields.items():
            label = f"{where}[{index}].{name}"
            if kind == "l":
                entry[name] = _strings(item.get(name), label)
            elif kind == "n":
                entry[name] = None if item.get(name) is None else _text(item.get(name), label)
            else:
                entry[name] = _text(item.get(name), label)
        out.append(entry)
    return out


def normalise(raw: Any) -> dict[str, Any]:
    """The config with every field Docker's ``Plugin.Config`` has, types checked; 400 otherwise."""
    doc = _object(raw, "config")
    interface = _object(doc.get("Interface"), "Interface")
    types = _strings(interface.get("Types"), "Interface.Types")
    for item in types:
        if not _TYPE_RE.match(item):
            raise InvalidArgument(f'failed to parse config: invalid capability ID "{item}"')
    linux = _object(doc.get("Linux"), "Linux")
    args = _object(doc.get("Args"), "Args")
    user = _object(doc.get("User"), "User")
    config: dict[str, Any] = {
        "DockerVersion": _text(doc.get("DockerVersion"), "DockerVersion"),
        "Description": _text(doc.get("Description"), "Description"),
        "Documentation": _text(doc.get("Documentation"), "Documentation"),
        "Interface": {"Types": types, "Socket": _text(interface.get("Socket"), "Interface.Socket"),
                      "ProtocolScheme": _text(interface.get("ProtocolScheme"), "Interface.ProtocolScheme")},
        "Entrypoint": _strings(doc.get("Entrypoint"), "Entrypoint"),
        "WorkDir": _text(doc.get("WorkDir"), "WorkDir"),
        "User": {key: int(user[key]) for key in ("UID", "GID") if isinstance(user.get(key), int)},
        "Network": {"Type": _text(_object(doc.get("Network"), "Network").get("Type"), "Network.Type")},
        "Linux": {"Capabilities": _strings(linux.get("Capabilities"), "Linux.Capabilities"),
                  "AllowAllDevices": bool(linux.get("AllowAllDevices")),
                  "Devices": _entries(linux.get("Devices"), "Linux.Devices",
                                      {"Name": "s", "Description": "s", "Settable": "l", "Path": "n"})},
        "PropagatedMount": _text(doc.get("PropagatedMount"), "PropagatedMount"),
        "IpcHost": bool(doc.get("IpcHost")),
        "PidHost": bool(doc.get("PidHost")),
        "Mounts": _entries(doc.get("Mounts"), "Mounts",
                           {"Name": "s", "Description": "s", "Settable": "l", "Source": "n",
                            "Destination": "s", "Type": "s", "Options": "l"}),
        "Env": _entries(doc.get("Env"), "Env",
                        {"Name": "s", "Description": "s", "Settable": "l", "Value": "n"}),
        "Args": {"Name": _text(args.get("Name"), "Args.Name"),
                 "Description": _text(args.get("Description"), "Args.Description"),
                 "Settable": _strings(args.get("Settable"), "Args.Settable"),
                 "Value": _strings(args.get("Value"), "Args.Value")},
    }
    if config["Network"]["Type"] not in ("", "host", "bridge", "none", "null"):
        raise InvalidArgument(f"failed to parse config: unknown network type "
                              f"{config['Network']['Type']!r}")
    rootfs = doc.get("rootfs")
    if isinstance(rootfs, dict):
        config["rootfs"] = {"type": _text(rootfs.get("type"), "rootfs.type"),
                            "diff_ids": _strings(rootfs.get("diff_ids"), "rootfs.diff_ids")}
    return config


def implements(config: dict[str, Any]) -> tuple[str, ...]:
    """``docker.volumedriver/1.0`` → ``VolumeDriver``: what the registry hands out by kind."""
    found = []
    for item in config["Interface"]["Types"]:
        match = _TYPE_RE.match(item)
        if match and match.group(1) == "docker":
            found.append(_CAPABILITIES.get(match.group(2), match.group(2)))
    return tuple(found)


def capabilities(config: dict[str, Any]) -> list[str]:
    """The ``capability`` part of each interface type, as ``plugin ls --filter capability=`` sees it."""
    return [m.group(2) for m in map(_TYPE_RE.match, config["Interface"]["Types"]) if m]


def initial_settings(config: dict[str, Any]) -> dict[str, Any]:
    """moby's ``InitEmptySettings``: mounts and devices as configured, env with values, args."""
    return {
        "Mounts": copy.deepcopy(config["Mounts"]),
        "Devices": copy.deepcopy(config["Linux"]["Devices"]),
        "Env": [f"{e['Name']}={e['Value']}" for e in config["Env"] if e["Value"] is not None],
        "Args": list(config["Args"]["Value"]),
    }


def privileges(config: dict[str, Any]) -> list[dict[str, Any]]:
    """What installing the plugin grants it (moby's ``computePrivileges``, in its order)."""
    out: list[dict[str, Any]] = []

    def grant(name: str, description: str, value: list[str]) -> None:
        out.append({"Name": name, "Description": description, "Value": value})

    network = config["Network"]["Type"]
    if network not in ("", "null", "bridge"):
        grant("network", "permissions to access a network", [network])
    if config["IpcHost"]:
        grant("host ipc namespace", "allow access to host ipc namespace", ["true"])
    if config["PidHost"]:
        grant("host pid namespace", "allow access to host pid namespace", ["true"])
    for mount in config["Mounts"]:
        if mount["Source"] is not None:
            grant("mount", "host path to mount", [mount["Source"]])
    for device in config["Linux"]["Devices"]:
        if device["Path"] is not None:
            grant("device", "host device to access", [device["Path"]])
    if config["Linux"]["AllowAllDevices"]:
        grant("allow-all-devices", "allow 'rwm' access to all devices", ["true"])
    if config["Linux"]["Capabilities"]:
        grant("capabilities", "list of additional capabilities required",
              list(config["Linux"]["Capabilities"]))
    return out


def _normalised_grants(items: Any) -> list[tuple[str, list[str]]]:
    if not isinstance(items, list):
        raise InvalidArgument("invalid privileges: expected a JSON array")
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidArgument("invalid privileges: expected objects")
        pairs.append((str(item.get("Name") or ""), sorted(str(v) for v in item.get("Value") or [])))
    return sorted(pairs, key=lambda pair: pair[0])


def check_privileges(required: list[dict[str, Any]], granted: Any) -> None:
    """moby's ``validatePrivileges``: the same names with the same values, in any order."""
    if granted is None:
        return  # `plugin create` and old clients send none: nothing was asked, nothing checked
    wanted, given = _normalised_grants(required), _normalised_grants(granted)
    if wanted != given:
        raise InvalidArgument("incorrect privileges")


def _split_setting(arg: str) -> tuple[str, str, str]:
    """``name[.field][=value]`` → (name, field, value), as moby's ``newSettable``."""
    index = arg.find("=")
    if index == 0:
        raise InvalidArgument("invalid format, must be <name>[.<field>][=<value>]")
    name, value = (arg, "") if index < 0 else (arg[:index], arg[index + 1:])
    field = ""
    dot = name.rfind(".")
    if dot > 0:
        name, field = name[:dot], name[dot + 1:]
    return name, field, value


def _settable(kind: str, name: str, field: str, settable: list[str]) -> None:
    if not field:
        if len(settable) > 1:
            raise InvalidArgument("multiple fields are settable, one must be specified")
        field = settable[0] if settable else ""
    if field != _SETTABLE_FIELDS[kind] or field not in settable:
        shown = f"{name}.{field}" if field else name
        raise InvalidArgument(f'"{shown}" is not settable')


def apply_settings(config: dict[str, Any], settings: dict[str, Any], args: list[str]) -> dict[str, Any]:
    """New settings after ``docker plugin set`` (moby's ``Plugin.Set``): only what the config marks
    settable; anything else is refused with moby's text and nothing changes."""
    result = copy.deepcopy(settings)
    for arg in args:
        name, field, value = _split_setting(arg)
        env = next((e for e in config["Env"] if e["Name"] == name), None)
        mount_index = next((i for i, m in enumerate(config["Mounts"]) if m["Name"] == name), None)
        device_index = next((i for i, d in enumerate(config["Linux"]["Devices"]) if d["Name"] == name), None)
        if env is not None:
            _settable("Env", name, field, env["Settable"])
            names = [e.partition("=")[0] for e in result["Env"]]
            if name in names:
                result["Env"][names.index(name)] = f"{name}={value}"
            else:
                result["Env"].append(f"{name}={value}")
        elif mount_index is not None:
            _settable("Mounts", name, field, config["Mounts"][mount_index]["Settable"])
            if config["Mounts"][mount_index]["Source"] is None:
                raise InvalidArgument("plugin config has no mount source")
            result["Mounts"][mount_index]["Source"] = value
        elif device_index is not None:
            _settable("Devices", name, field, config["Linux"]["Devices"][device_index]["Settable"])
            if config["Linux"]["Devices"][device_index]["Path"] is None:
                raise InvalidArgument("plugin config has no device path")
            result["Devices"][device_index]["Path"] = value
        elif config["Args"]["Name"] and config["Args"]["Name"] == name:
            _settable("Args", name, field, config["Args"]["Settable"])
            result["Args"] = value.split(" ")
        else:
            raise InvalidArgument(f'setting "{name}" not found in the plugin configuration')
    return result
