"""From a container record to the runtime's :class:`SpecInput` (process, mounts, namespaces)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from dockyard.core.containers.configs import command_of, process_env
from dockyard.core.containers.model import Container, ContainerPaths
from dockyard.core.containers.mounts import bind_mounts
from dockyard.core.runtime.model import BindMount, ProcessUser, SecuritySpec, SpecInput
from dockyard.core.runtime.resources import spec_fields
from dockyard.errors import InvalidArgument

INIT_DESTINATION = "/sbin/docker-init"
_INIT_CANDIDATES = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit", "/usr/bin/tini",
                    "/usr/bin/tini-static", "/usr/bin/docker-init")


def find_init() -> str | None:
    """The init binary for ``--init``: catatonit as Podman ships it, or tini as Docker does."""
    for candidate in _INIT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("catatonit") or shutil.which("tini")


def _file_mounts(paths: ContainerPaths) -> list[BindMount]:
    # Docker binds these three daemon-made files over the image's own.
    return [
        BindMount(destination="/etc/hostname", source=str(paths.hostname)),
        BindMount(destination="/etc/hosts", source=str(paths.hosts)),
        BindMount(destination="/etc/resolv.conf", source=str(paths.resolv_conf)),
    ]


def container_argv(container: Container, init_path: str | None) -> tuple[str, ...]:
    path, args = command_of(container.config)
    argv = (path, *args)
    if container.host.init and init_path:
        # The init reaps zombies and forwards signals; "--" keeps the command's flags its own.
        argv = (INIT_DESTINATION, "--", *argv)
    return argv


def spec_input(
    container: Container,
    paths: ContainerPaths,
    *,
    user: ProcessUser,
    home: str,
    network: str,
    init_path: str | None,
    security: SecuritySpec | None = None,
    linked_env: Sequence[str] = (),
) -> SpecInput:
    config = container.config
    mounts = _file_mounts(paths)
    if container.host.init:
        if init_path is None:
            raise InvalidArgument("no init binary found: install catatonit or tini")
        mounts.append(BindMount(destination=INIT_DESTINATION, source=init_path,
                                options=("rbind", "ro", "rprivate")))
    mounts.extend(bind_mounts(container.mounts))
    return SpecInput(
        container_id=container.id,
        rootfs=paths.rootfs,
        args=container_argv(container, init_path),
        env=tuple(process_env(config, config.hostname, home, linked_env)),
        cwd=config.working_dir or "/",
        user=user,
        terminal=config.tty,
        hostname=config.hostname,
        domainname=config.domainname,
        mounts=tuple(mounts),
        network=network,
        cgroups_path=container.cgroups_path,
        readonly_rootfs=container.host.readonly_rootfs,
        privileged=container.host.privileged,
        cap_add=tuple(container.host.cap_add),
        cap_drop=tuple(container.host.cap_drop),
        # HostConfig.Annotations go to the OCI spec, as dockerd passes them to the runtime.
        annotations={**{str(k): str(v) for k, v in (container.host.raw.get("Annotations") or {}).items()},
                     "io.dockyard.container.name": container.name.lstrip("/")},
        security=security,
        console_size=container.host.console_size,
        **spec_fields(container.host.raw),
    )
