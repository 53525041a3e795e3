"""The reference grammar, table-driven: what Docker normalises, and what it refuses with which text."""

from __future__ import annotations

import pytest

from dockyard.core.images.reference import familiar, parse, parse_repository, parse_tagged
from dockyard.errors import InvalidArgument

NORMALISED = [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/repo", "docker.io/user/repo:latest", "user/repo:latest"),
    ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
    ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest"),
    ("localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1"),
    ("quay.io/a/b-c__d.e:t_1.0-x", "quay.io/a/b-c__d.e:t_1.0-x", "quay.io/a/b-c__d.e:t_1.0-x"),
    ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64,
     "busybox@sha256:" + "a" * 64),
    ("busybox:1@sha256:" + "b" * 64, "docker.io/library/busybox:1@sha256:" + "b" * 64,
     "busybox:1@sha256:" + "b" * 64),
]

INVALID = [
    ("", "invalid reference format"),
    ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    ("user/Repo", "invalid reference format: repository name (user/Repo) must be lowercase"),
    ("busybox:", "invalid reference format"),
    ("busybox::x", "invalid reference format"),
    (":latest", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busy--box_", "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("a" * 64, "invalid repository name (" + "a" * 64 + "), cannot specify 64-byte hexadecimal strings"),
    ("busybox:" + "t" * 129, "invalid reference format"),
    ("a/" * 130 + "b", "invalid reference format: repository name must not be more than 255 characters"),
    ("has space", "invalid reference format"),
]


@pytest.mark.parametrize(("given", "normalised", "shown"), NORMALISED)
def test_normalises_as_docker(given: str, normalised: str, shown: str) -> None:
    ref = parse_tagged(given)
    assert str(ref) == normalised
    assert ref.familiar() == shown
    assert familiar(normalised) == shown


@pytest.mark.parametrize(("given", "message"), INVALID)
def test_refuses_with_dockers_text(given: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(given)
    assert str(info.value) == message


def test_parse_without_default_tag_keeps_it_absent() -> None:
    ref = parse("busybox")
    assert ref.tag is None and ref.digest is None
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar_name == "busybox"


def test_repository_plus_tag_parameters() -> None:
    assert str(parse_repository("busybox", "v2")) == "docker.io/library/busybox:v2"
    assert str(parse_repository("localhost:5000/x", None)) == "localhost:5000/x:latest"
    assert str(parse_repository("busybox:old", "new")) == "docker.io/library/busybox:new"
    with pytest.raises(InvalidArgument):
        parse_repository("busybox", "bad tag")
    with pytest.raises(InvalidArgument):
        parse_repository("busybox@sha256:" + "a" * 64, None)
