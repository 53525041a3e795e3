"""The Dockerfile model: stages of instructions, parsed by Docker's own Go parser.

The ``dockerfile`` package wraps moby's ``parser`` package (directives, continuations, comments,
JSON and shell forms, flags, heredocs). This module checks what the builder checks after parsing
(known instructions, flags, a FROM first) and names the file and line in every error, as Docker:
``dockerfile parse error on line 2: unknown instruction: FOO``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    import dockerfile as goparser

INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"})
_FLAGS: dict[str, frozenset[str]] = {
    "ADD": frozenset({"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude", "unpack"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "parents", "exclude"}),
    "FROM": frozenset({"platform"}),
    "RUN": frozenset({"mount", "network", "security"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
_ESCAPE_RE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)
_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")


@dataclass(frozen=True, slots=True)
class Heredoc:
    name: str
    content: str
    fd: int = 0


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction as written: ``args`` are the parser's words (unexpanded)."""

    cmd: str  # upper case: RUN, COPY…
    args: tuple[str, ...]
    flags: tuple[tuple[str, str], ...]  # (name, value) in order; a bare --link has value "true"
    json: bool  # exec (JSON) form
    line: int
    original: str
    heredocs: tuple[Heredoc, ...] = ()
    sub: Instruction | None = None  # ONBUILD's instruction

    def flag(self, name: str) -> str | None:
        found = [v for k, v in self.flags if k == name]
        return found[-1] if found else None

    def flag_all(self, name: str) -> list[str]:
        return [v for k, v in self.flags if k == name]


@dataclass(slots=True)
class Stage:
    index: int
    name: str  # lower-cased "AS" name, or "" for an unnamed stage
    base: str  # the FROM argument, unexpanded
    platform: str
    line: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass(slots=True)
class Dockerfile:
    meta_args: list[Instruction]  # ARGs before the first FROM
    stages: list[Stage]
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)


def _directives(text: str) -> tuple[dict[str, str], str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _DIRECTIVE_RE.match(line)
        if not match:
            break
        found[match.group(1).lower()] = match.group(2)
    escape = found.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise InvalidArgument(f"invalid ESCAPE '{escape}'. Must be ` or \\")
    return found, escape


def _flags(raw: tuple[str, ...], cmd: str, line: int) -> tuple[tuple[str, str], ...]:
    flags: list[tuple[str, str]] = []
    for item in raw:
        name, eq, value = item[2:].partition("=")
        if name not in _FLAGS.get(cmd, frozenset()):
            raise InvalidArgument(f"dockerfile parse error on line {line}: unknown flag: --{name}")
        flags.append((name, value if eq else "true"))
    return tuple(flags)


def _instruction(cmd: goparser.Command) -> Instruction:
    name = cmd.cmd.upper()
    line = cmd.start_line
    if name not in INSTRUCTIONS:
        raise InvalidArgument(f"dockerfile parse error on line {line}: unknown instruction: {cmd.cmd}")
    sub = None
    if name == "ONBUILD":
        if not cmd.sub_cmd:
            raise InvalidArgument(f"dockerfile parse error on line {line}: ONBUILD requires an instruction")
        inner = cmd.sub_cmd.upper()
        if inner in ("ONBUILD", "FROM", "MAINTAINER"):
            raise InvalidArgument(f"dockerfile parse error on line {line}: {inner} isn't allowed as an"
                                  " ONBUILD trigger")
        text = cmd.original.split(None, 1)[1] if " " in cmd.original else ""
        sub = Instruction(inner, tuple(cmd.value), (), cmd.json, line, text)
    heredocs = tuple(Heredoc(h.name, h.content, h.file_descriptor) for h in cmd.heredocs)
    instruction = Instruction(name, tuple(cmd.value), _flags(tuple(cmd.flags), name, line), cmd.json, line,
                              cmd.original, heredocs, sub)
    _check_args(instruction)
    return instruction


def _check_args(ins: Instruction) -> None:
    need_one = {"ADD": 2, "COPY": 2, "FROM": 1, "WORKDIR": 1, "USER": 1, "STOPSIGNAL": 1, "ARG": 1,
                "ENV": 1, "LABEL": 1, "EXPOSE": 1, "VOLUME": 1, "RUN": 1, "SHELL": 1}
    minimum = need_one.get(ins.cmd, 0)
    if ins.cmd in ("ADD", "COPY") and ins.heredocs:
        minimum = 1
    if len(ins.args) < minimum:
        what = "at least two arguments" if minimum == 2 else "at least one argument"
        if ins.cmd in ("WORKDIR", "USER", "STOPSIGNAL"):
            what = "exactly one argument"
        raise InvalidArgument(f"dockerfile parse error on line {ins.line}: {ins.cmd} requires {what}")
    if ins.cmd == "SHELL" and not ins.json:
        raise InvalidArgument(f"dockerfile parse error on line {ins.line}: SHELL requires the arguments"
                              " to be in JSON form")


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse ``text``; errors say the line, as Docker's."""
    import dockerfile as goparser  # on the first build: Docker's parser (a Go library) is ~2 MB

    directives, escape = _directives(text)
    try:
        commands = goparser.parse_string(text)
    except goparser.GoParseError as exc:
        raise InvalidArgument(f"failed to parse {name}: {exc}") from exc
    result = Dockerfile(meta_args=[], stages=[], escape=escape, directives=directives)
    for command in commands:
        ins = _instruction(command)
        if ins.cmd == "FROM":
            result.stages.append(_stage(ins, len(result.stages)))
        elif not result.stages:
            if ins.cmd != "ARG":
                raise InvalidArgument(f"dockerfile parse error on line {ins.line}: no build stage in"
                                      " current context")
            result.meta_args.append(ins)
        else:
            result.stages[-1].instructions.append(ins)
    if not result.stages:
        raise InvalidArgument(f"failed to parse {name}: file with no instructions")
    return result


def _stage(ins: Instruction, index: int) -> Stage:
    args = ins.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not re.match(r"^[a-z][a-z0-9_.-]*$", name):
            raise InvalidArgument(f"dockerfile parse error on line {ins.line}: invalid name for build"
                                  f" stage: {args[2]!r}, name can't start with a number or contain"
                                  " symbols")
    elif len(args) != 1:
        raise InvalidArgument(f"dockerfile parse error on line {ins.line}: FROM requires either one or"
                              " three arguments")
    return Stage(index=index, name=name, base=args[0], platform=ins.flag("platform") or "", line=ins.line)
