"""``com.docker.compose.config-hash`` exactly as Compose v2 computes it, so that neither tool
recreates the other's containers.

Compose v2 (``pkg/compose/hash.go``) hashes ``json.Marshal`` of compose-go's ``ServiceConfig``
with ``build``, ``pull_policy``, ``scale``, ``deploy.replicas``, ``depends_on`` and ``profiles``
cleared: sha256 of the compact JSON, fields in the Go struct's order, ``omitempty`` rules, maps
sorted by key, ``<``, ``>`` and ``&`` escaped. :func:`service_model` rebuilds that value from a
loaded service: what compose-go's loader makes of each key (long forms, defaults, resolved
paths, the environment with its ``env_file``s) and how each Go type marshals (sizes as quoted
byte counts, durations as Go prints them, ``float32`` in its shortest form). ``docker compose
config --format json`` prints the same model, which is how tests/compose checks this module.

Known differences: a ``mode: 0440`` written without ``0o`` is octal to compose-go's YAML parser
and decimal to YAML 1.2 (ours); keys dockyard compose refuses (create.SUPPORTED) are not modelled.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from dockyard.compose.gojson import Float32, go_json
from dockyard.compose.loader import Project
from dockyard.compose.shellwords import split
from dockyard.compose.spec import duration_ns, environment_mapping, size_bytes
from dockyard.compose.yamlfile import ComposeError
from dockyard.gofmt import go_duration

OMIT: Any = object()
Model = dict[str, Any]
Convert = Callable[[Any], Any]

# What Compose v2 clears before hashing (hash.go), and our own bookkeeping keys.
_CLEARED = frozenset({"build", "pull_policy", "scale", "depends_on", "profiles"})


def config_hash(project: Project, service: dict[str, Any]) -> str:
    """The ``com.docker.compose.config-hash`` label of ``service``'s containers."""
    return hashlib.sha256(go_json(service_model(project, service)).encode()).hexdigest()


# ---- Go field types ----
def _text(value: Any) -> str:
    """A YAML scalar as compose-go stores it in a string field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _str(value: Any) -> Any:
    return _text(value) or OMIT


def _bool(value: Any) -> Any:
    return True if value else OMIT


def _bool_ptr(value: Any) -> Any:
    return OMIT if value is None else bool(value)


def _int(value: Any) -> Any:
    return int(value) if value else OMIT


def _int_ptr(value: Any) -> Any:
    return OMIT if value is None else int(value)


def _bytes(value: Any) -> Any:
    """``UnitBytes``: a quoted byte count."""
    number = size_bytes(value) if value not in (None, "") else 0
    return str(number) if number else OMIT


def _float32(value: Any) -> Any:
    number = float(value) if value not in (None, "") else 0.0
    return Float32(number) if number else OMIT


def _duration(value: Any) -> Any:
    """``*Duration``: Go's text of it."""
    return OMIT if value is None else go_duration(duration_ns(value))


def _value_duration(value: Any) -> Any:
    """A ``Duration`` that is not a pointer: zero is left out."""
    return go_duration(duration_ns(value)) if value not in (None, "") and duration_ns(value) else OMIT


def _strings(value: Any) -> Any:
    """``[]string``/``StringList``/``StringOrNumberList``: a single string is a list of one."""
    items = [value] if isinstance(value, str | int | float) else list(value or [])
    return [_text(v) for v in items] or OMIT


def _mapping(value: Any) -> Any:
    """``Mapping``/``Labels``/``Options`` (map[string]string): a key without value is ``""``."""
    if not value:
        return OMIT
    return {str(k): _text(value[k]) for k in sorted(value, key=str)}


def _struct(fields: list[tuple[str, Convert]]) -> Convert:
    """A Go struct from a mapping: its fields in order, each converted, empty ones left out."""
    def convert(value: Any) -> Any:
        if value is None:
            return OMIT
        out: Model = {}
        for key, field_convert in fields:
            converted = field_convert(value[key]) if key in value else OMIT
            if converted is not OMIT:
                out[key] = converted
        return out
    return convert


def _list_of(convert: Convert) -> Convert:
    def each(value: Any) -> Any:
        items = [convert(v) for v in value or []]
        return [v for v in items if v is not OMIT] or OMIT
    return each


def _command(value: Any) -> Any:
    """``ShellCommand``: never left out (``null`` when unset)."""
    if value is None:
        return None
    return split(value) if isinstance(value, str) else [_text(v) for v in value]


def _abs(project: Project, path: str) -> str:
    """compose-go's path resolution: ``~`` expanded, relative paths joined to the project dir;
    an absolute path is kept as written."""
    if path.startswith("~"):
        path = os.path.normpath(os.path.expanduser("~") + "/" + path[1:])
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(project.working_dir, path))


# ---- service fields ----
_HEALTHCHECK = _struct([
    ("test", lambda v: (["CMD-SHELL", v] if isinstance(v, str) else [_text(x) for x in v]) or OMIT),
    ("timeout", _duration), ("interval", _duration), ("retries", _int_ptr), ("start_period", _duration),
    ("start_interval", _duration), ("disable", _bool)])
_RESOURCE = _struct([("cpus", _float32), ("memory", _bytes), ("pids", _int)])
_UPDATE = _struct([("parallelism", _int_ptr), ("delay", _value_duration), ("failure_action", _str),
                   ("monitor", _value_duration), ("max_failure_ratio", _float32), ("order", _str)])
_RESTART_POLICY = _struct([("condition", _str), ("delay", _duration), ("max_attempts", _int_ptr),
                           ("window", _duration)])
_PLACEMENT = _struct([("constraints", _strings),
                      ("preferences", _list_of(_struct([("spread", _str)]))),
                      ("max_replicas_per_node", _int)])
_LOGGING = _struct([("driver", _str), ("options", _mapping)])
_NETWORK = _struct([("aliases", _strings), ("driver_opts", _mapping), ("gw_priority", _int),
                    ("interface_name", _str), ("ipv4_address", _str), ("ipv6_address", _str),
                    ("link_local_ips", _strings), ("mac_address", _str), ("priority", _int)])
_HOOK_FIELDS: list[tuple[str, Convert]] = [("user", _str), ("privileged", _bool), ("working_dir", _str),
                                           ("environment", lambda v: _mapping_with_equals(v))]


def _deploy(value: Any) -> Any:
    if value is None:
        return OMIT
    value = {k: v for k, v in value.items() if k != "replicas"}
    resources = value.get("resources") or {}
    out = _struct([("mode", _str), ("labels", _mapping), ("update_config", _UPDATE),
                   ("rollback_config", _UPDATE)])(value)
    # Resources and Placement are structs, not pointers: omitempty never leaves them out.
    out["resources"] = _struct([("limits", _RESOURCE), ("reservations", _RESOURCE)])(resources)
    out.update(_struct([("restart_policy", _RESTART_POLICY)])(value))
    out["placement"] = _PLACEMENT(value.get("placement") or {})
    out.update(_struct([("endpoint_mode", _str)])(value))
    return out


def _mapping_with_equals(value: Any) -> Any:
    if not value:
        return OMIT
    return {str(k): None if value[k] is None else _text(value[k]) for k in sorted(value, key=str)}


def _file_reference(default_target: str) -> Convert:
    """``secrets``/``configs`` entries; secrets get their default target, configs none."""
    fields = _struct([("source", _str), ("target", _str), ("uid", _str), ("gid", _str),
                      ("mode", lambda v: f"0{(int(v, 8) if isinstance(v, str) else int(v)):o}")])

    def convert(item: Any) -> Any:
        spec = {"source": item} if isinstance(item, str) else dict(item)
        if default_target and "target" not in spec:
            spec["target"] = default_target + str(spec["source"])
        return fields(spec)
    return convert


def _device(item: Any) -> Any:
    if isinstance(item, dict):
        return _struct([("source", _str), ("target", _str), ("permissions", _str)])(item)
    parts = str(item).split(":")
    if len(parts) > 3:
        raise ComposeError(f"confusing device mapping, please use long syntax: {item}")
    source = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1] else source
    return {"source": source, "target": target, "permissions": parts[2] if len(parts) == 3 else "rwm"}


def _extra_hosts(value: Any) -> Any:
    entries = []
    for host, ips in (value or {}).items():
        for ip in ([ips] if not isinstance(ips, list) else ips):
            text = _text(ip)
            entries.append(f"{host}={text[1:-1] if len(text) > 2 and text[0] + text[-1] == '[]' else text}")
    return sorted(entries) or OMIT


def _ulimits(value: Any) -> Any:
    out: Model = {}
    for name in sorted(value or {}):
        limit = value[name]
        out[name] = int(limit) if isinstance(limit, int) else _struct([("soft", _int), ("hard", _int)])(limit)
    return out or OMIT


def _networks(service: dict[str, Any]) -> Any:
    if service.get("network_mode"):
        return OMIT
    nets = service.get("networks") or {"default": None}
    return {str(k): None if nets[k] is None else _NETWORK(nets[k]) for k in sorted(nets)}


# ---- ports (docker/go-connections nat.ParsePortSpec, as compose-go reads the short form) ----
def _port_range(text: str, spec: str) -> tuple[int, int]:
    start, _, end = text.partition("-")
    try:
        return int(start), int(end or start)
    except ValueError as exc:
        raise ComposeError(f"invalid port spec {spec!r}") from exc


def _short_ports(spec: str) -> list[Model]:
    parts = spec.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
    container, _, proto = container.partition("/")
    ip = ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip
    start, end = _port_range(container, spec)
    host_start, host_end = _port_range(host, spec) if host else (0, 0)
    if host and end - start != host_end - host_start and end != start:
        raise ComposeError(f"invalid ranges specified for container and host Ports: {container} and {host}")
    found = []
    for offset in range(end - start + 1):
        published = str(host_start + offset) if host else ""
        if host and start == end and host_start != host_end:
            published = f"{host_start}-{host_end}"  # one container port, a host range to pick from
        found.append((f"{start + offset}/{(proto or 'tcp').lower()}", published))
    return [{"mode": "ingress", "host_ip": ip, "target": int(key.split("/")[0]), "published": published,
             "protocol": key.split("/")[1]} for key, published in sorted(found)]


_PORT = _struct([("name", _str), ("mode", _str), ("host_ip", _str), ("target", _int), ("published", _str),
                 ("protocol", _str), ("app_protocol", _str)])


def _ports(value: Any) -> Any:
    out = []
    for item in value or []:
        if isinstance(item, dict):
            out.append(_PORT({"mode": "ingress", "protocol": "tcp", **item}))
        else:
            out += [_PORT(port) for port in _short_ports(str(item))]
    return out or OMIT


# ---- volumes (compose-go format.ParseVolume for the short form) ----
_PROPAGATIONS = frozenset({"rprivate", "private", "rshared", "shared", "rslave", "slave"})


def _short_volume(spec: str) -> Model:
    if len(spec) <= 2:
        return {"type": "volume", "target": spec}
    parts = spec.split(":")
    volume: Model = {"source": parts[0], "target": parts[1]} if len(parts) > 1 else {"target": parts[0]}
    for option in (parts[2].split(",") if len(parts) > 2 else []):
        if option in ("ro", "rw"):
            volume["read_only"] = option == "ro"
        elif option == "nocopy":
            volume["volume"] = {"nocopy": True}
        elif option in ("z", "Z"):
            volume.setdefault("bind", {})["selinux"] = option
        elif option in _PROPAGATIONS:
            volume.setdefault("bind", {})["propagation"] = option
    if str(volume.get("source", ""))[:1] in (".", "/", "~"):
        # Compose v1's habit kept for the short form: a missing host path is created.
        volume = {"type": "bind", **volume, "bind": {**volume.get("bind", {}), "create_host_path": True}}
    else:
        volume = {"type": "volume", **volume, "volume": volume.get("volume", {})}
    return volume


_VOLUME = _struct([
    ("type", _str), ("source", _str), ("target", lambda v: os.path.normpath(v) if v else OMIT),
    ("read_only", _bool), ("consistency", _str),
    ("bind", _struct([("selinux", _str), ("propagation", _str), ("create_host_path", _bool),
                      ("recursive", _str)])),
    ("volume", _struct([("labels", _mapping), ("nocopy", _bool), ("subpath", _str)])),
    ("tmpfs", _struct([("size", _bytes), ("mode", _int)])), ("image", _struct([("subpath", _str)]))])


def _volumes(project: Project, value: Any) -> Any:
    out = []
    for item in value or []:
        volume = dict(item) if isinstance(item, dict) else _short_volume(str(item))
        if volume.get("type") == "bind" and volume.get("source"):
            volume["source"] = _abs(project, str(volume["source"]))
        out.append(_VOLUME(volume))
    return out or OMIT


def _develop(project: Project, value: Any) -> Any:
    if value is None:
        return OMIT
    watch = []
    for rule in value.get("watch") or []:
        path = _abs(project, str(rule["path"]))
        trigger: Model = {"path": os.path.realpath(path) if os.path.islink(path) else path,
                          "action": _text(rule.get("action"))}
        trigger.update(_struct([("target", _str)])(rule))
        hook = rule.get("exec") or {}
        trigger["exec"] = {"command": _command(hook.get("command")), **_struct(_HOOK_FIELDS)(hook)}
        trigger.update(_struct([("include", _strings), ("ignore", _strings), ("initial_sync", _bool)])(rule))
        watch.append(trigger)
    return {"watch": watch} if watch else {}


def service_model(project: Project, service: dict[str, Any]) -> Model:
    """compose-go's ``ServiceConfig`` of ``service`` as ``json.Marshal`` orders it, less what
    Compose v2 clears before hashing."""
    s = {k: v for k, v in service.items() if k not in _CLEARED and not k.startswith(("_", "x-"))}
    computed: dict[str, Callable[[], Any]] = {
        "develop": lambda: _develop(project, s.get("develop")),
        "command": lambda: _command(s.get("command")),
        "entrypoint": lambda: _command(s.get("entrypoint")),
        "environment": lambda: _mapping_with_equals(environment_mapping(project, service)),
        "networks": lambda: _networks(s),
        "volumes": lambda: _volumes(project, s.get("volumes")),
    }
    out: Model = {}
    for key, convert in _FIELDS:
        if key in computed:
            value = computed[key]()
        else:
            value = convert(s[key]) if key in s else OMIT
        if value is not OMIT:
            out[key] = value
    return out


# ServiceConfig's fields in declaration order (compose-go v2.9.1, types/types.go), for the keys
# dockyard compose applies; ``computed`` ones above need the project.
_FIELDS: list[tuple[str, Convert]] = [
    ("annotations", _mapping), ("attach", _bool_ptr), ("develop", _str), ("cap_add", _strings),
    ("cap_drop", _strings), ("cgroup_parent", _str), ("cgroup", _str), ("cpu_count", _int),
    ("cpu_percent", _float32), ("cpu_period", _int), ("cpu_quota", _int), ("cpu_rt_period", _int),
    ("cpu_rt_runtime", _int), ("cpus", _float32), ("cpuset", _str), ("cpu_shares", _int),
    ("command", _str), ("configs", _list_of(_file_reference(""))), ("container_name", _str),
    ("deploy", _deploy), ("device_cgroup_rules", _strings), ("devices", _list_of(_device)),
    ("dns", _strings), ("dns_opt", _strings), ("dns_search", _strings), ("domainname", _str),
    ("entrypoint", _str), ("environment", _str), ("expose", _strings), ("external_links", _strings),
    ("extra_hosts", _extra_hosts), ("group_add", _strings), ("hostname", _str),
    ("healthcheck", _HEALTHCHECK), ("image", _str), ("init", _bool_ptr), ("ipc", _str),
    ("isolation", _str), ("labels", _mapping), ("links", _strings), ("logging", _LOGGING),
    ("mem_limit", _bytes), ("mem_reservation", _bytes), ("memswap_limit", _bytes),
    ("mem_swappiness", _bytes), ("mac_address", _str), ("network_mode", _str), ("networks", _str),
    ("oom_kill_disable", _bool), ("oom_score_adj", _int), ("pid", _str), ("pids_limit", _int),
    ("platform", _str), ("ports", _ports), ("privileged", _bool), ("read_only", _bool),
    ("restart", _str), ("runtime", _str), ("secrets", _list_of(_file_reference("/run/secrets/"))),
    ("security_opt", _strings), ("shm_size", _bytes), ("stdin_open", _bool),
    ("stop_grace_period", _duration), ("stop_signal", _str), ("storage_opt", _mapping),
    ("sysctls", _mapping), ("tmpfs", _strings), ("tty", _bool), ("ulimits", _ulimits),
    ("use_api_socket", _bool), ("user", _str), ("userns_mode", _str), ("uts", _str),
    ("volume_driver", _str), ("volumes", _str), ("volumes_from", _strings), ("working_dir", _str),
]
