"""Users, sessions, CSRF and login throttling of the web UI.

Passwords are kept only as scrypt hashes (memory-hard: n=2**14, r=8, p=1 is 16 MiB per check, which
also slows guessing) in ``users.json`` (mode 0600) under the UI's state directory. Sessions live in
memory: a restart logs everyone out, which is the safe default for a management console. Each
session has its own CSRF token, which every state-changing request must echo in ``X-CSRF-Token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ADMIN = "admin"
VIEWER = "viewer"
_N, _R, _P = 2**14, 8, 1
SESSION_TTL = 8 * 3600.0
MAX_FAILURES = 5          # failed logins per address …
FAILURE_WINDOW = 60.0     # … in this many seconds, then 429 until the window has passed


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + "$".join(base64.b64encode(x).decode() for x in (salt, digest))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=len(digest))
    return hmac.compare_digest(candidate, digest)


class UserStore:
    """``users.json``: user name → {"hash", "role"}; roles are ``admin`` and ``viewer`` (read-only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: dict[str, dict[str, str]] = {}
        if path.exists():
            data = json.loads(path.read_text())
            self._users = {str(k): dict(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def has(self, user: str) -> bool:
        return user in self._users

    def set(self, user: str, password: str, role: str) -> None:
        if not password:
            raise ValueError(f"the password of {user!r} is empty")
        self._users[user] = {"hash": hash_password(password), "role": role}
        self._save()

    def remove(self, user: str) -> None:
        if self._users.pop(user, None) is not None:
            self._save()

    def check(self, user: str, password: str) -> str | None:
        """The user's role when the password is right, else ``None`` (same cost either way)."""
        entry = self._users.get(user)
        ok = verify_password(password, entry["hash"] if entry else _DUMMY_HASH)
        return entry["role"] if entry and ok else None

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(self._users, out, indent=1)
        os.replace(tmp, self.path)


# Checked against when the user does not exist, so a wrong name costs as much as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


@dataclass(slots=True)
class Session:
    user: str
    role: str
    csrf: str
    expires: float

    @property
    def read_only(self) -> bool:
        return self.role != ADMIN


class SessionStore:
    def __init__(self, ttl: float = SESSION_TTL) -> None:
        self._ttl = ttl
        self._sessions: dict[str, Session] = {}

    def create(self, user: str, role: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(user, role, secrets.token_urlsafe(32), time.monotonic() + self._ttl)
        self._sessions[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if session.expires < time.monotonic():
            del self._sessions[token]
            return None
        return session

    def drop(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)


@dataclass(slots=True)
class LoginThrottle:
    """At most :data:`MAX_FAILURES` failed logins per client address per :data:`FAILURE_WINDOW`."""

    failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, address: str) -> float:
        now = time.monotonic()
        recent = self.failures.get(address)
        if not recent:
            return 0.0
        while recent and recent[0] < now - FAILURE_WINDOW:
            recent.popleft()
        if len(recent) < MAX_FAILURES:
            return 0.0
        return recent[0] + FAILURE_WINDOW - now

    def failed(self, address: str) -> None:
        self.failures.setdefault(address, deque()).append(time.monotonic())

    def succeeded(self, address: str) -> None:
        self.failures.pop(address, None)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent or "")
