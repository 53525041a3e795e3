"""Shell-word expansion with Docker's rules (moby's ``shell.Lex``), for every instruction but RUN.

- Single quotes keep everything literal; double quotes expand ``$`` and let the escape character
  escape only ``"``, ``$`` and itself; outside quotes the escape character makes the next one literal.
- ``$VAR``, ``${VAR}``, ``${VAR:-word}``/``${VAR-word}`` (default), ``${VAR:+word}``/``${VAR+word}``
  (alternative) and ``${VAR:?msg}``/``${VAR?msg}`` (error); the forms with ``:`` treat an empty
  value as unset. ``word`` is itself expanded.
- :func:`expand_words` also splits on unquoted blanks (EXPOSE, VOLUME's shell form).
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.errors import InvalidArgument

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, raw: bool = False) -> None:
        self.raw = raw  # moby's RawQuotes + RawEscapes: only variables change, quotes stay
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def words(self, stop: str = "", split: bool = False) -> list[str]:
        """Read up to ``stop`` (not consumed) or the end; a list of one word unless ``split``."""
        words: list[str] = []
        current: list[str] = []
        in_word = False
        while self.pos < len(self.text) and self.peek() != stop:
            ch = self.next()
            if split and ch in " \t\r\n":
                if in_word:
                    words.append("".join(current))
                    current, in_word = [], False
                continue
            in_word = True
            if ch == "'":
                current.append(f"'{self._single_quoted()}'" if self.raw else self._single_quoted())
            elif ch == '"':
                current.append(f'"{self._double_quoted()}"' if self.raw else self._double_quoted())
            elif ch == "$":
                value = self._dollar()
                if split:
                    # Expanded text is split on blanks too, as moby's wordsStruct.addString.
                    parts = value.split()
                    if parts and value[:1].isspace() and current:
                        words.append("".join(current))
                        current = []
                    for part in parts[:-1]:
                        current.append(part)
                        words.append("".join(current))
                        current = []
                    current.append(parts[-1] if parts else "")
                else:
                    current.append(value)
            elif ch == self.escape:
                escaped = self.next() if self.pos < len(self.text) else ""
                current.append(ch + escaped if self.raw else escaped or ch)
            else:
                current.append(ch)
        if in_word or not split:
            words.append("".join(current))
        return words

    def _single_quoted(self) -> str:
        end = self.text.find("'", self.pos)
        if end < 0:
            raise InvalidArgument(f"unexpected end of statement while looking for matching single-quote"
                                  f" in {self.text!r}")
        value = self.text[self.pos:end]
        self.pos = end + 1
        return value

    def _double_quoted(self) -> str:
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise InvalidArgument(f"unexpected end of statement while looking for matching"
                                      f" double-quote in {self.text!r}")
            ch = self.next()
            if ch == '"':
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
            elif ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(ch + self.next() if self.raw else self.next())
            else:
                out.append(ch)

    def _name(self) -> str:
        start = self.pos
        if self.peek().isdigit():  # $1: one digit, as a shell positional parameter
            self.pos += 1
            return self.text[start:self.pos]
        while self.peek() and self.peek() in _NAME_CHARS:
            self.pos += 1
        return self.text[start:self.pos]

    def _dollar(self) -> str:
        if self.peek() != "{":
            name = self._name()
            return self.env.get(name, "") if name else "$"
        self.pos += 1
        name = self._name()
        if not name:
            raise InvalidArgument(f"bad substitution in {self.text!r}")
        if self.peek() == "}":
            self.pos += 1
            return self.env.get(name, "")
        colon = self.peek() == ":"
        if colon:
            self.pos += 1
        op = self.next()
        if op not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier ({op}) in substitution in {self.text!r}")
        word = self.words(stop="}")[0]
        if self.next() != "}":
            raise InvalidArgument(f"missing '}}' in substitution in {self.text!r}")
        value = self.env.get(name)
        is_set = value is not None and (value != "" or not colon)
        if op == "-":
            return value if is_set and value is not None else word
        if op == "+":
            return word if is_set else ""
        if not is_set:
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
        return value or ""


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """``word`` with its variables substituted and its quotes and escapes removed."""
    return _Lexer(word, env, escape).words()[0]


def expand_heredoc(content: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """A heredoc with an unquoted delimiter: variables substituted, quotes and escapes kept."""
    return _Lexer(content, env, escape, raw=True).words()[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """``text`` expanded and split on unquoted blanks into words."""
    return _Lexer(text, env, escape).words(split=True)
