"""The docker CLI's credentials: ``config.json`` (``auths``, ``credsStore``, ``credHelpers``).

Read and written where docker keeps them (``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``), so ``docker login`` and ``dockyard login`` share one file. A helper
(``docker-credential-<name>``) is run with ``get``/``store``/``erase`` as the docker CLI runs it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.cli.client import CliError

INDEX_SERVER = "https://index.docker.io/v1/"
_HELPER_TIMEOUT = 30


TOKEN_USERNAME = "<token>"  # a credential helper's Username when its Secret is an identity token


@dataclass(frozen=True, slots=True)
class Credentials:
    """A login: a password, or an *identity token* (a refresh token the registry's token server
    gave at login, kept instead of the password, as the docker CLI keeps it)."""

    username: str = ""
    password: str = ""
    server: str = ""
    identity_token: str = ""

    def header(self) -> str:
        """``X-Registry-Auth``: base64url of the AuthConfig JSON, as the docker CLI encodes it."""
        body = {"username": self.username, "password": self.password, "serveraddress": self.server}
        if self.identity_token:
            body["identitytoken"] = self.identity_token
        return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def server_of_address(address: str) -> str:
    """``docker login [SERVER]``: the key for a server address (Docker Hub's index URL by default)."""
    host = address.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if not host or host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return INDEX_SERVER
    return host


def server_of_reference(ref: str) -> str:
    """The key for an image reference: its registry host, Docker Hub when it names none."""
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return server_of_address(first)
    return INDEX_SERVER


def _load() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise CliError(f"loading config file {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def config_format(key: str) -> str | None:
    """A listing's default template from config.json (``psFormat``, ``imagesFormat``…), as docker."""
    value = _load().get(key)
    return str(value) if value else None


def _save(data: dict[str, Any]) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent="\t") + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _helper(data: dict[str, Any], server: str) -> str | None:
    helpers = data.get("credHelpers") or {}
    return str(helpers.get(server) or data.get("credsStore") or "") or None


def _run_helper(helper: str, verb: str, payload: str) -> str:
    try:
        done = subprocess.run([f"docker-credential-{helper}", verb], input=payload, capture_output=True,
                              text=True, timeout=_HELPER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CliError(f"error getting credentials - err: {exc}") from exc
    if done.returncode != 0:
        out = (done.stdout or done.stderr).strip()
        if "credentials not found" in out:
            return ""
        raise CliError(f"error {verb} credentials - err: exit status {done.returncode}, out: `{out}`")
    return done.stdout


def load(server: str) -> Credentials:
    data = _load()
    helper = _helper(data, server)
    if helper is not None:
        out = _run_helper(helper, "get", server)
        if not out.strip():
            return Credentials(server=server)
        found = json.loads(out)
        user, secret = str(found.get("Username", "")), str(found.get("Secret", ""))
        if user == TOKEN_USERNAME:
            return Credentials(server=server, identity_token=secret)
        return Credentials(user, secret, server)
    entry = (data.get("auths") or {}).get(server) or {}
    user, password = "", ""
    if entry.get("auth"):
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return Credentials(user, password, server, str(entry.get("identitytoken") or ""))


def store(creds: Credentials) -> None:
    data = _load()
    helper = _helper(data, creds.server)
    auths = data.setdefault("auths", {})
    if helper is not None:
        user, secret = (TOKEN_USERNAME, creds.identity_token) if creds.identity_token else \
            (creds.username, creds.password)
        _run_helper(helper, "store", json.dumps({"ServerURL": creds.server, "Username": user,
                                                 "Secret": secret}))
        auths[creds.server] = {}
    else:
        raw = f"{creds.username}:{creds.password}".encode()
        auths[creds.server] = {"auth": base64.b64encode(raw).decode()}
        if creds.identity_token:
            auths[creds.server]["identitytoken"] = creds.identity_token
    _save(data)


def erase(server: str) -> bool:
    """Forget ``server``'s credentials; False when there were none."""
    data = _load()
    auths = data.get("auths") or {}
    helper = _helper(data, server)
    if helper is not None:
        _run_helper(helper, "erase", server)
    if server not in auths and helper is None:
        return False
    auths.pop(server, None)
    _save(data)
    return True
