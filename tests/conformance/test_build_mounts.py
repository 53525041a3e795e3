"""RUN --mount (cache, bind, tmpfs, secret) and RUN --network through the stock docker CLI,
docker-py and ``dockyard build --secret``: what a user sees in the image and the build output."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker

from .daemon import Daemon
from .test_build import _build, _context, _inspect, _run, _tag


def _layers_text(daemon: Daemon, tag: str) -> str:
    """Every path in the image's filesystem (what ``docker export`` would show)."""
    return _run(daemon, tag, "find", "/", "-xdev")


def test_cache_mount_persists_between_builds_and_stays_out_of_the_layer(daemon: Daemon,
                                                                          tmp_path: Path) -> None:
    ident = uuid.uuid4().hex[:8]
    dockerfile = f"""\
FROM busybox
ARG N
RUN --mount=type=cache,id={ident},target=/var/cache/app,uid=1000,mode=0700 \\
    echo run-$N >> /var/cache/app/log && cat /var/cache/app/log > /seen && \\
    stat -c '%u %a' /var/cache/app > /owner
"""
    ctx = _context(tmp_path, dockerfile)
    first, second = _tag(), _tag()
    code, out, err = _build(daemon, ctx, "--build-arg", "N=1", "-t", first)
    assert code == 0, err + out
    code, out, err = _build(daemon, ctx, "--build-arg", "N=2", "-t", second)
    assert code == 0, err + out
    assert _run(daemon, first, "cat", "/seen").split() == ["run-1"]
    assert _run(daemon, second, "cat", "/seen").split() == ["run-1", "run-2"]
    assert _run(daemon, second, "cat", "/owner").strip() == "1000 700"
    assert "/var/cache/app" not in _layers_text(daemon, second)


def test_bind_tmpfs_and_network_mounts(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, """\
FROM busybox AS tools
RUN mkdir /tools && echo from-stage > /tools/hello
FROM busybox
RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /copied
RUN --mount=type=bind,source=src,target=/src,rw echo x > /src/new && ls /src > /listing
RUN --mount=type=bind,from=tools,source=/tools,target=/t cat /t/hello > /staged
RUN --mount=type=tmpfs,target=/scratch,size=1048576 df -k /scratch | tail -1 > /tmpfs && \\
    touch /scratch/junk
RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > /netnone
RUN --mount=type=bind,source=src,target=/src sh -c 'echo y > /src/denied' || echo ro > /rocheck
""", {"src/a.txt": "hello-from-context\n"})
    tag = _tag()
    code, out, err = _build(daemon, ctx, "-t", tag)
    assert code == 0, err + out
    assert _run(daemon, tag, "cat", "/copied").strip() == "hello-from-context"
    assert set(_run(daemon, tag, "cat", "/listing").split()) == {"a.txt", "new"}
    assert not (ctx / "src" / "new").exists()  # an rw bind's writes are thrown away
    assert _run(daemon, tag, "cat", "/staged").strip() == "from-stage"
    assert _run(daemon, tag, "cat", "/tmpfs").split()[1] == "1024"
    assert _run(daemon, tag, "cat", "/netnone").split() == ["lo"]
    assert _run(daemon, tag, "cat", "/rocheck").strip() == "ro"
    paths = _layers_text(daemon, tag).split()
    assert not any(p.startswith(("/src", "/t/", "/scratch")) or p == "/t" for p in paths)


def test_host_network_sees_the_host_interfaces(client: docker.DockerClient, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN --network=host echo links: $(tail -n +3 /proc/net/dev"
                             " | cut -d: -f1)\n")
    image, logs = client.images.build(path=str(ctx), rm=True, nocache=True)
    client.images.remove(image.id, force=True)
    line = next(str(m["stream"]) for m in logs if str(m.get("stream", "")).startswith("links:"))
    host_links = {line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]}
    # Other tests add and remove links meanwhile: the host's long-lived links must be there.
    assert (set(line.split()[1:]) & host_links) - {"lo"}


def _dockyard(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], capture_output=True,
                          text=True, env=daemon.env(), timeout=120)


def test_secret_mount_reads_the_secret_and_never_stores_it(daemon: Daemon, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    value = f"s3cr3t-{uuid.uuid4().hex}"
    secret.write_text(value)
    ctx = _context(tmp_path, """\
FROM busybox
RUN --mount=type=secret,id=token,required=true wc -c < /run/secrets/token > /len && \\
    ls -l /run/secrets/token | cut -c1-10 > /mode
RUN --mount=type=secret,id=absent cat /run/secrets/absent 2>/dev/null || echo none > /absent
""")
    tag = _tag()
    proc = _dockyard(daemon, "build", "--progress", "plain", "--secret", f"id=token,src={secret}",
                     "-t", tag, str(ctx))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert _run(daemon, tag, "cat", "/len").strip() == str(len(value))
    assert _run(daemon, tag, "cat", "/mode").strip() == "-r--------"
    assert _run(daemon, tag, "cat", "/absent").strip() == "none"
    assert "/run/secrets" not in _layers_text(daemon, tag)
    saved = tmp_path / "image.tar"
    daemon.docker_ok("save", "-o", str(saved), tag)
    assert value.encode() not in saved.read_bytes()
    store = subprocess.run(["grep", "-rl", value, str(daemon.root)], capture_output=True, text=True,
                           timeout=60)
    assert store.stdout == ""  # not in the database, the cache key, nor any layer

    # The stock CLI cannot send secrets: a clear error (once the step is not cached).
    code, out, err = _build(daemon, ctx, "--no-cache")
    assert code != 0
    assert "secret token: not found" in err + out


def test_cache_from_a_loaded_image_reuses_its_steps(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, """\
FROM busybox
ENV MODE=release
COPY app.txt /app/
RUN cat /proc/sys/kernel/random/uuid > /built
CMD ["cat", "/built"]
""", {"app.txt": "v1\n"})
    tag = _tag()
    code, out, err = _build(daemon, ctx, "-t", tag)
    assert code == 0, err + out
    original = _inspect(daemon, tag)["Id"]
    saved = tmp_path / "cache.tar"
    daemon.docker_ok("save", "-o", str(saved), tag)
    daemon.docker_ok("rmi", tag)
    daemon.docker_ok("builder", "prune", "-f")
    daemon.docker_ok("load", "-i", str(saved))

    code, out, err = _build(daemon, ctx, "--cache-from", tag, "-t", tag + "-again")
    assert code == 0, err + out
    assert out.count("Using cache") == 4, out
    assert _inspect(daemon, tag + "-again")["Id"] == original

    code, out, err = _build(daemon, ctx, "--cache-from", tag, "--no-cache")
    assert code == 0 and "Using cache" not in out, err + out
    (ctx / "app.txt").write_text("v2\n")  # a changed input misses from the COPY on
    code, out, err = _build(daemon, ctx, "--cache-from", tag)
    assert code == 0, err + out
    assert out.count("Using cache") == 1, out



def test_copy_parents_exclude_link_and_heredoc_expansion(daemon: Daemon, tmp_path: Path) -> None:
    dockerfile = """\
FROM busybox
ARG BASE=one
RUN echo $BASE > /base
ENV NAME=world
COPY --parents src/a/x.txt src/b/y.txt /out/
COPY --exclude=*.log --exclude=skip logs/ /logs/
COPY <<EOF /greet
hello $NAME "${NAME}" \\$NAME
EOF
COPY <<"EOF" /raw
hello $NAME
EOF
COPY --link app.txt /app/
"""
    ctx = _context(tmp_path, dockerfile, {"src/a/x.txt": "x", "src/b/y.txt": "y", "logs/keep.txt": "k",
                                          "logs/drop.log": "d", "logs/skip/z.txt": "z", "app.txt": "app"})
    first, second = _tag(), _tag()
    code, out, err = _build(daemon, ctx, "-t", first)
    assert code == 0, err + out
    listing = _run(daemon, first, "find", "/out", "/logs", "-type", "f").split()
    assert sorted(listing) == ["/logs/keep.txt", "/out/src/a/x.txt", "/out/src/b/y.txt"]
    assert _run(daemon, first, "cat", "/greet") == 'hello world "world" \\$NAME\n'
    assert _run(daemon, first, "cat", "/raw") == "hello $NAME\n"

    # A new base below COPY --link: the linked layer is reused, not copied again.
    code, out, err = _build(daemon, ctx, "--build-arg", "BASE=two", "-t", second)
    assert code == 0, err + out
    assert out.rstrip().split("Step 9/9")[1].count("Using cache") == 1, out
    assert _run(daemon, second, "cat", "/base", "/app/app.txt").split() == ["two", "app"]
    layers = [_inspect(daemon, t)["RootFS"]["Layers"] for t in (first, second)]
    assert layers[0][-1] == layers[1][-1] and layers[0][:-1] != layers[1][:-1]


def test_independent_stages_run_concurrently_and_unneeded_ones_not_at_all(daemon: Daemon,
                                                                          tmp_path: Path) -> None:
    ctx = _context(tmp_path, f"""\
FROM busybox AS a
RUN sleep 1 && echo a-{uuid.uuid4().hex} > /a
FROM busybox AS b
RUN sleep 1 && echo b > /b
FROM busybox AS unused
RUN echo never-built-marker && false
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
""")
    started = time.monotonic()
    code, out, err = _build(daemon, ctx, "--no-cache")
    elapsed = time.monotonic() - started
    assert code == 0, err + out
    assert "never-built-marker" not in out
    assert elapsed < 1.9, f"two 1 s stages took {elapsed:.2f} s: they did not overlap"


def test_builder_prune_reports_the_space_it_reclaimed(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, f"""\
FROM busybox
RUN --mount=type=cache,id={uuid.uuid4().hex},target=/c head -c 300000 /dev/urandom > /c/blob
RUN head -c 2000000 /dev/urandom > /big
""")
    code, out, err = _build(daemon, ctx, "--no-cache")
    assert code == 0, err + out
    text = daemon.docker_ok("builder", "prune", "-f")
    total = text.strip().splitlines()[-1]
    assert total.startswith("Total reclaimed space:")
    value = total.split(":")[1].strip()
    assert value.endswith("MB") and float(value[:-2]) >= 2.2, text
    again = daemon.docker_ok("builder", "prune", "-f")
    assert again.strip().splitlines()[-1] == "Total reclaimed space: 0B"


def test_rmi_deletes_untagged_build_parents_but_not_shared_ones(daemon: Daemon, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    base = f"FROM busybox\nRUN echo {marker} > /m\nENV K=v\n"
    shared = _context(tmp_path, base + "RUN echo one > /one\nCMD [\"true\"]\n")
    sibling = _context(tmp_path, base + "RUN echo two > /two\n")
    first, second = _tag(), _tag()
    for ctx, tag in ((shared, first), (sibling, second)):
        code, out, err = _build(daemon, ctx, "-t", tag)
        assert code == 0, err + out
    busybox = _inspect(daemon, "busybox")["Id"]
    ids_before = set(daemon.docker_ok("images", "-aq", "--no-trunc").split())

    out = daemon.docker_ok("rmi", first)
    deleted = [line.split()[1] for line in out.splitlines() if line.startswith("Deleted:")]
    images = [d for d in deleted if d in ids_before]
    # The image (CMD) and its own parent (RUN one); ENV K=v below is shared with the sibling.
    assert len(images) == 2, out
    remaining = set(daemon.docker_ok("images", "-aq", "--no-trunc").split())
    assert busybox in remaining and not set(images) & remaining
    assert _run(daemon, second, "cat", "/m", "/two").split() == [marker, "two"]
    out = daemon.docker_ok("rmi", second)
    images = [line.split()[1] for line in out.splitlines() if line.startswith("Deleted:")
              and line.split()[1] in ids_before]
    assert len(images) == 3, out  # itself, ENV K=v, RUN echo marker
    assert busybox in daemon.docker_ok("images", "-aq", "--no-trunc").split()

