"""A service's ``build:`` as the classic ``POST /build`` query, every key applied or refused.

Compose v2 with the classic builder (``DOCKER_BUILDKIT=0``, ``build_classic.go``) sends tags,
``no_cache``, ``pull``, args, labels, network, ``extra_hosts``, target and isolation, and refuses
``secrets``, ``ssh``, ``additional_contexts``, ``privileged`` and several platforms. dockyard
compose sends the same and more where this engine's builder has the mechanism: ``shm_size`` and
``ulimits`` for RUN containers, ``cache_from``, one platform, and ``secrets`` for ``RUN
--mount=type=secret`` through the daemon's ``dockyard-secrets`` parameter (ids as Compose v2
gives BuildKit: the target, else the source). The rest is refused with Compose v2's words; our
builder has no named contexts (``COPY --from=<context>``), no ssh agent forwarding and no
attestations.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from dockyard.compose.loader import Project
from dockyard.compose.spec import size_bytes
from dockyard.compose.yamlfile import ComposeError

SECRETS_PARAM = "dockyard-secrets"  # api/routes/build.py
BUILDER_LABEL = "com.docker.compose.image.builder"

# Build keys the engine cannot carry out, with the end of Compose v2's classic-builder message.
_REFUSED = {"additional_contexts": "additional contexts", "ssh": "SSH keys", "privileged": "privileged mode",
            "entitlements": "entitlements", "cache_to": "cache export", "provenance": "attestations",
            "sbom": "attestations"}


def _refuse(name: str, build: dict[str, Any]) -> None:
    for key, what in _REFUSED.items():
        value = build.get(key)
        if value and value not in ("false", False):
            raise ComposeError(f"services.{name}.build.{key}: the classic builder doesn't support {what}")
    if len(build.get("platforms") or []) > 1:
        raise ComposeError(f"services.{name}.build.platforms: the classic builder doesn't support "
                           "multi-arch build")


def secret_values(project: Project, name: str, build: dict[str, Any]) -> dict[str, str]:
    """``build.secrets``: id -> base64 of the value from the top-level secret's file or variable."""
    values: dict[str, str] = {}
    for item in build.get("secrets") or []:
        ref = {"source": item} if isinstance(item, str) else item
        source = str(ref["source"])
        top = project.secrets.get(source)
        if top is None:
            raise ComposeError(f"service {name!r} refers to undefined build secret {source}: "
                               "invalid compose project")
        if top.get("file"):
            try:
                data = (project.working_dir / str(top["file"])).expanduser().read_bytes()
            except OSError as exc:
                raise ComposeError(f"secret {source}: cannot read {top['file']}: {exc.strerror}") from exc
        elif top.get("environment"):
            data = project.environment.get(str(top["environment"]), "").encode()
        else:
            raise ComposeError(f"secret {source}: a build secret needs a file or an environment variable")
        values[str(ref.get("target") or source)] = base64.b64encode(data).decode()
    return values


def _extra_hosts(value: Any) -> list[str]:
    hosts = value.items() if isinstance(value, dict) else (
        (str(h).replace("=", ":", 1).partition(":")[::2]) for h in value or [])
    return [f"{host}:{ip}" for host, ips in hosts for ip in (ips if isinstance(ips, list) else [ips])]


def build_params(project: Project, name: str, image: str, build: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``POST /build`` query for ``build`` (the Dockerfile's name is added by the caller)."""
    _refuse(name, build)
    args = {k: v for k, v in (build.get("args") or {}).items() if v is not None}
    params: list[tuple[str, str]] = [("t", image)] + [("t", str(tag)) for tag in build.get("tags") or []]
    params += [
        ("target", str(build.get("target") or "")), ("rm", "1"),
        ("buildargs", json.dumps({str(k): str(v) for k, v in args.items()})),
        ("labels", json.dumps({**{str(k): str(v) for k, v in (build.get("labels") or {}).items()},
                               BUILDER_LABEL: "classic"})),
        ("networkmode", str(build.get("network") or "default")),
        ("nocache", "1" if build.get("no_cache") else "0")]
    if build.get("pull"):
        params.append(("pull", "1"))
    if build.get("cache_from"):
        params.append(("cachefrom", json.dumps([str(c) for c in build["cache_from"]])))
    if build.get("extra_hosts"):
        params.append(("extrahosts", ",".join(_extra_hosts(build["extra_hosts"]))))
    if build.get("isolation"):
        params.append(("isolation", str(build["isolation"])))
    if build.get("shm_size"):
        params.append(("shmsize", str(size_bytes(build["shm_size"]))))
    if build.get("ulimits"):
        params.append(("ulimits", json.dumps([
            {"Name": k, "Soft": int(v if isinstance(v, int) else v["soft"]),
             "Hard": int(v if isinstance(v, int) else v["hard"])} for k, v in build["ulimits"].items()])))
    if build.get("platforms"):
        params.append(("platform", str(build["platforms"][0])))
    secrets = secret_values(project, name, build)
    if secrets:
        params.append((SECRETS_PARAM, json.dumps(secrets)))
    return params
