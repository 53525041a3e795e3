"""The swarm's data key: secrets and configs are encrypted with it at rest (AES-256-GCM).

Without autolock the key sits next to the database, as swarmkit's raft key sits in the node's TLS
key. With autolock the key is stored only wrapped by a key derived from the *unlock key*
(``SWMKEY-1-…``, shown once by ``docker swarm init --autolock`` and ``docker swarm unlock-key``): a
restarted daemon cannot read it until ``docker swarm unlock`` hands the unlock key back.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from dockyard.errors import InvalidArgument

# cryptography is imported where a key is used, not with the module: it adds about 6 MB to the
# resident size of every daemon, and only a swarm with secrets or configs needs it.

UNLOCK_PREFIX = "SWMKEY-1-"
_NONCE = 12


def new_unlock_key() -> str:
    return UNLOCK_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _kek(unlock_key: str, salt: bytes) -> bytes:
    if not unlock_key.startswith(UNLOCK_PREFIX):
        raise InvalidArgument("swarm could not be unlocked: invalid key provided")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    material = unlock_key[len(UNLOCK_PREFIX):].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"dockyard swarm kek").derive(material)


def seal(key: bytes, plain: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plain, None)


def open_sealed(key: bytes, sealed: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], None)


class KeyFile:
    """``<data-root>/swarm/key.json``: the data key, plain or wrapped by the unlock key."""

    def __init__(self, path: Path) -> None:
        self._path = path

    @property
    def exists(self) -> bool:
        return self._path.exists()

    @property
    def locked(self) -> bool:
        """True when the stored key is wrapped (autolock): the daemon starts locked."""
        return self.exists and "wrapped" in json.loads(self._path.read_text())

    def create(self) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = AESGCM.generate_key(bit_length=256)
        self.store(key, None)
        return key

    def store(self, key: bytes, unlock_key: str | None) -> None:
        if unlock_key is None:
            record = {"key": key.hex()}
        else:
            salt = os.urandom(16)
            record = {"salt": salt.hex(), "wrapped": seal(_kek(unlock_key, salt), key).hex()}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.chmod(tmp, 0o600)
        tmp.replace(self._path)

    def load(self, unlock_key: str | None = None) -> bytes:
        record = json.loads(self._path.read_text())
        if "key" in record:
            return bytes.fromhex(record["key"])
        if unlock_key is None:
            raise InvalidArgument("swarm could not be unlocked: invalid key provided")
        from cryptography.exceptions import InvalidTag

        salt = bytes.fromhex(record["salt"])
        try:
            return open_sealed(_kek(unlock_key, salt), bytes.fromhex(record["wrapped"]))
        except InvalidTag as exc:
            raise InvalidArgument("swarm could not be unlocked: invalid key provided") from exc

    def remove(self) -> None:
        self._path.unlink(missing_ok=True)
