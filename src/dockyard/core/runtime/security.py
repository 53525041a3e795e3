"""A container's security options: from ``HostConfig`` to the OCI spec, with Docker's rules and text.

Covers ``SecurityOpt`` (``no-new-privileges``, ``seccomp``, ``apparmor``, ``label``), ``Devices``,
``Sysctls``, ``IpcMode``, ``PidMode``, ``UTSMode``, ``CgroupnsMode``, ``GroupAdd`` and ``UsernsMode``
(with the daemon's ``--userns-remap``). ``validate`` runs at create, so a bad option fails
``docker create`` as it does with dockerd; ``resolve`` runs at start (devices are looked up and peer
containers' namespaces joined then); ``apply`` edits the spec ``build_spec`` made. Capabilities and
the privileged defaults (all caps, no masked paths) live in core/runtime/capabilities.py and
core/runtime/spec.py.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard.core.runtime import seccomp
from dockyard.core.runtime.capabilities import capabilities
from dockyard.core.runtime.devices import cgroup_rules
from dockyard.core.runtime.model import Device, SecurityOpts, SecuritySpec
from dockyard.core.runtime.userns import UsernsRemap
from dockyard.errors import InvalidArgument, WrongState

# Sysctls that live in a namespace the container owns (Docker's and runc's list).
_IPC_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                          "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})
_IPC_MODES = ("", "private", "shareable", "none", "host")
# /dev entries a privileged container does not get from the host: runc makes its own.
_SKIPPED_DEV = ("/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console", "/dev/ptmx", "/dev/fd",
                "/dev/.lxc", "/dev/.udev")


def parse_security_opts(values: list[str] | None) -> SecurityOpts:
    """moby's ``parseSecurityOpt``, with its error text."""
    nnp: bool | None = None
    seccomp, apparmor, labels = "builtin", "", []
    for opt in values or ():
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":
            labels.append("disable")
            continue
        sep = "=" if "=" in opt else ":"
        key, found, value = opt.partition(sep)
        if not found:
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
        if key == "label":
            labels.append(value)
        elif key == "apparmor":
            apparmor = value
        elif key == "seccomp":
            seccomp = value
        elif key == "no-new-privileges":
            parsed = _bool(value)
            if parsed is None:
                raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
            nnp = parsed
        else:
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    return SecurityOpts(nnp, seccomp, apparmor, tuple(labels))


def _bool(text: str) -> bool | None:
    # Go's strconv.ParseBool
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def check_sysctls(sysctls: dict[str, Any], *, network_mode: str, ipc_mode: str) -> None:
    """Only namespaced sysctls, and not those of a namespace shared with the host."""
    for key in sysctls:
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if ipc_mode == "host":
                raise InvalidArgument(f'sysctl "{key}" not allowed in host IPC namespace')
        elif key.startswith("net."):
            if network_mode == "host":
                raise InvalidArgument(f'sysctl "{key}" not allowed in host network namespace')
        elif key not in ("kernel.domainname",):
            raise InvalidArgument(f'sysctl "{key}" is not in a separate kernel namespace')


def _check_modes(host: dict[str, Any]) -> None:
    ipc = str(host.get("IpcMode") or "")
    if ipc not in _IPC_MODES and not (ipc.startswith("container:") and len(ipc) > 10):
        raise InvalidArgument(f"invalid IPC mode: {ipc}")
    pid = str(host.get("PidMode") or "")
    if pid not in ("", "host") and not (pid.startswith("container:") and len(pid) > 10):
        raise InvalidArgument(f"invalid PID mode: {pid}")
    if str(host.get("UTSMode") or "") not in ("", "host"):
        raise InvalidArgument(f"invalid UTS mode: {host.get('UTSMode')}")
    if str(host.get("CgroupnsMode") or "") not in ("", "host", "private"):
        raise InvalidArgument(f'invalid cgroup namespace mode: {host.get("CgroupnsMode")}')
    if str(host.get("UsernsMode") or "") not in ("", "host"):
        raise InvalidArgument(f"invalid USER mode: {host.get('UsernsMode')}")


def validate(host: dict[str, Any], *, remap: UsernsRemap | None) -> None:
    """Everything that can be checked at ``docker create`` (moby ``verifyContainerSettings``)."""
    capabilities(privileged=False, cap_add=tuple(host.get("CapAdd") or ()),
                 cap_drop=tuple(host.get("CapDrop") or ()))
    opts = parse_security_opts(host.get("SecurityOpt"))
    if opts.seccomp not in ("builtin", "unconfined", ""):
        seccomp.parse_profile(opts.seccomp)
    _check_modes(host)
    check_sysctls(host.get("Sysctls") or {}, network_mode=str(host.get("NetworkMode") or ""),
                  ipc_mode=str(host.get("IpcMode") or ""))
    if remap is not None and host.get("Privileged") and host.get("UsernsMode") != "host":
        raise InvalidArgument("privileged mode is incompatible with user namespaces.  You must run "
                              "the container in the host namespace when running privileged mode")
    for mapping in host.get("Devices") or ():
        host_devices(str(mapping.get("PathOnHost") or ""), str(mapping.get("PathInContainer") or ""),
                     str(mapping.get("CgroupPermissions") or "rwm"))


# ---- devices ----
def _device(path: Path, inside: str, access: str) -> Device | None:
    st = os.stat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return Device(inside, kind, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode),
                  st.st_uid, st.st_gid, access)


def host_devices(on_host: str, in_container: str, access: str) -> list[Device]:
    """``--device host[:container][:rwm]``: one node, or every node under a directory."""
    if not access or set(access) - set("rwm"):
        raise InvalidArgument(f"invalid device mode: {access}")
    in_container = in_container or on_host
    source = Path(on_host)
    try:
        if source.is_dir():
            found = []
            for entry in sorted(source.rglob("*")):
                if entry.is_symlink():
                    continue
                device = _device(entry, str(Path(in_container) / entry.relative_to(source)), access)
                if device is not None:
                    found.append(device)
            return found
        device = _device(source.resolve(), in_container, access)
    except OSError as exc:
        raise InvalidArgument(f'error gathering device information while adding custom device '
                              f'"{on_host}": {exc.strerror.lower() if exc.strerror else exc}') from exc
    if device is None:
        raise InvalidArgument(f'error gathering device information while adding custom device '
                              f'"{on_host}": not a device node')
    return [device]


def privileged_devices() -> list[Device]:
    """Every device node of the host's /dev, as ``--privileged`` gives them (moby HostDevices)."""
    found = []
    for dirpath, dirnames, filenames in os.walk("/dev"):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in _SKIPPED_DEV]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if path in _SKIPPED_DEV or os.path.islink(path):
                continue
            try:
                device = _device(Path(path), path, "rwm")
            except OSError:
                continue
            if device is not None:
                found.append(device)
    return found


# ---- resolution at start ----
PeerLookup = Callable[[str], tuple[str, int, str]]  # ref -> (id, pid while running, IpcMode)


def _peer_ns(mode: str, kind: str, peer: PeerLookup) -> str:
    ref = mode.split(":", 1)[1]
    peer_id, pid, ipc_mode = peer(ref)
    if not pid:
        raise WrongState(f"cannot join {kind.upper()} of a non running container: {peer_id}")
    if kind == "ipc" and ipc_mode not in ("shareable", "host"):
        raise InvalidArgument("non-shareable IPC (hint: use IpcMode:shareable for the donor container)")
    if kind == "ipc" and ipc_mode == "host":
        return "host"
    return f"ns:/proc/{pid}/ns/{kind}"


def resolve(host: dict[str, Any], *, peer: PeerLookup, default_nnp: bool,
            remap: UsernsRemap | None, group_gids: Callable[[list[str]], tuple[int, ...]]) -> SecuritySpec:
    """The container's :class:`SecuritySpec` at start."""
    opts = parse_security_opts(host.get("SecurityOpt"))
    ipc = str(host.get("IpcMode") or "private")
    ipc = _peer_ns(ipc, "ipc", peer) if ipc.startswith("container:") else ipc
    pid = str(host.get("PidMode") or "private")
    pid = _peer_ns(pid, "pid", peer) if pid.startswith("container:") else pid
    devices: list[Device] = []
    if host.get("Privileged"):
        devices = privileged_devices()
    for mapping in host.get("Devices") or ():
        devices += host_devices(str(mapping.get("PathOnHost") or ""),
                                str(mapping.get("PathInContainer") or ""),
                                str(mapping.get("CgroupPermissions") or "rwm"))
    groups = [str(g) for g in host.get("GroupAdd") or ()]
    return SecuritySpec(
        no_new_privileges=default_nnp if opts.no_new_privileges is None else opts.no_new_privileges,
        seccomp=opts.seccomp or "builtin", devices=tuple(devices),
        sysctls={str(k): str(v) for k, v in (host.get("Sysctls") or {}).items()},
        ipc="private" if ipc == "shareable" else ipc, pid=pid,
        uts=str(host.get("UTSMode") or "private"), cgroupns=str(host.get("CgroupnsMode") or ""),
        group_add=group_gids(groups) if groups else (),
        userns=None if host.get("UsernsMode") == "host" else remap, device_rules=cgroup_rules(host))


# ---- the spec ----
def _set_namespace(linux: dict[str, Any], kind: str, mode: str) -> None:
    """``private``: a new namespace; ``host``: none; ``ns:<path>``: join that one."""
    namespaces = [n for n in linux["namespaces"] if n["type"] != kind]
    if mode.startswith("ns:"):
        namespaces.append({"type": kind, "path": mode[3:]})
    elif mode != "host":
        namespaces.append({"type": kind})
    linux["namespaces"] = namespaces


def _apply_namespaces(spec: dict[str, Any], sec: SecuritySpec) -> None:
    linux = spec["linux"]
    _set_namespace(linux, "pid", "private" if sec.pid == "private" else sec.pid)
    _set_namespace(linux, "ipc", "private" if sec.ipc == "none" else sec.ipc)
    if sec.ipc in ("none", "host"):
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/dev/shm"]
    if sec.ipc == "host":
        spec["mounts"].append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                               "options": ["rbind", "rprivate"]})
    if sec.uts == "host":
        _set_namespace(linux, "uts", "host")
        spec.pop("hostname", None)
        spec.pop("domainname", None)
    if sec.cgroupns:
        _set_namespace(linux, "cgroup", sec.cgroupns)
    if sec.userns is not None:
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"], linux["gidMappings"] = sec.userns.oci_mappings()
        own_netns = any(n["type"] == "network" and "path" not in n for n in linux["namespaces"])
        if not own_netns:
            _outside_netns(spec, sec)
        elif "net.ipv4.ping_group_range" in linux.get("sysctl", {}) and \
                "net.ipv4.ping_group_range" not in sec.sysctls:
            # Only gids mapped into the namespace may be named there.
            size = sum(r.size for r in sec.userns.gids)
            linux["sysctl"]["net.ipv4.ping_group_range"] = f"0 {size - 1}"


def _outside_netns(spec: dict[str, Any], sec: SecuritySpec) -> None:
    """A remapped container in a netns the daemon made (or the host's): that netns belongs to the
    host's user namespace, so the container's root may neither mount a sysfs for it nor write its
    sysctls. /sys becomes a read-only bind of the host's (runc's own fallback in later versions)."""
    linux = spec["linux"]
    linux["sysctl"] = {k: v for k, v in (linux.get("sysctl") or {}).items()
                       if not k.startswith("net.") or k in sec.sysctls}
    for mount in spec["mounts"]:
        if mount["destination"] == "/sys" and mount["type"] == "sysfs":
            mount.update(type="bind", source="/sys",
                         options=["rbind", "nosuid", "noexec", "nodev", "ro"])


def _apply_devices(linux: dict[str, Any], devices: tuple[Device, ...]) -> None:
    if not devices:
        return
    linux["devices"] = [{"path": d.path, "type": d.type, "major": d.major, "minor": d.minor,
                         "fileMode": d.file_mode, "uid": d.uid, "gid": d.gid} for d in devices]
    rules = linux.setdefault("resources", {}).setdefault("devices", [])
    rules.extend({"allow": True, "type": d.type, "major": d.major, "minor": d.minor,
                  "access": d.access} for d in devices)


def _apply_seccomp(spec: dict[str, Any], sec: SecuritySpec, *, privileged: bool) -> None:
    if privileged or sec.seccomp == "unconfined":
        return
    profile = (seccomp.default_profile() if sec.seccomp == "builtin"
               else seccomp.parse_profile(sec.seccomp))
    caps = spec["process"]["capabilities"]["bounding"]
    spec["linux"]["seccomp"] = seccomp.render(profile, capabilities=caps)


def apply(spec: dict[str, Any], sec: SecuritySpec, *, privileged: bool) -> None:
    """Edit ``spec`` (from ``build_spec``) for the container's security options."""
    process, linux = spec["process"], spec["linux"]
    process["noNewPrivileges"] = sec.no_new_privileges
    if sec.group_add:
        user = process["user"]
        user["additionalGids"] = list(dict.fromkeys([*user.get("additionalGids", []), *sec.group_add]))
    _apply_namespaces(spec, sec)
    if not privileged:
        _apply_devices(linux, sec.devices)
        if sec.device_rules:
            linux.setdefault("resources", {}).setdefault("devices", []).extend(sec.device_rules)
    else:
        linux["devices"] = [{"path": d.path, "type": d.type, "major": d.major, "minor": d.minor,
                             "fileMode": d.file_mode, "uid": d.uid, "gid": d.gid} for d in sec.devices]
    if sec.sysctls:
        linux["sysctl"] = {**(linux.get("sysctl") or {}), **sec.sysctls}
    _apply_seccomp(spec, sec, privileged=privileged)


def info_options(*, cgroup_version: str, no_new_privileges: bool, remap_active: bool) -> list[str]:
    """``docker info``'s SecurityOptions, in dockerd's order and spelling. AppArmor and SELinux are
    absent: ``apparmor=`` and ``label=`` options are accepted and not applied, as dockerd does on a
    host without them."""
    options = ["name=seccomp,profile=builtin"]
    if remap_active:
        options.append("name=userns")
    if no_new_privileges:
        options.append("name=no-new-privileges")
    if cgroup_version == "2":
        options.append("name=cgroupns")
    return options

