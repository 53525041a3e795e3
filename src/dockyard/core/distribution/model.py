"""The vocabulary of distribution: media types, descriptors, registry targets and credentials.

A *descriptor* names a blob by digest, size and media type. A *manifest* lists an image's config
and layers; an *index* (Docker: manifest list) lists manifests per platform. A *repository* is the
name on one registry host (``localhost:5000`` + ``team/app``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
LAYER_TYPES = (DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD,
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")


def compression_of(media_type: str) -> str:
    """``gzip``, ``zstd`` or ``none`` for a layer media type."""
    if media_type.endswith("+zstd"):
        return "zstd"
    if media_type.endswith(("gzip", "+gzip")):
        return "gzip"
    return "none"


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Any) -> Descriptor:
        try:
            return cls(str(raw.get("mediaType") or ""), str(raw["digest"]), int(raw["size"]),
                       dict(raw.get("platform") or {}), tuple(raw.get("urls") or ()))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(f"invalid descriptor in manifest: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Credentials for one registry, as the client's ``X-Registry-Auth`` carries them."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""
    server_address: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)


def decode_auth_header(value: str | None) -> AuthConfig:
    """Decode ``X-Registry-Auth``: base64url JSON (padding optional), as docker clients send it."""
    if not value:
        return AuthConfig()
    try:
        raw = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(f"invalid X-Registry-Auth header: {exc}") from exc
    return auth_from_json(raw if isinstance(raw, dict) else {})


def auth_from_json(raw: dict[str, Any]) -> AuthConfig:
    """An ``AuthConfig`` JSON object (``/auth`` body, ``X-Registry-Auth``); ``auth`` is user:pass."""
    username, password = str(raw.get("username") or ""), str(raw.get("password") or "")
    if not username and raw.get("auth"):
        try:
            username, _, password = base64.b64decode(str(raw["auth"])).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"invalid auth field: {exc}") from exc
    return AuthConfig(username, password, str(raw.get("identitytoken") or ""),
                      str(raw.get("registrytoken") or ""), str(raw.get("serveraddress") or ""))


@dataclass(frozen=True, slots=True)
class Repository:
    """A repository on one registry host; ``push`` asks for push rights in token scopes."""

    host: str  # the reference's domain: docker.io, localhost:5000
    path: str  # library/busybox
    auth: AuthConfig = AuthConfig()
    push: bool = False


@dataclass(frozen=True, slots=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm",
                 "armel": "arm"}


def parse_platform(value: str | None, host: Platform) -> Platform:
    """``linux/arm64/v8`` → Platform; empty → the host's (containerd's platforms.Parse, simplified)."""
    if not value:
        return host
    parts = value.lower().split("/")
    if len(parts) == 1:
        parts = [host.os, parts[0]] if parts[0] not in ("linux", "windows") else [parts[0], host.architecture]
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"\"{value}\": unknown operating system or architecture: invalid argument")
    arch = _ARCH_ALIASES.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else ""
    if arch == "arm64" and variant == "v8":
        variant = ""
    return Platform(parts[0], arch, variant)


def host_platform(machine: str) -> Platform:
    return Platform("linux", _ARCH_ALIASES.get(machine, machine))
