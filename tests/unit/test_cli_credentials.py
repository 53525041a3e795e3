"""The CLI's credentials file: identity tokens are kept as the docker CLI keeps them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from dockyard.cli import credentials
from dockyard.core.distribution.model import decode_auth_header


def test_identity_token_is_stored_without_the_password_and_sent(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    credentials.store(credentials.Credentials("alice", "", "reg.example:5000", "refresh-123"))
    entry = json.loads((tmp_path / "config.json").read_text())["auths"]["reg.example:5000"]
    assert entry == {"auth": base64.b64encode(b"alice:").decode(), "identitytoken": "refresh-123"}
    loaded = credentials.load("reg.example:5000")
    auth = decode_auth_header(loaded.header())
    assert (auth.username, auth.password, auth.identity_token) == ("alice", "", "refresh-123")


def test_password_logins_send_no_identity_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    credentials.store(credentials.Credentials("bob", "pw", "reg.example:5000"))
    auth = decode_auth_header(credentials.load("reg.example:5000").header())
    assert (auth.username, auth.password, auth.identity_token) == ("bob", "pw", "")
    auths = json.loads((tmp_path / "config.json").read_text())["auths"]
    assert "identitytoken" not in auths["reg.example:5000"]
