"""BuildKit's ``dockerfile.v0`` frontend on our builder: its options, its local sources, one build.

A client asks for the Dockerfile frontend with options (``filename``, ``target``, ``build-arg:*``,
``label:*``, …) and two local sources on its session: ``dockerfile`` (the Dockerfile's directory)
and ``context``. The Dockerfile comes through file sync first, then the context (minus what its
``.dockerignore`` excludes, so ignored files never cross), written as a tar; then the classic
builder's service builds it and reports through the Status stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockyard.api.buildkit.progress import BuildStatus
from dockyard.api.buildkit.session import Session, receive_tar, secrets
from dockyard.core.builder.dockerfile import parse
from dockyard.core.builder.ignore import read_patterns
from dockyard.core.builder.model import BuildOptions
from dockyard.core.builder.mounts import parse_mount
from dockyard.core.builder.service import BuilderService
from dockyard.core.runtime.resources import check_create
from dockyard.errors import DockyardError, InvalidArgument, NotFound, Unimplemented

log = logging.getLogger(__name__)

DOCKERFILE_FRONTEND = ("dockerfile.v0", "gateway.v0")
_MAX_DOCKERFILE = 8 << 20

# Options that change nothing here, each for a reason:
_NO_EFFECT = {
    # Attestations (provenance, SBOM) are dropped by dockerd's own image store without the
    # containerd snapshotter, which this engine does not have either.
    "attest:provenance", "attest:sbom",
    # Which client feature set asked; frontend capability negotiation; a request ID for subrequests.
    "frontend.caps", "requestid",
    # The keys of the two local sources (we read their values) and the image-resolve mode "default".
    "contextkey", "dockerfilekey",
}


def options_for(attrs: Mapping[str, str]) -> BuildOptions:
    """``FrontendAttrs`` → the builder's options; a setting we cannot apply is refused."""
    log.debug("dockerfile frontend options: %s", dict(attrs))
    build_args: dict[str, str | None] = {}
    labels: dict[str, str] = {}
    run_host: dict[str, Any] = {}
    plain: dict[str, str] = {}
    for key, value in attrs.items():
        if key.startswith("build-arg:"):
            build_args[key[len("build-arg:"):]] = value
        elif key.startswith("label:"):
            labels[key[len("label:"):]] = value
        elif key in _NO_EFFECT or key.startswith("attest:"):
            log.debug("frontend option %s=%s has no effect here", key, value)
        else:
            plain[key] = value
    _refuse(plain)
    if plain.get("add-hosts"):
        run_host["ExtraHosts"] = [h.replace("=", ":", 1) for h in plain["add-hosts"].split(",") if h]
    if plain.get("shm-size"):
        run_host["ShmSize"] = _int(plain, "shm-size")
    if plain.get("cgroup-parent"):
        run_host["CgroupParent"] = plain["cgroup-parent"]
    network = plain.get("force-network-mode", "")
    return BuildOptions(
        dockerfile=plain.get("filename") or "Dockerfile",
        build_args=build_args,
        target=plain.get("target", ""),
        # Sorted, as the classic API's JSON object arrives: the LABEL step's cache key must not
        # depend on the order of a Go map's iteration.
        labels=dict(sorted(labels.items())),
        # "no-cache" with no value means every step; with stage names, those stages: we rebuild
        # everything in both cases (never reuse what was asked to be rebuilt).
        no_cache="no-cache" in plain,
        platform=plain.get("platform", ""),
        network_mode="" if network in ("", "default", "sandbox") else network,
        run_host=check_create(run_host) if run_host else {},
    )


_KNOWN = {"filename", "target", "no-cache", "platform", "force-network-mode", "add-hosts", "shm-size",
          "cgroup-parent", "image-resolve-mode"}


def _refuse(plain: dict[str, str]) -> None:
    if "," in plain.get("platform", ""):
        raise Unimplemented("multi-platform builds are not supported by this engine")
    # "local" (Compose's: use the engine's image if it is there) and "default" both resolve base
    # images in the engine here; "pull" would need the registry first.
    if plain.get("image-resolve-mode", "default") not in ("default", "local"):
        raise Unimplemented("--pull is not supported by this builder: pull the base image first")
    if plain.get("context") or plain.get("dockerfile"):
        raise Unimplemented("remote build contexts are not supported by this engine: use a local directory")
    if plain.get("ulimit"):
        raise Unimplemented("build ulimits are not supported through BuildKit's API here: "
                            "use DOCKER_BUILDKIT=0")
    for key in plain:
        if key not in _KNOWN:
            raise Unimplemented(f"build option {key!r} is not supported by this engine")


def _int(plain: dict[str, str], key: str) -> int:
    try:
        return int(plain[key])
    except ValueError as exc:
        raise InvalidArgument(f"invalid {key}: {plain[key]!r}") from exc


def _members(data: bytes) -> dict[str, bytes]:
    """The regular files of a small tar, by name."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.size <= _MAX_DOCKERFILE:
                f = tar.extractfile(member)
                if f is not None:
                    out[member.name] = f.read()
    return out


async def _small_tar(session: Session, name: str, include: list[str]) -> dict[str, bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        await receive_tar(session, name, tar, include=include)
    return _members(buffer.getvalue())


async def fetch(session: Session, attrs: Mapping[str, str], options: BuildOptions, dest: Path,
                status: BuildStatus) -> str:
    """Bring the Dockerfile's text and the context (as a tar at ``dest``) from the client."""
    vertex = await status.start("[internal] load build definition from " + options.dockerfile)
    files = await _small_tar(session, attrs.get("dockerfilekey") or "dockerfile", [options.dockerfile])
    text = files.get(options.dockerfile)
    if text is None:
        await status.complete(vertex, error="no Dockerfile")
        raise NotFound(f"Cannot locate specified Dockerfile: {options.dockerfile}")
    await status.complete(vertex)
    context = attrs.get("contextkey") or "context"
    vertex = await status.start("[internal] load .dockerignore")
    ignore = (await _small_tar(session, context, [".dockerignore"])).get(".dockerignore", b"")
    await status.complete(vertex)
    vertex = await status.start("[internal] load build context")
    patterns = read_patterns(ignore.decode(errors="replace"))
    # Exceptions (!pattern) may re-include what an earlier pattern excluded under a directory
    # fsutil would skip: then send everything and let the builder apply the file.
    exclude = [] if any(p.startswith("!") for p in patterns) else patterns
    with await asyncio.to_thread(tarfile.open, dest, "w") as tar:
        received = await receive_tar(session, context, tar, exclude=exclude)
    await status.log(vertex, f"transferred {len(received)} entries\n")
    await status.complete(vertex)
    return text.decode()


async def solve(builder: BuilderService, session: Session, attrs: Mapping[str, str], tags: tuple[str, ...],
                scratch: Path, status: BuildStatus) -> str:
    """One Dockerfile build; returns the image ID."""
    options = options_for(attrs)
    context_tar = scratch / "context.tar"
    text = await fetch(session, attrs, options, context_tar, status)
    try:
        wanted = await secrets(session, _secret_ids(text, options.dockerfile))
        options = dataclasses.replace(options, dockerfile_text=text, tags=tags, secrets=wanted)
        result = await builder.build(context_tar, options, status.emit)
    except Exception as exc:
        await status.fail(str(exc))
        raise
    return result.image_id


def _secret_ids(text: str, name: str) -> list[str]:
    """The secrets the Dockerfile's ``RUN --mount=type=secret`` steps name (fetched from the session
    before the build; a Dockerfile that does not parse fails in the builder with its message)."""
    try:
        dockerfile = parse(text, name)
    except DockyardError:
        return []
    ids: set[str] = set()
    for stage in dockerfile.stages:
        for ins in stage.instructions:
            for value in ins.flag_all("mount"):
                try:
                    mount = parse_mount(value, "/")
                except DockyardError:
                    continue
                if mount.type == "secret":
                    ids.add(mount.id)
    return sorted(ids)
