"""Not tests: an in-memory registry behind ``httpx.MockTransport`` for test_distribution.py:
manifests, blobs (with Range), uploads, mounts, tags, and optionally Bearer token auth, plus
knobs to corrupt or cut a blob transfer."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Cut(httpx.AsyncByteStream):
    """A body that sends ``data[:cut]`` and then breaks like a dropped connection."""

    def __init__(self, data: bytes, cut: int) -> None:
        self._data, self._cut = data, cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._data[: self._cut]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


@dataclass
class FakeRegistry:
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    users: dict[str, str] | None = None  # token auth when set
    corrupt: set[str] = field(default_factory=set)
    cut_once: set[str] = field(default_factory=set)
    blob_gets: list[tuple[str, str | None]] = field(default_factory=list)
    token_scopes: list[list[str]] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    uploads: dict[str, bytearray] = field(default_factory=dict)
    oauth: bool = False  # the token server hands out refresh tokens (identity tokens) on login
    token_grants: list[str] = field(default_factory=list)  # "get", "get-offline", "refresh_token"

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def put_manifest(self, repo: str, tag: str, data: bytes, media_type: str) -> str:
        self.manifests[(repo, tag)] = (data, media_type)
        self.manifests[(repo, digest(data))] = (data, media_type)
        return digest(data)

    def put_blob(self, data: bytes) -> str:
        self.blobs[digest(data)] = data
        return digest(data)

    # ---- HTTP ----
    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return self._token(request)
        if self.users is not None and request.headers.get("Authorization") != "Bearer good-token":
            return httpx.Response(401, headers={"WWW-Authenticate":
                                                'Bearer realm="https://auth.test/token",service="reg"'})
        path = request.url.path
        if path == "/v2/":
            return httpx.Response(200, json={})
        match = re.match(r"^/v2/(.+)/(manifests|blobs|tags)/(.*)$", path)
        if match is None:
            return httpx.Response(404)
        repo, kind, rest = match.groups()
        if kind == "manifests":
            return self._manifest(request, repo, rest)
        if kind == "tags":
            tags = sorted({t for (r, t) in self.manifests if r == repo and not t.startswith("sha256:")})
            return httpx.Response(200, json={"name": repo, "tags": tags})
        if rest.startswith("uploads"):
            return self._upload(request, repo, rest)
        return self._blob(request, rest)

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return self._oauth_token(request)
        offline = request.url.params.get("offline_token") == "true"
        self.token_grants.append("get-offline" if offline else "get")
        header = request.headers.get("Authorization", "")
        user, _, password = base64.b64decode(header[6:]).decode().partition(":") if header else ("", "", "")
        assert self.users is not None
        if self.users.get(user) != password:
            return httpx.Response(401)
        self.token_scopes.append(request.url.params.get_list("scope"))
        body = {"token": "good-token", "expires_in": 60}
        if self.oauth and offline and user:
            body["refresh_token"] = f"refresh-{user}"
        return httpx.Response(200, json=body)

    def _oauth_token(self, request: httpx.Request) -> httpx.Response:
        """OAuth2's refresh-token grant, as Docker's daemon uses an identity token."""
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.token_grants.append(form.get("grant_type", ""))
        assert self.users is not None
        valid = {f"refresh-{u}" for u in self.users}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") not in valid \
                or form.get("client_id") != "docker":
            return httpx.Response(401, json={"error": "invalid_grant"})
        self.token_scopes.append(form.get("scope", "").split())
        return httpx.Response(200, json={"access_token": "good-token", "expires_in": 60})

    def _manifest(self, request: httpx.Request, repo: str, ref: str) -> httpx.Response:
        if request.method == "PUT":
            self.put_manifest(repo, ref, request.content, request.headers["Content-Type"])
            return httpx.Response(201)
        found = self.manifests.get((repo, ref))
        if found is None:
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN",
                                                         "message": "manifest unknown"}]})
        return httpx.Response(200, content=found[0], headers={"Content-Type": found[1]})

    def _blob(self, request: httpx.Request, name: str) -> httpx.Response:
        data = self.blobs.get(name)
        if data is None:
            return httpx.Response(404)
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Content-Length": str(len(data))})
        range_header = request.headers.get("Range")
        self.blob_gets.append((name, range_header))
        if name in self.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 1])
        if name in self.cut_once:
            self.cut_once.discard(name)
            return httpx.Response(200, stream=_Cut(data, len(data) // 2))
        if range_header:
            start = int(range_header.removeprefix("bytes=").rstrip("-"))
            return httpx.Response(206, content=data[start:])
        return httpx.Response(200, content=data)

    def _upload(self, request: httpx.Request, repo: str, rest: str) -> httpx.Response:
        if request.method == "POST":
            mount = request.url.params.get("mount")
            if mount and mount in self.blobs:
                self.mounts.append(mount)
                return httpx.Response(201)
            uid = f"u{len(self.uploads)}"
            self.uploads[uid] = bytearray()
            return httpx.Response(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{uid}?_state=x"})
        uid = rest.split("/", 1)[1]
        if request.method == "PATCH":
            self.uploads[uid] += request.content
            return httpx.Response(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{uid}?_state=y"})
        if request.method == "PUT":
            assert request.url.params.get("_state"), "the upload state must survive the digest param"
            data = bytes(self.uploads.pop(uid) + request.content)
            if digest(data) != request.url.params["digest"]:
                return httpx.Response(400, json={"errors": [{"code": "DIGEST_INVALID"}]})
            self.blobs[digest(data)] = data
            return httpx.Response(201)
        return httpx.Response(405)


def manifest_for(reg: FakeRegistry, config: dict[str, object], layers: list[tuple[bytes, str]]) -> bytes:
    """Store config and layer blobs; return a schema2/OCI manifest naming them."""
    config_bytes = json.dumps(config).encode()
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": reg.put_blob(config_bytes), "size": len(config_bytes)},
           "layers": [{"mediaType": media, "digest": reg.put_blob(blob), "size": len(blob)}
                      for blob, media in layers]}
    return json.dumps(doc).encode()
