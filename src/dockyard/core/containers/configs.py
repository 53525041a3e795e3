"""Merging an image's config with a create request, and the process environment, as Docker does.

Docker's rules (moby ``daemon/commit.go`` ``merge``): the request wins field by field; image Env
entries whose keys the request does not set are kept; Labels, ExposedPorts and Volumes are unions;
an Entrypoint in the request (even ``--entrypoint ""``) drops the image's Cmd and Entrypoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from dockyard.core.containers.model import ContainerConfig, CreateRequest
from dockyard.errors import InvalidArgument

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def replace_or_append(base: list[str], overrides: list[str]) -> list[str]:
    """``base`` with each ``KEY=value`` of ``overrides`` replacing the same key or appended; a bare
    ``KEY`` (no ``=``) unsets it, as moby's ReplaceOrAppendEnvValues (Compose sends one for a
    variable it found no value for)."""
    result: list[str | None] = list(base)
    index = {env_key(e): i for i, e in enumerate(base)}
    for entry in overrides:
        key = env_key(entry)
        if "=" not in entry:
            if key in index:
                result[index[key]] = None
            continue
        if key in index:
            result[index[key]] = entry
        else:
            index[key] = len(result)
            result.append(entry)
    return [e for e in result if e is not None]


def _str_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def merge_config(request: CreateRequest, image_config: dict[str, Any]) -> ContainerConfig:
    """The container's Config: the request's over the image's (see the module docstring)."""
    user = request.config or ContainerConfig(image=request.image)
    merged = replace(user, image=request.image)
    merged.env = _merge_env(user.env, _str_list(image_config.get("Env")) or [])
    merged.labels = {**(image_config.get("Labels") or {}), **user.labels}
    merged.exposed_ports = {**(image_config.get("ExposedPorts") or {}), **user.exposed_ports}
    merged.volumes = {**(image_config.get("Volumes") or {}), **user.volumes}
    merged.user = user.user or str(image_config.get("User") or "")
    merged.working_dir = user.working_dir or str(image_config.get("WorkingDir") or "")
    merged.stop_signal = user.stop_signal or image_config.get("StopSignal") or None
    healthcheck = merge_healthcheck(user.extra.get("Healthcheck"), image_config.get("Healthcheck"))
    if healthcheck is not None:
        merged.extra = {**user.extra, "Healthcheck": healthcheck}
    if not request.entrypoint_given:
        if not user.cmd:
            merged.cmd = _str_list(image_config.get("Cmd"))
        merged.entrypoint = _str_list(image_config.get("Entrypoint"))
    if merged.entrypoint == [""]:
        merged.entrypoint = None
    if not merged.entrypoint and not merged.cmd:
        raise InvalidArgument("no command specified")
    return merged


def merge_healthcheck(user: Mapping[str, Any] | None,
                      image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """moby's merge: the request's Healthcheck field by field over the image's ``HEALTHCHECK``
    (``--health-interval`` alone keeps the image's test)."""
    if not image:
        return dict(user) if user else None
    if not user:
        return dict(image)
    merged = dict(user)
    for key in ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        if not merged.get(key) and image.get(key):
            merged[key] = image[key]
    return merged


def _merge_env(user_env: list[str], image_env: list[str]) -> list[str]:
    if not user_env:
        return list(image_env)
    keys = {env_key(e) for e in user_env}
    return list(user_env) + [e for e in image_env if env_key(e) not in keys]


def command_of(config: ContainerConfig) -> tuple[str, list[str]]:
    """Path and Args as Docker reports them: Entrypoint then Cmd."""
    argv = list(config.entrypoint or []) + list(config.cmd or [])
    if not argv:
        raise InvalidArgument("no command specified")
    return argv[0], argv[1:]


def process_env(config: ContainerConfig, hostname: str, home: str, linked: Sequence[str] = ()) -> list[str]:
    """The environment the process starts with: Docker's daemon defaults and the legacy links'
    variables under the config's Env (moby's CreateDaemonEnvironment)."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if config.tty:
        base.append("TERM=xterm")
    base.extend(linked)
    env = replace_or_append(base, config.env)
    if not any(env_key(e) == "HOME" for e in env):
        env.append(f"HOME={home or '/'}")
    return env


def network_of(mode: str) -> str:
    """Map a NetworkMode to a SpecInput network; ``container:<ref>`` is resolved by the service.

    Bridged modes (the default bridge and user networks) start as a private netns: the network
    service replaces it with the container's sandbox at start (core/containers/networking.py).
    """
    if mode in ("none", "host"):
        return mode
    if mode.startswith("container:"):
        if len(mode) > len("container:"):
            return mode
        raise InvalidArgument(f"invalid network mode: {mode}")
    return "private"
