"""What each config-only instruction does to the image config (Docker's ``Config`` object).

Pure functions over a :class:`StageState`; the solver commits their result as an ``empty_layer``
history entry. ``created_by`` follows dockerd's classic builder: ``/bin/sh -c #(nop)  CMD ["x"]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dockyard.core.builder.dockerfile import Instruction
from dockyard.core.builder.shell import expand, expand_words
from dockyard.errors import InvalidArgument
from dockyard.gofmt import go_duration, go_quote, go_quote_rune

DEFAULT_SHELL = ["/bin/sh", "-c"]
# Docker's predefined ARGs: usable with --build-arg without an ARG line, never in history.
PROXY_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                        "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
            "h": 3600 * 10**9}


@dataclass(slots=True)
class StageState:
    """The config a stage has reached and the ARGs in scope."""

    config: dict[str, Any]
    args: dict[str, str] = field(default_factory=dict)  # declared ARGs with a value
    escape: str = "\\"
    cmd_set: bool = False  # a CMD in this stage: ENTRYPOINT then keeps it

    @property
    def env(self) -> dict[str, str]:
        """Variables for substitution: ARGs, with ENV winning on a clash (as Docker)."""
        found = dict(self.args)
        for entry in self.config.get("Env") or []:
            key, _, value = entry.partition("=")
            found[key] = value
        return found

    @property
    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def word(self, text: str) -> str:
        return expand(text, self.env, self.escape)


def set_env(config: dict[str, Any], key: str, value: str) -> None:
    env = [e for e in (config.get("Env") or []) if e.partition("=")[0] != key]
    config["Env"] = [*env, f"{key}={value}"]


def _pairs(ins: Instruction, state: StageState) -> list[tuple[str, str]]:
    """ENV/LABEL key-value pairs (the parser gives them alternately)."""
    args = list(ins.args)
    if len(args) % 2:
        raise InvalidArgument(f"dockerfile parse error on line {ins.line}: {ins.cmd} requires"
                              " key=value pairs")
    return [(state.word(args[i]), state.word(args[i + 1])) for i in range(0, len(args), 2)]


def _command(ins: Instruction, state: StageState) -> list[str]:
    """CMD/ENTRYPOINT: the JSON form as is, the shell form through the SHELL."""
    if ins.json:
        return list(ins.args)
    return [*state.shell, " ".join(ins.args)]


def duration_ns(text: str, what: str) -> int:
    parts = _DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise InvalidArgument(f"time: invalid duration \"{text}\" for {what}")
    return int(sum(float(n) * _UNIT_NS[u] for n, u in parts))


def _healthcheck(ins: Instruction) -> dict[str, Any]:
    kind = ins.args[0].upper()
    if kind == "NONE":
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise InvalidArgument(f"dockerfile parse error on line {ins.line}: Unknown type \"{kind}\" in"
                              " HEALTHCHECK (try CMD)")
    rest = list(ins.args[1:])
    if ins.json:  # the exec form, its JSON array already read by the parser; anything else is a shell
        test = ["CMD", *rest]
    else:
        test = ["CMD-SHELL", " ".join(rest)]
    check: dict[str, Any] = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        value = ins.flag(flag)
        if value:
            check[key] = duration_ns(value, f"--{flag}")
    if ins.flag("retries"):
        check["Retries"] = int(ins.flag("retries") or 0)
    return check


def apply(ins: Instruction, state: StageState) -> str:
    """Change ``state.config`` for a config-only instruction; return its history text."""
    config = state.config
    cmd = ins.cmd
    if cmd == "ENV":
        pairs = _pairs(ins, state)
        for key, value in pairs:
            set_env(config, key, value)
        return "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    if cmd == "LABEL":
        pairs = _pairs(ins, state)
        config["Labels"] = {**(config.get("Labels") or {}), **dict(pairs)}
        return "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
    if cmd in ("CMD", "ENTRYPOINT"):
        argv = _command(ins, state)
        config["Cmd" if cmd == "CMD" else "Entrypoint"] = argv
        if cmd == "ENTRYPOINT" and not state.cmd_set:
            config["Cmd"] = None  # ENTRYPOINT resets an inherited CMD, as Docker
        if cmd == "CMD":
            state.cmd_set = True
        return f"{cmd} {go_quoted(argv)}"
    if cmd == "EXPOSE":
        ports = [p for a in ins.args for p in expand_words(a, state.env, state.escape)]
        exposed = dict(config.get("ExposedPorts") or {})
        for port in ports:
            exposed[port if "/" in port else f"{port}/tcp"] = {}
        config["ExposedPorts"] = exposed
        return "EXPOSE " + " ".join(ports)  # as written (after expansion), as moby's
    if cmd == "VOLUME":
        paths = list(ins.args) if ins.json else [p for a in ins.args
                                                 for p in expand_words(a, state.env, state.escape)]
        volumes = dict(config.get("Volumes") or {})
        for path in paths:
            if not path.strip():
                raise InvalidArgument("VOLUME specified can not be an empty string")
            volumes[state.word(path) if ins.json else path] = {}
        config["Volumes"] = volumes
        return "VOLUME " + go_list(paths)
    return _apply_rest(ins, state)


def _apply_rest(ins: Instruction, state: StageState) -> str:
    config = state.config
    cmd = ins.cmd
    if cmd == "USER":
        config["User"] = state.word(ins.args[0])
        return f"USER {config['User']}"
    if cmd == "STOPSIGNAL":
        config["StopSignal"] = state.word(ins.args[0])
        return f"STOPSIGNAL {config['StopSignal']}"
    if cmd == "HEALTHCHECK":
        config["Healthcheck"] = _healthcheck(ins)
        return f"HEALTHCHECK {healthcheck_text(config['Healthcheck'])}"
    if cmd == "SHELL":
        config["Shell"] = list(ins.args)
        return f"SHELL {go_list(list(ins.args))}"
    if cmd == "ONBUILD":
        config["OnBuild"] = [*(config.get("OnBuild") or []), ins.original.split(None, 1)[1]]
        return f"ONBUILD {config['OnBuild'][-1]}"
    if cmd == "MAINTAINER":
        return f"MAINTAINER {' '.join(ins.args)}"
    if cmd == "WORKDIR":
        path = state.word(ins.args[0])
        if not path.startswith("/"):
            path = (config.get("WorkingDir") or "/").rstrip("/") + "/" + path
        config["WorkingDir"] = path
        return f"WORKDIR {path}"
    raise InvalidArgument(f"{cmd} is not a config instruction")


def go_quoted(words: list[str]) -> str:
    """Go's ``%q`` of a ``[]string``, as moby's classic builder writes CMD/ENTRYPOINT history."""
    return "[" + " ".join(go_quote(w) for w in words) + "]"


def healthcheck_text(check: dict[str, Any]) -> str:
    """moby's ``fmt.Sprintf("HEALTHCHECK %q", runConfig.Healthcheck)`` after the keyword: Go's
    ``%q`` of a ``*HealthConfig``, its fields in order, durations through their ``String()``
    and ``Retries`` as a character literal: ``&{["CMD-SHELL" "x"] "30s" "5s" "0s" "0s" '\x03'}``.
    The fields are moby 25's and later (``StartInterval`` after ``StartPeriod``), the API we serve;
    dockerd 20.10 prints one duration fewer."""
    durations = [go_quote(go_duration(int(check.get(key) or 0)))
                 for key in ("Interval", "Timeout", "StartPeriod", "StartInterval")]
    retries = go_quote_rune(int(check.get("Retries") or 0))
    return f"&{{{go_quoted(list(check['Test']))} {' '.join(durations)} {retries}}}"


def go_list(words: list[str]) -> str:
    """Go's ``%v`` of a ``[]string`` (SHELL, VOLUME history): ``[/bin/sh -c]``."""
    return "[" + " ".join(words) + "]"


def history_text(text: str, shell: list[str] | None = None, *, joined: bool = False) -> str:
    """moby's ``withCmdComment`` (the comment a word of its own after ``#(nop) ``, hence two
    spaces) or, ``joined``, ``withCmdCommentString`` (WORKDIR, COPY, ADD: one space), after the
    stage's shell."""
    return f"{' '.join(shell or DEFAULT_SHELL)} #(nop) {'' if joined else ' '}{text}"
