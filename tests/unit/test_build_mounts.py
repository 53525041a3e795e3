"""RUN --mount parsing: BuildKit's defaults and errors."""

from __future__ import annotations

import pytest

from dockyard.core.builder.mounts import parse_mount, stage_refs
from dockyard.errors import InvalidArgument


def test_defaults_per_type() -> None:
    cache = parse_mount("type=cache,target=/root/.cache", "/")
    assert (cache.id, cache.rw, cache.sharing) == ("/root/.cache", True, "shared")
    bind = parse_mount("source=src,target=rel", "/work")
    assert (bind.type, bind.target, bind.rw) == ("bind", "/work/rel", False)
    secret = parse_mount("type=secret,id=tok", "/")
    assert (secret.target, secret.required) == ("/run/secrets/tok", False)
    assert parse_mount("type=tmpfs,target=/t,size=2m", "/").size == 2 << 20
    assert parse_mount("type=bind,target=/x,rw", "/").rw


@pytest.mark.parametrize("spec, message", [
    ("type=nfs,target=/x", "unsupported mount type"),
    ("type=cache,target=/x,sharing=maybe", "unsupported sharing value"),
    ("type=cache", "mount destination not set"),
    ("type=bind,target=/x,colour=blue", "unexpected key 'colour'"),
    ("type=bind,target", "must be a key=value pair"),
])
def test_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_mount(spec, "/")


def test_stage_refs_reads_from() -> None:
    assert stage_refs(["type=bind,from=tools,target=/t", "type=cache,target=/c"]) == ["tools"]
