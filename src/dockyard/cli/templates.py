"""A subset of Go's text/template, enough for docker's ``--format`` flags.

Supported: literal text, ``{{.Field.Sub}}``, ``{{.}}``, method calls with arguments
(``{{.Label "x"}}``), functions (docker's ``json``, ``upper``, ``lower``, ``title``, ``join``,
``split``, ``pad``, ``truncate``, ``println`` and Go's ``index``, ``len``, ``printf``, ``print``,
``eq``/``ne``/``lt``/``le``/``gt``/``ge``, ``not``/``and``/``or``), pipes, parentheses,
``if``/``else``/``range``/``with``/``end``, ``{{-`` / ``-}}`` trimming. Values print as Go's ``%v``
does (``map[a:b]``, ``[x y]``, ``<no value>``), so ``inspect --format`` output matches docker's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class TemplateError(Exception):
    """The format string does not parse or fails on a value (docker: ``template: …``)."""


class _Missing:
    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()

_TOKEN_RE = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<var>\$\w*(?:\.\w+)*)
  | (?P<field>(?:\.\w+)+|\.)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<punct>[|()])
)""", re.VERBOSE)


def go_string(value: Any) -> str:
    """Go's ``fmt`` ``%v`` rendering of a JSON-like value."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_string(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def to_json(value: Any) -> str:
    """docker's ``json`` function: Go's encoder without HTML escaping; map keys sorted."""
    marshal = getattr(value, "marshal_json", None)
    if callable(marshal):  # Go's json.Marshaler: a value that writes its own JSON (a struct's order)
        return str(marshal())
    as_json = getattr(value, "to_json", None)
    if value is MISSING:
        value = None
    if callable(as_json):
        # docker's row contexts marshal themselves with Go's json.Marshal, which escapes HTML.
        text = json.dumps(as_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _truthy(value: Any) -> bool:
    return value is not MISSING and bool(value)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return value


def _printf(fmt: str, *args: Any) -> str:
    go_to_py = re.sub(r"%v|%q|%d|%s", lambda m: "%r" if m.group() == "%q" else "%s", fmt)
    return go_to_py % tuple(go_string(a) if not isinstance(a, (int, float)) else a for a in args)


def _compare(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(a: Any, *others: Any) -> bool:
        return any(op(a, b) for b in others) if op is _eq else op(a, others[0])
    return compare


def _eq(a: Any, b: Any) -> bool:
    return bool(a == b)


def _and(*args: Any) -> Any:
    for arg in args:
        if not _truthy(arg):
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    for arg in args:
        if _truthy(arg):
            return arg
    return args[-1]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "upper": lambda s: go_string(s).upper(),
    "lower": lambda s: go_string(s).lower(),
    "title": lambda s: go_string(s).title(),
    "join": lambda items, sep: sep.join(go_string(i) for i in (items or [])),
    "split": lambda s, sep: go_string(s).split(sep),
    "pad": lambda s, left, right: " " * left + go_string(s) + " " * right,
    "truncate": lambda s, n: go_string(s)[:n],
    "println": lambda *a: " ".join(go_string(x) for x in a) + "\n",
    "print": lambda *a: "".join(go_string(x) for x in a),
    "printf": _printf,
    "index": _index,
    "len": lambda v: len(v) if v is not MISSING and v is not None else 0,
    "eq": _compare(_eq),
    "ne": _compare(lambda a, b: a != b),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
    "not": lambda v: not _truthy(v),
    "and": _and,
    "or": _or,
}


# ---- parse tree ----

Word = tuple[str, Any]   # (kind, value): "str", "num", "field", "var", "ident", "pipe"
Command = list[Word]
Pipeline = list[Command]


@dataclass
class _Node:
    kind: str                       # "text", "action", "if", "range", "with"
    text: str = ""
    pipeline: Pipeline = field(default_factory=list)
    body: list[_Node] = field(default_factory=list)
    alternative: list[_Node] = field(default_factory=list)


def _tokenize(source: str) -> list[Word]:
    words: list[Word] = []
    pos = 0
    source = source.rstrip()
    while pos < len(source):
        match = _TOKEN_RE.match(source, pos)
        if not match or match.end() == pos:
            raise TemplateError(f"template: unexpected {source[pos:]!r} in command")
        pos = match.end()
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "str":
            value: Any = json.loads(text) if text.startswith('"') else text[1:-1]
        elif kind == "num":
            value = float(text) if "." in text else int(text)
        else:
            value = text
        words.append((kind, value))
    return words


def _parse_pipeline(words: list[Word]) -> Pipeline:
    pipeline: Pipeline = [[]]
    depth_stack: list[Pipeline] = []
    for kind, value in words:
        if kind == "punct" and value == "|":
            pipeline.append([])
        elif kind == "punct" and value == "(":
            depth_stack.append(pipeline)
            pipeline = [[]]
        elif kind == "punct" and value == ")":
            if not depth_stack:
                raise TemplateError("template: unexpected right paren")
            inner = pipeline
            pipeline = depth_stack.pop()
            pipeline[-1].append(("pipe", inner))
        else:
            pipeline[-1].append((kind, value))
    if depth_stack or any(not command for command in pipeline):
        raise TemplateError("template: missing value for command")
    return pipeline


_ACTION_RE = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)


def _split(source: str) -> list[tuple[str, str]]:
    """Text and actions, with ``{{-``/``-}}`` trimming applied to the neighbouring text."""
    parts: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for match in _ACTION_RE.finditer(source):
        text = source[pos:match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            parts.append(("text", text))
        parts.append(("action", match.group(2).strip()))
        trim_next = bool(match.group(3))
        pos = match.end()
    tail = source[pos:]
    if "{{" in tail:
        raise TemplateError("template: unclosed action")
    if trim_next:
        tail = tail.lstrip()
    if tail:
        parts.append(("text", tail))
    return parts


def _parse(parts: list[tuple[str, str]], pos: int, stop: Sequence[str]) -> tuple[list[_Node], int, str]:
    nodes: list[_Node] = []
    while pos < len(parts):
        kind, text = parts[pos]
        pos += 1
        if kind == "text":
            nodes.append(_Node("text", text=text))
            continue
        keyword = text.split(None, 1)[0] if text else ""
        if keyword in ("end", "else"):
            if keyword not in stop:
                raise TemplateError(f"template: unexpected {{{{{keyword}}}}}")
            return nodes, pos, keyword
        if keyword in ("if", "range", "with"):
            node = _Node(keyword, pipeline=_parse_pipeline(_tokenize(text[len(keyword):])))
            node.body, pos, ended = _parse(parts, pos, ("end", "else"))
            if ended == "else":
                node.alternative, pos, _ = _parse(parts, pos, ("end",))
            nodes.append(node)
            continue
        if text.startswith("/*"):
            continue
        nodes.append(_Node("action", pipeline=_parse_pipeline(_tokenize(text))))
    if stop:
        raise TemplateError("template: unexpected EOF")
    return nodes, pos, ""


def _lookup(value: Any, name: str, args: list[Any]) -> Any:
    if value is MISSING or value is None:
        return MISSING
    if isinstance(value, dict):
        return value.get(name, MISSING)
    attr = getattr(value, name, MISSING) if not name.startswith("_") else MISSING
    if attr is MISSING:
        raise TemplateError(f"template: can't evaluate field {name} in type {type(value).__name__}")
    return attr(*args) if callable(attr) else attr


class Template:
    """A parsed template; ``render(value)`` executes it with ``value`` as dot."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes, _, _ = _parse(_split(source), 0, ())

    def render(self, dot: Any) -> str:
        out: list[str] = []
        self._exec(self.nodes, dot, out)
        return "".join(out)

    def _exec(self, nodes: list[_Node], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                out.append(go_string(self._pipeline(node.pipeline, dot)))
            elif node.kind == "if":
                chosen = node.body if _truthy(self._pipeline(node.pipeline, dot)) else node.alternative
                self._exec(chosen, dot, out)
            elif node.kind == "with":
                value = self._pipeline(node.pipeline, dot)
                self._exec(node.body if _truthy(value) else node.alternative,
                           value if _truthy(value) else dot, out)
            elif node.kind == "range":
                self._range(node, dot, out)

    def _range(self, node: _Node, dot: Any, out: list[str]) -> None:
        value = self._pipeline(node.pipeline, dot)
        items = [value[k] for k in sorted(value)] if isinstance(value, dict) else value
        if not _truthy(items):
            self._exec(node.alternative, dot, out)
            return
        for item in items:
            self._exec(node.body, item, out)

    def _pipeline(self, pipeline: Pipeline, dot: Any) -> Any:
        result: Any = MISSING
        for index, command in enumerate(pipeline):
            piped = [result] if index > 0 else []
            result = self._command(command, dot, piped)
        return result

    def _command(self, command: Command, dot: Any, piped: list[Any]) -> Any:
        (kind, value), rest = command[0], command[1:]
        args = [self._operand(word, dot) for word in rest] + piped
        if kind == "ident":
            if value in ("true", "false"):
                return value == "true"
            if value == "nil":
                return None
            func = FUNCTIONS.get(value)
            if func is None:
                raise TemplateError(f'template: function "{value}" not defined')
            try:
                return func(*args)
            except TemplateError:
                raise
            except Exception as exc:
                raise TemplateError(f"template: error calling {value}: {exc}") from exc
        if kind == "field":
            return self._field(dot, value, args)
        if args:
            raise TemplateError(f"template: can't give argument to non-function {value}")
        return self._operand((kind, value), dot)

    def _field(self, dot: Any, chain: str, args: list[Any]) -> Any:
        names = [n for n in chain.split(".") if n]
        value = dot
        for position, name in enumerate(names):
            value = _lookup(value, name, args if position == len(names) - 1 else [])
        return value

    def _operand(self, word: Word, dot: Any) -> Any:
        kind, value = word
        if kind == "field":
            return self._field(dot, value, [])
        if kind == "var":
            return self._field(dot, value[1:], [])  # only $ (the top-level dot) is kept
        if kind == "pipe":
            return self._pipeline(value, dot)
        if kind == "ident":
            return self._command([word], dot, [])
        return value


def expand_escapes(source: str) -> str:
    """docker lets ``\\t`` and ``\\n`` be typed literally in a format string."""
    return source.replace("\\t", "\t").replace("\\n", "\n")
