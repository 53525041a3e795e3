"""Identifiers: digests, image and container IDs, kept apart by NewType.

*digest*: ``sha256:<64 hex>`` of bytes as stored. *DiffID*: digest of an uncompressed layer tar.
*ChainID*: digest identifying a stack of layers (OCI image spec ``ChainID``). Container and exec IDs
are 64 hex characters with 12-character short forms, as Docker's.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import NewType

from dockyard.errors import InvalidArgument

Digest = NewType("Digest", str)
ImageId = NewType("ImageId", str)  # the config digest, "sha256:<hex>"
ContainerId = NewType("ContainerId", str)  # 64 hex, no algorithm prefix
ExecId = NewType("ExecId", str)
ChainId = NewType("ChainId", str)

SHORT_LEN = 12
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


def digest_of(data: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def parse_digest(value: str) -> Digest:
    if not _DIGEST_RE.match(value):
        raise InvalidArgument(f"invalid digest {value!r}")
    return Digest(value)


def is_full_hex_id(value: str) -> bool:
    return bool(_HEX64_RE.match(value))


def new_container_id() -> ContainerId:
    return ContainerId(secrets.token_hex(32))


def new_exec_id() -> ExecId:
    return ExecId(secrets.token_hex(32))


def chain_ids(diff_ids: list[str]) -> list[ChainId]:
    """ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))."""
    result: list[ChainId] = []
    for diff_id in diff_ids:
        if not result:
            result.append(ChainId(diff_id))
        else:
            joined = f"{result[-1]} {diff_id}".encode()
            result.append(ChainId("sha256:" + hashlib.sha256(joined).hexdigest()))
    return result


def hex_of(digest: str) -> str:
    """The hex part of ``sha256:<hex>``; the name used for files and directories."""
    return digest.split(":", 1)[1] if ":" in digest else digest
