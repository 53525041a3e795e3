"""``docker history``'s CREATED BY of a classic build, as dockerd writes it (checked against dockerd
20.10 side by side; HEALTHCHECK in moby 25's form, with StartInterval, the API we serve)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from .daemon import Daemon


def _history(daemon: Daemon, tmp_path: Path, dockerfile: str,
             files: dict[str, str] | None = None) -> list[str]:
    """The CREATED BY texts of the steps after ``FROM busybox``, first step first."""
    ctx = tmp_path / f"ctx-{uuid.uuid4().hex[:6]}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\n" + dockerfile)
    for name, content in (files or {}).items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(content)
    tag = f"ht-{uuid.uuid4().hex[:8]}"
    daemon.docker_ok("build", "-q", "-t", tag, str(ctx), timeout=120)
    try:
        rows = daemon.docker_ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).splitlines()
        base = daemon.docker_ok("history", "-q", "busybox").splitlines()
        return list(reversed(rows[:len(rows) - len(base)]))
    finally:
        daemon.docker("rmi", tag)


@pytest.mark.parametrize(("instruction", "created_by"), [
    ("HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -q http://localhost/ || exit 1",
     '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "wget -q http://localhost/ || exit 1"] "30s" "5s" "0s" '
     "\"0s\" '\\x03'}"),
    ('HEALTHCHECK --interval=1m30s --start-period=1500ms CMD ["test", "-f", "/x"]',
     '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD" "test" "-f" "/x"] "1m30s" "0s" "1.5s" "0s" \'\\x00\'}'),
    ("HEALTHCHECK --start-interval=250ms --retries=65 CMD true",
     '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "0s" "0s" "0s" "250ms" \'A\'}'),
    ("HEALTHCHECK NONE", '/bin/sh -c #(nop)  HEALTHCHECK &{["NONE"] "0s" "0s" "0s" "0s" \'\\x00\'}'),
])
def test_healthcheck(daemon: Daemon, tmp_path: Path, instruction: str, created_by: str) -> None:
    assert _history(daemon, tmp_path, instruction + "\n") == [created_by]


def test_arg(daemon: Daemon, tmp_path: Path) -> None:
    assert _history(daemon, tmp_path, 'ARG A\nARG B=two C\nARG D="x y"\n') == [
        "/bin/sh -c #(nop)  ARG A", "/bin/sh -c #(nop)  ARG B=two C", "/bin/sh -c #(nop)  ARG D=x y"]


def test_workdir(daemon: Daemon, tmp_path: Path) -> None:
    # One space after #(nop): moby commits WORKDIR through withCmdCommentString.
    assert _history(daemon, tmp_path, "WORKDIR /w\nWORKDIR rel\n") == [
        "/bin/sh -c #(nop) WORKDIR /w", "/bin/sh -c #(nop) WORKDIR /w/rel"]


def test_copy_chown(daemon: Daemon, tmp_path: Path) -> None:
    # moby writes the --chown flag straight against the source hash (no space), and a space at the end.
    rows = _history(daemon, tmp_path, "COPY --chown=1000:1000 f.txt /dst/\nCOPY f.txt /plain\n",
                    {"f.txt": "hi\n"})
    assert rows[0].startswith("/bin/sh -c #(nop) COPY --chown=1000:1000file:")
    assert rows[0].endswith(" in /dst/ ")
    assert rows[1].startswith("/bin/sh -c #(nop) COPY file:") and rows[1].endswith(" in /plain ")


def test_nop_lines_start_with_the_stages_shell(daemon: Daemon, tmp_path: Path) -> None:
    # moby's commit puts the runConfig's shell before #(nop): SHELL's own line already has the new one.
    assert _history(daemon, tmp_path, 'SHELL ["/bin/ash", "-c"]\nENV A=1\nWORKDIR /w\n') == [
        "/bin/ash -c #(nop)  SHELL [/bin/ash -c]", "/bin/ash -c #(nop)  ENV A=1",
        "/bin/ash -c #(nop) WORKDIR /w"]


def test_arg_steps_are_cached_and_a_new_value_reruns_what_uses_it(daemon: Daemon, tmp_path: Path) -> None:
    ctx = tmp_path / "argctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM busybox\nARG A=d\nRUN echo "a=$A" > /a\n')

    tags: list[str] = []

    def build(value: str) -> tuple[str, str]:
        tags.append(f"arg-{value}-{uuid.uuid4().hex[:6]}")
        out = daemon.docker_ok("build", "--build-arg", f"A={value}", "-t", tags[-1], str(ctx), timeout=120)
        return out, daemon.docker_ok("run", "--rm", tags[-1], "cat", "/a")

    try:
        _, content = build("one")
        assert content == "a=one\n"
        again, content = build("two")
        # The ARG step's image is the same (its text holds the default only); the RUN runs again.
        assert again.count("Using cache") == 1 and content == "a=two\n", again
        again, content = build("one")
        assert again.count("Using cache") == 2 and content == "a=one\n", again
    finally:
        daemon.docker("rmi", *tags)
