"""Tables for the build's pure parts: word expansion, .dockerignore, Dockerfile parse errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.core.builder.cache import cache_key
from dockyard.core.builder.dockerfile import parse
from dockyard.core.builder.ignore import Matcher, read_patterns
from dockyard.core.builder.instructions import StageState, apply
from dockyard.core.builder.shell import expand, expand_words
from dockyard.errors import InvalidArgument

DATA = Path(__file__).parent / "data"
ENV = {"A": "apple", "E": "", "SP": "a b"}


def _rows(name: str) -> list[list[str]]:
    rows = []
    for line in (DATA / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append([cell.strip() for cell in (line + " ").split(" | ")])
    return rows


@pytest.mark.parametrize(("word", "expected"), _rows("build_shell.txt"))
def test_expand(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


def test_expand_errors_and_words() -> None:
    with pytest.raises(InvalidArgument, match="MISSING: need it"):
        expand("${MISSING:?need it}", ENV)
    with pytest.raises(InvalidArgument, match="double-quote"):
        expand('"open', ENV)
    assert expand_words("80 $SP 'c d'", ENV) == ["80", "a", "b", "c d"]
    assert expand("`$A", ENV, escape="`") == "$A"


@pytest.mark.parametrize(("patterns", "path", "excluded"), _rows("build_dockerignore.txt"))
def test_dockerignore(patterns: str, path: str, excluded: str) -> None:
    matcher = Matcher(read_patterns(patterns.replace(";", "\n")))
    assert matcher.excluded(path) is (excluded == "yes")


@pytest.mark.parametrize(("text", "message"), _rows("build_parse_errors.txt"))
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse(text.replace("\\n", "\n"))


def test_parse_stages_heredocs_and_directives() -> None:
    df = parse("# escape=`\nARG BASE=busybox\nFROM ${BASE} AS build\nRUN <<EOF\necho hi\nEOF\n"
               "FROM scratch\nCOPY --from=build --chown=1:2 /a /b\n")
    assert df.escape == "`" and [a.args for a in df.meta_args] == [("BASE=busybox",)]
    assert [(s.name, s.base) for s in df.stages] == [("build", "${BASE}"), ("", "scratch")]
    run = df.stages[0].instructions[0]
    assert run.heredocs[0].content == "echo hi\n" and run.line == 4
    copy = df.stages[1].instructions[0]
    assert copy.flag("from") == "build" and copy.flag("chown") == "1:2"


def test_config_instructions() -> None:
    df = parse('FROM x\nENV A=1 B="x y"\nLABEL "k 1"=$A\nEXPOSE 80 53/udp\nCMD echo hi\nENTRYPOINT ["e"]\n'
               "WORKDIR /a\nWORKDIR b\nHEALTHCHECK --interval=1m30s CMD true\n")
    state = StageState(config={"Cmd": ["inherited"]})
    texts = [apply(ins, state) for ins in df.stages[0].instructions]
    cfg = state.config
    assert cfg["Env"] == ["A=1", "B=x y"] and cfg["Labels"] == {"k 1": "1"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Cmd"] == ["/bin/sh", "-c", "echo hi"]  # a CMD in the stage survives ENTRYPOINT
    assert cfg["Entrypoint"] == ["e"] and cfg["WorkingDir"] == "/a/b"
    assert cfg["Healthcheck"]["Interval"] == 90 * 10**9
    assert texts[0] == "ENV A=1 B=x y"


def test_cache_key_depends_on_every_input() -> None:
    base = cache_key("p", "COPY a /", [["a", "d1"]])
    assert base == cache_key("p", "COPY a /", [["a", "d1"]])
    assert len({base, cache_key("q", "COPY a /", [["a", "d1"]]), cache_key("p", "COPY b /", [["a", "d1"]]),
                cache_key("p", "COPY a /", [["a", "d2"]])}) == 4
