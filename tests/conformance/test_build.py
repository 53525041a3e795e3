"""docker build (classic POST /build) through the stock CLI and docker-py: what a user sees."""

from __future__ import annotations

import http.server
import io
import json
import os
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from .daemon import Daemon


def _context(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp_path / f"ctx-{uuid.uuid4().hex[:6]}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, content in (files or {}).items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return ctx


def _tag() -> str:
    return f"bt-{uuid.uuid4().hex[:8]}:latest"


def _build(daemon: Daemon, ctx: Path, *args: str) -> tuple[int, str, str]:
    return daemon.docker("build", *args, str(ctx), timeout=120)


def _inspect(daemon: Daemon, ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(daemon.docker_ok("image", "inspect", ref))[0]


def _run(daemon: Daemon, ref: str, *cmd: str) -> str:
    return daemon.docker_ok("run", "--rm", ref, *cmd)


def test_every_config_instruction_lands_in_the_image(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, """\
FROM busybox
ENV A=1 B="two words"
LABEL org.example.k="v v" other=x
EXPOSE 8080 53/udp
VOLUME /data
WORKDIR /srv/app
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD true
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $A $B; pwd; id -u"]
""")
    tag = _tag()
    code, out, err = _build(daemon, ctx, "-t", tag)
    assert code == 0, err + out
    cfg = _inspect(daemon, tag)["Config"]
    assert "A=1" in cfg["Env"] and "B=two words" in cfg["Env"]
    assert cfg["Labels"] == {"org.example.k": "v v", "other": "x"}
    assert set(cfg["ExposedPorts"]) == {"8080/tcp", "53/udp"}
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["WorkingDir"] == "/srv/app" and cfg["User"] == "1000:1000"
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "true"] and cfg["Healthcheck"]["Retries"] == 2
    assert cfg["Healthcheck"]["Interval"] == 5_000_000_000
    assert cfg["Shell"] == ["/bin/sh", "-ec"] and cfg["OnBuild"] == ["RUN echo child"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"]
    assert _run(daemon, tag).split("\n")[:3] == ["1 two words", "/srv/app", "1000"]
    history = daemon.docker_ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
    assert "EXPOSE 8080 53/udp" in history and "ENV A=1 B=two words" in history
    # dockerd 20.10's forms: Go's %q of the argv for CMD, its %v for SHELL.
    assert 'CMD ["echo $A $B; pwd; id -u"]' in history and "SHELL [/bin/sh -ec]" in history


def test_run_copy_add_and_heredocs(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, """\
FROM busybox
ARG WHO=default
WORKDIR /app
COPY a.txt b.txt ./
COPY dir/ /copied/
COPY --chown=1234:2345 --chmod=0751 a.txt /owned
ADD arch.tar /unpacked/
RUN echo "hi $WHO" > /app/run.txt
RUN <<EOF
echo from heredoc > /app/hd.txt
EOF
COPY <<EOF /app/inline.txt
inline content
EOF
""", {"a.txt": "A\n", "b.txt": "B\n", "dir/sub/c.txt": "C\n"})
    import tarfile
    with tarfile.open(ctx / "arch.tar", "w") as tar:
        data = b"inside tar\n"
        info = tarfile.TarInfo("t/file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tag = _tag()
    code, out, err = _build(daemon, ctx, "-t", tag, "--build-arg", "WHO=there")
    assert code == 0, err + out
    script = ("cat /app/a.txt /app/b.txt /copied/sub/c.txt /unpacked/t/file.txt /app/run.txt"
              " /app/hd.txt /app/inline.txt; stat -c '%u:%g %a' /owned")
    assert _run(daemon, tag, "sh", "-c", script).split("\n") == [
        "A", "B", "C", "inside tar", "hi there", "from heredoc", "inline content", "1234:2345 751", ""]
    code, out, _ = _build(daemon, ctx, "-t", tag)
    assert code == 0
    assert _run(daemon, tag, "cat", "/app/run.txt") == "hi default\n"  # the ARG's default


def test_multi_stage_copy_from_and_target(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, """\
FROM busybox AS builder
RUN echo artifact > /artifact
FROM busybox AS unused
RUN exit 1
FROM busybox AS dev
COPY --from=builder /artifact /dev-artifact
CMD ["echo", "dev"]
FROM busybox AS production
COPY --from=builder /artifact /prod-artifact
CMD ["echo", "production"]
""")
    prod, dev = _tag(), _tag()
    code, out, err = _build(daemon, ctx, "-t", prod)
    assert code == 0, err + out  # the failing "unused" stage is never built
    assert _run(daemon, prod) == "production\n"
    assert _run(daemon, prod, "cat", "/prod-artifact") == "artifact\n"
    code, out, err = _build(daemon, ctx, "--target", "dev", "-t", dev)
    assert code == 0, err + out
    assert _run(daemon, dev) == "dev\n"
    assert _run(daemon, dev, "cat", "/dev-artifact") == "artifact\n"
    code, out, err = _build(daemon, ctx, "--target", "nope")
    assert code != 0 and "failed to reach build target nope" in err + out


def test_dockerignore_with_exceptions(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nCOPY . /ctx/\n", {
        ".dockerignore": "*.log\n!keep.log\nsecret/\n**/tmp\n",
        "a.log": "x", "keep.log": "kept", "secret/key": "k", "src/tmp": "t", "src/ok": "ok"})
    tag = _tag()
    code, out, err = _build(daemon, ctx, "-t", tag)
    assert code == 0, err + out
    listing = _run(daemon, tag, "find", "/ctx", "-type", "f").split()
    assert sorted(listing) == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/keep.log", "/ctx/src/ok"]


def test_cache_hits_changes_and_touches(daemon: Daemon, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    ctx = _context(tmp_path, f"""\
FROM busybox
WORKDIR /app
COPY package.json ./
RUN echo install-{marker} && echo installed > /app/deps
COPY src/ ./src/
RUN echo compile-{marker} && cat src/main > /app/out
USER 1000
CMD ["cat", "/app/out"]
""", {"package.json": "{}", "src/main": "v1"})
    tag = _tag()
    code, first, err = _build(daemon, ctx, "-t", tag)
    assert code == 0, err + first
    assert f"install-{marker}" in first and f"compile-{marker}" in first
    code, second, _ = _build(daemon, ctx, "-t", tag)
    assert code == 0 and second.count("Using cache") == 7 and "Running in" not in second
    os.utime(ctx / "src" / "main", (1, 1))  # touched, not changed
    code, touched, _ = _build(daemon, ctx, "-t", tag)
    assert code == 0 and "Running in" not in touched
    (ctx / "src" / "main").write_text("v2")
    code, changed, _ = _build(daemon, ctx, "-t", tag)
    assert code == 0
    assert f"\ninstall-{marker}\n" not in changed  # the install layer is reused
    assert f"\ncompile-{marker}\n" in changed
    assert _run(daemon, tag) == "v2"
    code, nocache, _ = _build(daemon, ctx, "--no-cache", "-t", tag)
    assert code == 0 and "Using cache" not in nocache and f"\ninstall-{marker}\n" in nocache


def test_failing_run_reports_and_leaves_nothing(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo to-the-log && touch /partial && exit 7\n")
    before = daemon.store_state()
    code, out, err = _build(daemon, ctx, "-t", _tag())
    assert code == 7
    assert "to-the-log" in out
    command = "/bin/sh -c echo to-the-log && touch /partial && exit 7"
    assert f"The command '{command}' returned a non-zero code: 7" in err
    assert daemon.store_state() == before


def test_syntax_errors_name_the_line(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN true\nFOO bar\n")
    code, out, err = _build(daemon, ctx)
    assert code != 0 and "line 3" in err and "unknown instruction: FOO" in err
    ctx = _context(tmp_path, "RUN true\n")
    code, out, err = _build(daemon, ctx)
    assert code != 0 and "line 1" in err


@pytest.mark.parametrize("source", ["../outside", "link"])
def test_context_escapes_are_refused(daemon: Daemon, tmp_path: Path, source: str) -> None:
    (tmp_path / "outside").write_text("secret")
    ctx = _context(tmp_path, f"FROM busybox\nCOPY {source} /x\n")
    os.symlink(str(tmp_path / "outside"), ctx / "link")
    code, out, err = _build(daemon, ctx)
    assert code != 0
    assert "forbidden path outside the build context" in err or "not found" in err


def test_from_scratch_and_docker_py(client: docker.DockerClient, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM scratch\nCOPY hello /hello\nLABEL kind=scratch\n", {"hello": "hi"})
    tag = _tag()
    image, logs = client.images.build(path=str(ctx), tag=tag, labels={"extra": "yes"})
    assert image.labels == {"kind": "scratch", "extra": "yes"}
    assert len(image.attrs["RootFS"]["Layers"]) == 1
    assert any("Successfully built" in chunk.get("stream", "") for chunk in logs)
    with pytest.raises(docker.errors.BuildError) as info:
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 3\n"), rm=True)
    assert "returned a non-zero code: 3" in str(info.value)


def test_builder_prune_clears_the_cache(daemon: Daemon, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    ctx = _context(tmp_path, f"FROM busybox\nRUN echo {marker} > /m\n")
    tag = _tag()
    assert _build(daemon, ctx, "-t", tag)[0] == 0
    daemon.docker_ok("builder", "prune", "-f")
    code, out, _ = _build(daemon, ctx, "-t", tag)
    assert code == 0 and "Using cache" not in out


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = b"served over http\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def http_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/file.txt"
    finally:
        server.shutdown()


def test_add_from_url(daemon: Daemon, tmp_path: Path, http_url: str) -> None:
    ctx = _context(tmp_path, f"FROM busybox\nADD {http_url} /downloads/\n")
    tag = _tag()
    code, out, err = _build(daemon, ctx, "-t", tag)
    assert code == 0, err + out
    assert _run(daemon, tag, "cat", "/downloads/file.txt") == "served over http\n"


@pytest.mark.slow
def test_cache_survives_a_daemon_restart(daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
    d = daemon_factory()
    ctx = _context(tmp_path, "FROM busybox\nCOPY f /f\nRUN echo ran-the-step > /r\n", {"f": "x"})
    code, out, err = _build(d, ctx, "-t", "restart:1")
    assert code == 0, err + out
    d.stop()
    d.start()
    code, out, _ = _build(d, ctx, "-t", "restart:1")
    assert code == 0 and out.count("Using cache") == 2 and "\nran-the-step\n" not in out


def test_step_layers_are_the_steps_own_files(daemon: Daemon, tmp_path: Path) -> None:
    """A step's snapshot becomes its layer's (no second unpack): deletions, opaque directories,
    hard links and modes must look the same to the next step, to a container and in the saved
    layer tars, and no step snapshot may be left behind."""
    active = daemon.data_root / "snapshots" / "active"
    before = {p.name for p in active.iterdir()} if active.exists() else set()
    ctx = _context(tmp_path, (
        "FROM busybox\n"
        "COPY d/ /d/\n"
        "RUN rm /d/gone && mkdir -p /o && echo x > /o/a && ln /d/kept /d/link && chmod 0640 /d/kept\n"
        "RUN rm -rf /o && mkdir /o && echo y > /o/b\n"
        "RUN test ! -e /d/gone && test ! -e /o/a && cat /o/b /d/link > /seen\n"
    ), {"d/gone": "g\n", "d/kept": "k\n"})
    tag = _tag()
    code, _, err = _build(daemon, ctx, "-t", tag)
    assert code == 0, err
    script = "cat /seen; ls /o; stat -c %a /d/kept; ls -i /d/kept /d/link | awk '{print $1}' | uniq | wc -l"
    out = daemon.docker_ok("run", "--rm", tag, "sh", "-c", script)
    assert out.split() == ["y", "k", "b", "640", "1"]
    saved = tmp_path / "saved.tar"
    daemon.docker_ok("save", "-o", str(saved), tag)
    names: list[str] = []
    with tarfile.open(saved) as outer:
        for member in outer.getmembers():
            if member.name.endswith(".tar") or member.name.startswith("blobs/sha256/"):
                data = outer.extractfile(member)
                if data is None:
                    continue
                try:
                    with tarfile.open(fileobj=io.BytesIO(data.read())) as layer:
                        names += layer.getnames()
                except tarfile.TarError:
                    continue
    assert "d/.wh.gone" in names and "o/.wh..wh..opq" in names
    after = {p.name for p in active.iterdir()}
    assert after <= before, f"step snapshots left behind: {after - before}"
