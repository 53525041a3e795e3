"""Pull, push and login against a real registry (Debian's docker-registry) on 127.0.0.1, through
the stock docker CLI: open, htpasswd basic auth, and token auth; multi-platform indexes; a corrupt
blob; a connection dropped mid-layer; interop with skopeo."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from .daemon import Daemon
from .registries import REGISTRY_BIN, BlobProxy, Registry, TokenServer

pytestmark = pytest.mark.skipif(not Path(REGISTRY_BIN).exists(), reason="docker-registry not installed")

USERS = {"alice": "s3cret-pass"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("registry-open"))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("registry-basic"), users=USERS)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, TokenServer]]:
    workdir = tmp_path_factory.mktemp("registry-token")
    token = TokenServer(workdir, USERS)
    reg = Registry(workdir, token=token)
    yield reg, token
    reg.stop()
    token.stop()


def _name(host: str, stem: str) -> str:
    return f"{host}/{stem}-{uuid.uuid4().hex[:8]}"


def _image_id(daemon: Daemon, ref: str) -> str:
    return daemon.docker_ok("image", "inspect", "-f", "{{.Id}}", ref).strip()


def _data_tar(size: int, name: str = "data.bin") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return buf.getvalue()


def _logout(daemon: Daemon, host: str) -> None:
    daemon.docker("logout", host)


def test_push_rmi_pull_gives_same_image_that_runs(daemon: Daemon, registry: Registry) -> None:
    ref = _name(registry.host, "bb") + ":v1"
    daemon.docker_ok("tag", "busybox:latest", ref)
    pushed_id = _image_id(daemon, ref)
    code, out, err = daemon.docker("push", ref)
    assert code == 0, err
    assert f"The push refers to repository [{ref.rsplit(':', 1)[0]}]" in out
    assert "Pushed" in out and "v1: digest: sha256:" in out
    daemon.docker_ok("rmi", ref)
    code, out, err = daemon.docker("pull", ref)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"v1: Pulling from {ref.split('/', 1)[1].rsplit(':', 1)[0]}"
    assert any(line.endswith(": Pull complete") or line.endswith(": Already exists") for line in lines)
    assert any(line.startswith("Digest: sha256:") for line in lines)
    assert f"Status: Downloaded newer image for {ref}" in lines
    assert lines[-1] == ref
    assert _image_id(daemon, ref) == pushed_id
    digests = daemon.docker_ok("image", "inspect", "-f", "{{json .RepoDigests}}", ref)
    assert ref.rsplit(":", 1)[0] + "@sha256:" in digests
    assert daemon.docker_ok("run", "--rm", ref, "echo", "pulled-and-ran").strip() == "pulled-and-ran"
    code, out, _ = daemon.docker("pull", ref)
    assert code == 0 and f"Status: Image is up to date for {ref}" in out
    # httpx's per-request INFO lines stay out of the daemon's log.
    assert "HTTP Request:" not in daemon.log_path.read_text()


def test_pull_by_digest_and_unknown_tag(daemon: Daemon, registry: Registry) -> None:
    repo = _name(registry.host, "dg")
    daemon.docker_ok("tag", "busybox:latest", repo + ":t")
    out = daemon.docker_ok("push", repo + ":t")
    digest = next(w for w in out.split() if w.startswith("sha256:"))
    daemon.docker_ok("rmi", repo + ":t")
    code, out, err = daemon.docker("pull", f"{repo}@{digest}")
    assert code == 0, err
    assert daemon.docker_ok("image", "inspect", "-f", "{{.Id}}", f"{repo}@{digest}").startswith("sha256:")
    code, _, err = daemon.docker("pull", repo + ":nope")
    assert code != 0
    assert "manifest unknown" in err and "not found" in err


def test_shared_base_layers_are_not_downloaded_again(daemon: Daemon, registry: Registry) -> None:
    repo = _name(registry.host, "shared")
    daemon.docker_ok("tag", "busybox:latest", repo + ":a")
    daemon.docker_ok("push", repo + ":a")
    daemon.docker_ok("rmi", repo + ":a")
    code, out, err = daemon.docker("pull", repo + ":a")  # busybox:latest still holds the layer
    assert code == 0, err
    assert "Already exists" in out and "Pull complete" not in out


def test_push_mounts_blobs_from_another_repository(daemon: Daemon, registry: Registry) -> None:
    first, second = _name(registry.host, "mnt-a") + ":1", _name(registry.host, "mnt-b") + ":1"
    daemon.docker_ok("tag", "busybox:latest", first)
    daemon.docker_ok("push", first)
    daemon.docker_ok("tag", "busybox:latest", second)
    code, out, err = daemon.docker("push", second)
    assert code == 0, err
    # From mnt-a or from any other repository of this registry that holds busybox's layer.
    assert ": Mounted from " in out and "Pushed" not in out


def test_basic_auth_login_stores_credentials_the_cli_uses(daemon: Daemon, basic_registry: Registry) -> None:
    host = basic_registry.host
    ref = _name(host, "private") + ":1"
    daemon.docker_ok("tag", "busybox:latest", ref)
    _logout(daemon, host)
    code, _, err = daemon.docker("push", ref, input="")
    assert code != 0 and ("no basic auth credentials" in err or "unauthorized" in err)
    code, _, err = daemon.docker("login", "-u", "alice", "--password-stdin", host, input="wrong\n")
    assert code != 0 and "401" in err
    code, out, err = daemon.docker("login", "-u", "alice", "--password-stdin", host, input="s3cret-pass\n")
    assert code == 0, err
    assert "Login Succeeded" in out
    config = json.loads((daemon.docker_config / "config.json").read_text())
    assert host in config["auths"]
    code, _, err = daemon.docker("push", ref)
    assert code == 0, err
    daemon.docker_ok("rmi", ref)
    code, _, err = daemon.docker("pull", ref)
    assert code == 0, err
    _logout(daemon, host)
    daemon.docker_ok("rmi", ref)
    # As with dockerd, the CLI offers to log in after a 401: an empty stdin declines.
    code, _, err = daemon.docker("pull", ref, input="")
    assert code != 0


def test_token_auth_push_and_pull(daemon: Daemon, token_registry: tuple[Registry, TokenServer]) -> None:
    reg, token = token_registry
    ref = _name(reg.host, "tok") + ":1"
    daemon.docker_ok("tag", "busybox:latest", ref)
    code, _, err = daemon.docker("push", ref, input="")
    assert code != 0, "an anonymous token grants no push"
    code, out, err = daemon.docker("login", "-u", "alice", "--password-stdin", reg.host,
                                   input="s3cret-pass\n")
    assert code == 0, err
    code, _, err = daemon.docker("push", ref)
    assert code == 0, err
    assert any("push" in s for r in token.requests if r["user"] == "alice" for s in r["scope"])
    image_id = _image_id(daemon, ref)
    daemon.docker_ok("rmi", ref)
    code, _, err = daemon.docker("pull", ref)
    assert code == 0, err
    assert _image_id(daemon, ref) == image_id
    _logout(daemon, reg.host)


@pytest.fixture(scope="module")
def oauth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, TokenServer]]:
    workdir = tmp_path_factory.mktemp("registry-oauth")
    token = TokenServer(workdir, USERS, oauth=True)
    reg = Registry(workdir, token=token)
    yield reg, token
    reg.stop()
    token.stop()


def _dockyard(daemon: Daemon, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], input=stdin,
                          capture_output=True, text=True, env=daemon.env(), timeout=120)


def test_identity_token_login_keeps_the_token_not_the_password(
        daemon: Daemon, oauth_registry: tuple[Registry, TokenServer]) -> None:
    reg, token = oauth_registry
    ref = _name(reg.host, "oauth") + ":1"
    daemon.docker_ok("tag", "busybox:latest", ref)
    code, out, err = daemon.docker("login", "-u", "alice", "--password-stdin", reg.host,
                                   input="s3cret-pass\n")
    assert code == 0 and "Login Succeeded" in out, err
    entry = json.loads((daemon.docker_config / "config.json").read_text())["auths"][reg.host]
    assert entry["identitytoken"] in token.refresh_tokens
    assert "s3cret-pass" not in json.dumps(entry)
    code, _, err = daemon.docker("push", ref)
    assert code == 0, err
    daemon.docker_ok("rmi", ref)
    code, _, err = daemon.docker("pull", ref)
    assert code == 0, err
    pushes = [r for r in token.requests
              if r["grant"] == "refresh_token" and any("push" in s for s in r["scope"])]
    assert pushes and all(r["user"] == "alice" for r in pushes)
    _logout(daemon, reg.host)
    # Our CLI keeps it the same way.
    done = _dockyard(daemon, "login", "-u", "alice", "--password-stdin", reg.host, stdin="s3cret-pass\n")
    assert done.returncode == 0 and "Login Succeeded" in done.stdout, done.stderr
    entry = json.loads((daemon.docker_config / "config.json").read_text())["auths"][reg.host]
    assert entry["identitytoken"] in token.refresh_tokens and "s3cret-pass" not in json.dumps(entry)
    daemon.docker_ok("rmi", ref)
    done = _dockyard(daemon, "pull", ref)
    assert done.returncode == 0, done.stderr
    _logout(daemon, reg.host)


def _manifest_descriptor(host: str, repo: str, tag: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{tag}", method="GET",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(request) as response:
        body = response.read()
        return {"mediaType": response.headers["Content-Type"], "size": len(body),
                "digest": response.headers["Docker-Content-Digest"]}


def test_index_picks_host_platform_and_platform_flag(daemon: Daemon, registry: Registry,
                                                     tmp_path: Path) -> None:
    repo_ref = _name(registry.host, "multi")
    repo = repo_ref.split("/", 1)[1]
    daemon.docker_ok("tag", "busybox:latest", repo_ref + ":amd64")
    tar = tmp_path / "arm.tar"
    tar.write_bytes(_data_tar(1000, "arm64-marker"))
    daemon.docker_ok("import", "--platform", "linux/arm64", str(tar), repo_ref + ":arm64")
    for tag in ("amd64", "arm64"):
        daemon.docker_ok("push", f"{repo_ref}:{tag}")
    index = {"schemaVersion": 2,
             "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
             "manifests": [
                 {**_manifest_descriptor(registry.host, repo, "arm64"),
                  "platform": {"os": "linux", "architecture": "arm64"}},
                 {**_manifest_descriptor(registry.host, repo, "amd64"),
                  "platform": {"os": "linux", "architecture": "amd64"}}]}
    request = urllib.request.Request(
        f"http://{registry.host}/v2/{repo}/manifests/latest", data=json.dumps(index).encode(), method="PUT",
        headers={"Content-Type": index["mediaType"]})
    urllib.request.urlopen(request).close()
    code, _, err = daemon.docker("pull", repo_ref)
    assert code == 0, err
    assert daemon.docker_ok("image", "inspect", "-f", "{{.Architecture}}", repo_ref).strip() == "amd64"
    daemon.docker_ok("rmi", repo_ref)
    code, _, err = daemon.docker("pull", "--platform", "linux/arm64", repo_ref)
    assert code == 0, err
    assert daemon.docker_ok("image", "inspect", "-f", "{{.Architecture}}", repo_ref).strip() == "arm64"
    assert daemon.docker_ok("image", "inspect", "-f", "{{.Id}}", repo_ref) == \
        daemon.docker_ok("image", "inspect", "-f", "{{.Id}}", repo_ref + ":arm64")


def _pushed_data_image(daemon: Daemon, registry: Registry, tmp_path: Path, size: int) -> tuple[str, str]:
    """A one-layer image with ``size`` random bytes, pushed and then removed locally."""
    ref = _name(registry.host, "data") + ":1"
    tar = tmp_path / "data.tar"
    tar.write_bytes(_data_tar(size))
    daemon.docker_ok("import", str(tar), ref)
    daemon.docker_ok("push", ref)
    image_id = _image_id(daemon, ref)
    daemon.docker_ok("rmi", ref)
    return ref, image_id


def test_corrupt_blob_is_refused_and_nothing_stored(daemon: Daemon, registry: Registry,
                                                    tmp_path: Path) -> None:
    ref, _ = _pushed_data_image(daemon, registry, tmp_path, 600_000)
    proxy = BlobProxy(registry.host, mode="corrupt")
    try:
        via_proxy = proxy.host + "/" + ref.split("/", 1)[1]
        before = daemon.store_state()
        code, out, err = daemon.docker("pull", via_proxy)
        assert code != 0
        assert "filesystem layer verification failed for digest sha256:" in out + err
        assert daemon.store_state() == before
        assert daemon.docker("image", "inspect", via_proxy)[0] != 0
    finally:
        proxy.stop()


def test_dropped_connection_mid_layer_is_resumed(daemon: Daemon, registry: Registry, tmp_path: Path) -> None:
    ref, image_id = _pushed_data_image(daemon, registry, tmp_path, 3_000_000)
    proxy = BlobProxy(registry.host, mode="drop-once")
    try:
        via_proxy = proxy.host + "/" + ref.split("/", 1)[1]
        code, out, err = daemon.docker("pull", via_proxy)
        assert code == 0, out + err
        assert proxy.dropped == 1
        assert proxy.ranges, "the second attempt resumes with a Range request"
        assert _image_id(daemon, via_proxy) == image_id
    finally:
        proxy.stop()


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_skopeo_interop(daemon: Daemon, registry: Registry, tmp_path: Path) -> None:
    # What we push, skopeo inspects and copies (into an OCI archive that we then load).
    ref = _name(registry.host, "ours") + ":1"
    daemon.docker_ok("tag", "busybox:latest", ref)
    daemon.docker_ok("push", ref)
    inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                             capture_output=True, text=True, timeout=60)
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["Architecture"] == "amd64"
    # What skopeo pushes (zstd-compressed, from our own docker save), we pull and run.
    saved = tmp_path / "bb.tar"
    daemon.docker_ok("save", "-o", str(saved), "busybox:latest")
    theirs = _name(registry.host, "skopeo") + ":zstd"
    copy = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-compress-format", "zstd",
                           f"docker-archive:{saved}", f"docker://{theirs}"],
                          capture_output=True, text=True, timeout=120)
    assert copy.returncode == 0, copy.stderr
    code, _, err = daemon.docker("pull", theirs)
    assert code == 0, err
    assert daemon.docker_ok("run", "--rm", theirs, "echo", "zstd-ok").strip() == "zstd-ok"
    out_archive = tmp_path / "skopeo-oci.tar"
    copy = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}",
                           f"oci-archive:{out_archive}:{ref.rsplit('/', 1)[1]}"],
                          capture_output=True, text=True, timeout=120)
    assert copy.returncode == 0, copy.stderr
    code, out, err = daemon.docker("load", "-i", str(out_archive))
    assert code == 0, err


def test_docker_py_push_pull_and_distribution_inspect(daemon: Daemon, registry: Registry,
                                                      client: docker.DockerClient) -> None:
    repo = _name(registry.host, "dockerpy")
    daemon.docker_ok("tag", "busybox:latest", repo + ":py")
    lines = list(client.images.push(repo, tag="py", stream=True, decode=True))
    assert any(line.get("aux", {}).get("Digest", "").startswith("sha256:") for line in lines)
    info = client.api.inspect_distribution(repo + ":py")
    assert info["Descriptor"]["digest"].startswith("sha256:")
    assert {"architecture": "amd64", "os": "linux"} in info["Platforms"]
    image_id = _image_id(daemon, repo + ":py")
    daemon.docker_ok("rmi", repo + ":py")
    pulled = client.images.pull(repo, tag="py")
    assert pulled.id == image_id


def test_search_on_a_registry_without_search_is_a_clear_error(daemon: Daemon, registry: Registry) -> None:
    code, _, err = daemon.docker("search", f"{registry.host}/busybox")
    assert code != 0
    assert "does not support search" in err


def test_pull_all_tags(daemon: Daemon, registry: Registry) -> None:
    repo = _name(registry.host, "alltags")
    for tag in ("one", "two"):
        daemon.docker_ok("tag", "busybox:latest", f"{repo}:{tag}")
        daemon.docker_ok("push", f"{repo}:{tag}")
        daemon.docker_ok("rmi", f"{repo}:{tag}")
    code, out, err = daemon.docker("pull", "--all-tags", repo)
    assert code == 0, err
    assert "Digest: sha256:" in out
    for tag in ("one", "two"):
        assert daemon.docker("image", "inspect", f"{repo}:{tag}")[0] == 0


def test_dockyard_cli_login_push_pull_logout(daemon: Daemon, basic_registry: Registry) -> None:
    host = basic_registry.host
    ref = _name(host, "cli") + ":1"
    daemon.docker_ok("tag", "busybox:latest", ref)

    def dockyard(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], input=stdin,
                              capture_output=True, text=True, env=daemon.env(), timeout=120)

    done = dockyard("login", "-u", "alice", "--password-stdin", host, stdin="s3cret-pass\n")
    assert done.returncode == 0 and "Login Succeeded" in done.stdout, done.stderr
    # The stock CLI uses what our CLI stored.
    code, _, err = daemon.docker("push", ref)
    assert code == 0, err
    daemon.docker_ok("rmi", ref)
    done = dockyard("pull", ref)
    assert done.returncode == 0, done.stderr
    assert "Pull complete" in done.stdout or "Already exists" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == ref
    done = dockyard("logout", host)
    assert done.returncode == 0 and f"Removing login credentials for {host}" in done.stdout
    config = json.loads((daemon.docker_config / "config.json").read_text())
    assert host not in config.get("auths", {})


def test_dockyard_run_pulls_a_missing_image_with_the_stored_login(daemon: Daemon,
                                                                  basic_registry: Registry) -> None:
    host = basic_registry.host
    ref = _name(host, "runpull") + ":1"
    daemon.docker_ok("tag", "busybox:latest", ref)
    daemon.docker_ok("login", "-u", "alice", "--password-stdin", host, input="s3cret-pass\n")
    daemon.docker_ok("push", ref)
    daemon.docker_ok("rmi", ref)
    _logout(daemon, host)
    done = _dockyard(daemon, "run", "--rm", ref, "echo", "pulled-privately")
    assert done.returncode == 125, done.stdout + done.stderr
    assert "no basic auth credentials" in done.stderr or "denied" in done.stderr
    daemon.docker_ok("login", "-u", "alice", "--password-stdin", host, input="s3cret-pass\n")
    done = _dockyard(daemon, "run", "--rm", ref, "echo", "pulled-privately")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pulled-privately"
    assert f"Unable to find image '{ref}' locally" in done.stderr
    _logout(daemon, host)


def test_pull_progress_reports_extraction_bytes(daemon: Daemon, registry: Registry, tmp_path: Path,
                                                client: docker.DockerClient) -> None:
    ref, _ = _pushed_data_image(daemon, registry, tmp_path, 2_000_000)
    name, tag = ref.rsplit(":", 1)
    messages = list(client.api.pull(name, tag=tag, stream=True, decode=True))
    extracting = [m for m in messages if m.get("status") == "Extracting"]
    assert extracting, messages
    last = extracting[-1]["progressDetail"]
    assert last["current"] == last["total"] > 1_000_000  # the blob's compressed size, all read
    assert extracting[-1]["progress"].startswith("[") and "MB" in extracting[-1]["progress"]
    statuses = [m.get("status") for m in messages if m.get("id") == extracting[-1]["id"]]
    assert statuses.index("Extracting") < statuses.index("Pull complete")
