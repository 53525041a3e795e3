"""A ``command:``/``entrypoint:`` string split into words the way Compose v2 splits it.

compose-go decodes a string command with mattn/go-shellwords (v1.0.12, environment and backticks
off), which is not POSIX ``shlex``: a backslash escapes any character, also inside double quotes;
an unquoted ``;``, ``&``, ``|``, ``<`` or ``>`` ends the command (the rest is dropped, so
``echo a; echo b`` runs ``echo a``); an unquoted ``(`` not after ``$`` is an error. The container
must run what Compose v2 would run, and the words are part of the config hash, so both tools
must split alike.
"""

from __future__ import annotations

from dockyard.compose.yamlfile import ComposeError

_SPACES = frozenset(" \t\r\n")
_STOPS = frozenset(";&|<>")


class _State:
    """The parser's flags between characters (go-shellwords keeps them as locals)."""

    def __init__(self) -> None:
        self.escaped = self.double = self.single = self.backquote = self.dollar = False

    def quoted(self) -> bool:
        return self.single or self.double or self.backquote or self.dollar


def split(line: str) -> list[str]:
    """The words of ``line``; ``ComposeError`` where go-shellwords fails."""
    args: list[str] = []
    buf = ""
    got = False  # whether a word has started (go-shellwords' argSingle/argQuoted)
    st = _State()
    for char in line:
        if st.escaped:
            buf, st.escaped, got = buf + char, False, True
            continue
        if char == "\\":
            if st.single:
                buf += char
            else:
                st.escaped = True
            continue
        if char in _SPACES:
            if st.quoted():
                buf += char
            elif got:
                args.append(buf)
                buf, got = "", False
            continue
        if char == "`" and not (st.single or st.double or st.dollar):
            st.backquote = not st.backquote
        elif char == ")" and not (st.single or st.double or st.backquote):
            st.dollar = not st.dollar
        elif char == "(" and not (st.single or st.double or st.backquote):
            if st.dollar or not buf.endswith("$"):
                raise ComposeError(f"invalid command line string: {line!r}")
            st.dollar = True
            buf += char
            continue
        elif char == '"' and not (st.single or st.dollar):
            got = got or st.double
            st.double = not st.double
            continue
        elif char == "'" and not (st.double or st.dollar):
            got = got or st.single
            st.single = not st.single
            continue
        elif char in _STOPS and not st.quoted():
            if char == ">" and buf and "0" <= buf[0] <= "9":
                got = False  # ``2>file``: the descriptor is not a word
            break
        got = True
        buf += char
    if got:
        args.append(buf)
    if st.escaped or st.quoted():
        raise ComposeError(f"invalid command line string: {line!r}")
    return args
