"""``HttpxRegistry``: the OCI distribution protocol (Docker Registry v2) over httpx.

Endpoints: ``docker.io`` is served at ``registry-1.docker.io`` (after the ``registry-mirrors``, for
pulls); any other host at itself. Which hosts may answer without verified TLS, and which CAs
verify the others, is decided in :mod:`registry_endpoints`. An insecure registry is tried over
HTTPS without verification, then HTTP, and the scheme that answered is remembered.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin

from dockyard.backends.registry_auth import TokenCache, basic_header, fetch_token, parse_challenge
from dockyard.backends.registry_endpoints import CertsDirs, is_insecure, parse_mirror, transport_error
from dockyard.core.distribution.model import MANIFEST_TYPES, AuthConfig, Repository
from dockyard.errors import (
    DockyardError,
    Forbidden,
    InvalidArgument,
    NotFound,
    Unauthorized,
    Unavailable,
    Unimplemented,
)

if TYPE_CHECKING:
    import httpx
else:
    from dockyard.imports import lazy

    httpx = lazy("httpx")  # on first use: ~6 MB an idle daemon need not hold (dockyard/imports.py)

log = logging.getLogger(__name__)

DOCKER_HUB = "registry-1.docker.io"
CERTS_DIRS = (Path("/etc/docker/certs.d"), Path("/etc/dockyard/certs.d"))
MONOLITHIC_MAX = 16 << 20
CHUNK_SIZE = 16 << 20


@cache
def _timeout() -> httpx.Timeout:
    return httpx.Timeout(60.0, connect=10.0)


T = TypeVar("T")


class HttpxRegistry:
    def __init__(self, *, insecure_registries: tuple[str, ...] = (),
                 certs_dirs: tuple[Path, ...] = CERTS_DIRS, registry_mirrors: tuple[str, ...] = (),
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport  # tests plug an httpx.MockTransport registry in here
        self._insecure = tuple(insecure_registries)
        self._certs = CertsDirs(certs_dirs)
        self._clients: dict[tuple[str, bool], tuple[object, httpx.AsyncClient]] = {}
        self._retired: list[httpx.AsyncClient] = []
        mirrors = [parse_mirror(url) for url in registry_mirrors]
        self._mirrors = tuple(m.host for m in mirrors)
        # A mirror's URL names its scheme: no probing.
        self._schemes: dict[str, str] = {m.host: m.scheme for m in mirrors}
        self._tokens = TokenCache()

    async def close(self) -> None:
        clients = [client for _, client in self._clients.values()] + self._retired
        self._clients.clear()
        self._retired.clear()
        for client in clients:
            await client.aclose()

    # ---- endpoints and TLS ----
    def insecure(self, host: str) -> bool:
        return is_insecure(host, self._insecure)

    def _client(self, host: str, verify: bool) -> httpx.AsyncClient:
        fingerprint = self._certs.fingerprint(host) if verify else ()
        cached = self._clients.get((host, verify))
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        if cached is not None:
            # The certs dir changed: new trust, new connections; the old client may still be
            # streaming, so it is closed with the others on shutdown.
            self._retired.append(cached[1])
        tls = self._certs.context(host) if verify else False
        client = httpx.AsyncClient(verify=tls, timeout=_timeout(), follow_redirects=True,
                                   transport=self._transport)
        self._clients[(host, verify)] = (fingerprint, client)
        return client

    async def _base(self, host: str) -> str:
        """The URL prefix of ``host``'s API; probes HTTPS then HTTP for an insecure registry."""
        endpoint = DOCKER_HUB if host == "docker.io" else host
        scheme = self._schemes.get(host)
        if scheme is not None:
            return f"{scheme}://{endpoint}"
        if not self.insecure(host):
            self._schemes[host] = "https"
            return f"https://{endpoint}"
        try:
            await self._client(host, False).get(f"https://{endpoint}/v2/", timeout=5.0)
            self._schemes[host] = "https"
        except httpx.HTTPError:
            self._schemes[host] = "http"
        return f"{self._schemes[host]}://{endpoint}"

    def _http(self, host: str) -> httpx.AsyncClient:
        return self._client(host, not self.insecure(host))

    async def _pull_from(self, repo: Repository, operation: Callable[[Repository], Awaitable[T]]) -> T:
        """Run a read on the mirrors of docker.io in order, then on docker.io itself; as moby,
        any error from a mirror moves on to the next endpoint."""
        if repo.host != "docker.io" or repo.push or not self._mirrors:
            return await operation(repo)
        for mirror in self._mirrors:
            try:
                return await operation(replace(repo, host=mirror))
            except DockyardError as exc:
                log.warning("mirror %s failed for %s (%s); trying the next endpoint", mirror, repo.path, exc)
        return await operation(repo)

    # ---- requests with authentication ----
    async def _send(self, repo: Repository, request: httpx.Request, *, stream: bool = False,
                    extra_scopes: tuple[str, ...] = ()) -> httpx.Response:
        scopes = (_scope(repo),) + extra_scopes
        client = self._http(repo.host)
        for attempt in range(2):
            header = self._tokens.header(repo.host, scopes, repo.auth)
            if header is not None:
                request.headers["Authorization"] = header
            try:
                response = await client.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise transport_error(request.method, request.url, exc) from exc
            if response.status_code != 401 or attempt == 1:
                return response
            await response.aclose()
            await self._authenticate(repo.host, response, scopes, repo.auth)
        raise AssertionError("unreachable")

    async def _authenticate(self, host: str, response: httpx.Response, scopes: tuple[str, ...],
                            auth: AuthConfig) -> None:
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            raise Unauthorized(f"{response.request.url}: unauthorized: authentication required")
        self._tokens.challenges[host] = challenge
        if challenge.scheme == "bearer":
            token = await fetch_token(self._http(host), challenge, scopes, auth)
            self._tokens.tokens[(host, scopes, auth)] = (token.header, token.expiry)
        elif auth.anonymous:
            raise Unauthorized(f"{response.request.url}: no basic auth credentials")

    async def _request(self, repo: Repository, method: str, path: str, **kwargs: Any) -> httpx.Response:
        base = await self._base(repo.host)
        request = self._http(repo.host).build_request(method, f"{base}/v2/{repo.path}/{path}", **kwargs)
        response = await self._send(repo, request)
        await response.aread()
        return response

    # ---- the Registry Protocol ----
    async def get_manifest(self, repo: Repository, reference: str) -> tuple[bytes, str]:
        return await self._pull_from(repo, lambda r: self._get_manifest(r, reference))

    async def _get_manifest(self, repo: Repository, reference: str) -> tuple[bytes, str]:
        try:
            response = await self._request(repo, "GET", f"manifests/{reference}",
                                           headers={"Accept": ", ".join(MANIFEST_TYPES)})
            if response.status_code in (401, 403) and not repo.push:
                _check(response, repo, "pull")
        except (Unauthorized, Forbidden) as exc:
            if repo.push:
                raise
            # As moby's pull: a refused read is "not found or needs login" (a 404, so that the
            # CLI does not offer an interactive login).
            raise NotFound(f"pull access denied for {_familiar(repo)}, repository does not exist or"
                           f" may require 'docker login': {exc}") from exc
        if response.status_code == 404:
            raise NotFound(_manifest_missing(repo, reference, response))
        _check(response, repo, "pull")
        return response.content, response.headers.get("Content-Type", "").split(";")[0]

    async def fetch_blob(self, repo: Repository, digest: str, offset: int = 0) -> AsyncIterator[bytes]:
        response = await self._pull_from(repo, lambda r: self._open_blob(r, digest, offset))
        try:
            skip = offset if response.status_code == 200 else 0
            async for chunk in response.aiter_bytes():  # no re-chunking: a break loses nothing
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                if chunk:
                    yield chunk
        except httpx.HTTPError as exc:
            raise Unavailable(f"error reading blob {digest}: {exc}") from exc
        finally:
            await response.aclose()

    async def _open_blob(self, repo: Repository, digest: str, offset: int) -> httpx.Response:
        """The blob's response, its body not read yet; an error status raises (and closes it)."""
        base = await self._base(repo.host)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        request = self._http(repo.host).build_request("GET", f"{base}/v2/{repo.path}/blobs/{digest}",
                                                      headers=headers)
        response = await self._send(repo, request, stream=True)
        if response.status_code < 400:
            return response
        try:
            if response.status_code == 404:
                raise NotFound(f"blob {digest} not found in {repo.host}/{repo.path}: blob unknown")
            await response.aread()
            _check(response, repo, "pull")
            raise Unavailable(f"blob {digest}: status {response.status_code}")  # _check raised already
        except httpx.HTTPError as exc:
            raise Unavailable(f"error reading blob {digest}: {exc}") from exc
        finally:
            await response.aclose()

    async def blob_size(self, repo: Repository, digest: str) -> int | None:
        response = await self._request(repo, "HEAD", f"blobs/{digest}")
        if response.status_code == 404:
            return None
        _check(response, repo, "push" if repo.push else "pull")
        return int(response.headers.get("Content-Length", "0"))

    async def mount_blob(self, repo: Repository, digest: str, from_path: str) -> bool:
        base = await self._base(repo.host)
        request = self._http(repo.host).build_request(
            "POST", f"{base}/v2/{repo.path}/blobs/uploads/", params={"mount": digest, "from": from_path})
        response = await self._send(repo, request, extra_scopes=(f"repository:{from_path}:pull",))
        await response.aread()
        if response.status_code == 201:
            return True
        if response.status_code == 202 and "Location" in response.headers:
            cancel = self._http(repo.host).build_request("DELETE", self._location(base, response))
            await (await self._send(repo, cancel)).aread()
            return False
        _check(response, repo, "push")
        return False

    async def upload_blob(self, repo: Repository, digest: str, path: Path,
                          progress: Callable[[int], None]) -> None:
        base = await self._base(repo.host)
        start = await self._request(repo, "POST", "blobs/uploads/")
        _check(start, repo, "push")
        location = self._location(base, start)
        size = path.stat().st_size
        with path.open("rb") as f:
            if size <= MONOLITHIC_MAX:
                response = await self._put_blob(repo, location, digest, f.read())
            else:
                location = await self._patch_chunks(repo, base, location, f, size, progress)
                response = await self._put_blob(repo, location, digest, b"")
        _check(response, repo, "push")
        progress(size)

    async def _patch_chunks(self, repo: Repository, base: str, location: str, f: Any, size: int,
                            progress: Callable[[int], None]) -> str:
        sent = 0
        while chunk := f.read(CHUNK_SIZE):
            headers = {"Content-Type": "application/octet-stream",
                       "Content-Range": f"{sent}-{sent + len(chunk) - 1}"}
            request = self._http(repo.host).build_request("PATCH", location, content=chunk, headers=headers)
            response = await self._send(repo, request)
            await response.aread()
            _check(response, repo, "push")
            location = self._location(base, response)
            sent += len(chunk)
            progress(sent)
        return location

    async def _put_blob(self, repo: Repository, location: str, digest: str, data: bytes) -> httpx.Response:
        # The upload URL carries the registry's own state in its query: merge, never replace.
        url = httpx.URL(location).copy_merge_params({"digest": digest})
        request = self._http(repo.host).build_request(
            "PUT", url, content=data,
            headers={"Content-Type": "application/octet-stream"})
        response = await self._send(repo, request)
        await response.aread()
        return response

    @staticmethod
    def _location(base: str, response: httpx.Response) -> str:
        location = str(response.headers.get("Location") or "")
        if not location:
            raise Unavailable(f"registry answered {response.status_code} without a Location header")
        return urljoin(base + "/", location)

    async def put_manifest(self, repo: Repository, tag: str, data: bytes, media_type: str) -> None:
        response = await self._request(repo, "PUT", f"manifests/{tag}", content=data,
                                       headers={"Content-Type": media_type})
        _check(response, repo, "push")

    async def list_tags(self, repo: Repository) -> list[str]:
        return await self._pull_from(repo, self._list_tags)

    async def _list_tags(self, repo: Repository) -> list[str]:
        response = await self._request(repo, "GET", "tags/list")
        if response.status_code == 404:
            raise NotFound(f"repository {repo.host}/{repo.path} not found: name unknown")
        _check(response, repo, "pull")
        return [str(t) for t in response.json().get("tags") or []]

    async def login(self, host: str, auth: AuthConfig) -> str:
        base = await self._base(host)
        url = f"{base}/v2/"
        client = self._http(host)
        identity_token = ""
        try:
            response = await client.get(url)
            if response.status_code == 401:
                challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
                if challenge is not None and challenge.scheme == "bearer":
                    token = await fetch_token(client, challenge, (), auth, offline=True)
                    identity_token = token.refresh_token or auth.identity_token
                    response = await client.get(url, headers={"Authorization": token.header})
                else:
                    response = await client.get(url, headers={"Authorization": basic_header(auth)})
        except httpx.HTTPError as exc:
            raise transport_error("GET", url, exc) from exc
        except Unauthorized as exc:
            raise Unauthorized(f"login attempt to {url} failed with status: 401 Unauthorized") from exc
        if response.status_code in (401, 403):
            raise Unauthorized(f"login attempt to {url} failed with status: {response.status_code}"
                               f" {response.reason_phrase}")
        if response.status_code >= 400:
            raise Unavailable(f"login attempt to {url} failed with status: {response.status_code}")
        return identity_token

    async def search(self, host: str, term: str, limit: int, auth: AuthConfig) -> list[dict[str, Any]]:
        base = "https://index.docker.io" if host == "docker.io" else await self._base(host)
        headers = {} if auth.anonymous else {"Authorization": basic_header(auth)}
        try:
            response = await self._http(host).get(f"{base}/v1/search", params={"q": term, "n": str(limit)},
                                                  headers=headers)
        except httpx.HTTPError as exc:
            raise transport_error("GET", f"{base}/v1/search", exc) from exc
        if response.status_code in (404, 405):
            raise Unimplemented(f"registry {host} does not support search (GET /v1/search answered"
                                f" {response.status_code})")
        if response.status_code >= 400:
            raise Unavailable(f"search on {host} failed with status: {response.status_code}")
        return list(response.json().get("results") or [])


def _scope(repo: Repository) -> str:
    return f"repository:{repo.path}:{'pull,push' if repo.push else 'pull'}"


def _errors(response: httpx.Response) -> str:
    try:
        items: list[dict[str, Any]] = response.json().get("errors") or []
        return "; ".join(f"{str(e.get('code', '')).lower().replace('_', ' ')}: {e.get('message', '')}"
                         for e in items)
    except (ValueError, AttributeError):
        return response.text.strip()[:200]


def _familiar(repo: Repository) -> str:
    return repo.path.removeprefix("library/") if repo.host == "docker.io" else f"{repo.host}/{repo.path}"


def _manifest_missing(repo: Repository, reference: str, response: httpx.Response) -> str:
    sep = "@" if reference.startswith("sha256:") else ":"
    name = _familiar(repo)
    detail = _errors(response) or "manifest unknown"
    return f"manifest for {name}{sep}{reference} not found: {detail}"


def _check(response: httpx.Response, repo: Repository, action: str) -> None:
    status = response.status_code
    if status < 400:
        return
    name = f"{repo.host}/{repo.path}"
    detail = _errors(response)
    if status == 401:
        detail = detail or "authentication required"
        raise Unauthorized(f"{action} access denied for {name}: unauthorized: {detail}")
    if status == 403:
        detail = detail or "requested access to the resource is denied"
        raise Forbidden(f"{action} access denied for {name}, repository does not exist or may require "
                        f"'docker login': denied: {detail}")
    if status == 404:
        raise NotFound(f"{name}: {detail or 'not found'}")
    if status in (400, 405, 411, 413, 416):
        raise InvalidArgument(f"{name}: {status} {response.reason_phrase}: {detail}")
    raise Unavailable(f"{name}: received unexpected HTTP status: {status} {response.reason_phrase}"
                      + (f": {detail}" if detail else ""))
