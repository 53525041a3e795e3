"""``--format`` handling and docker's column output (Go's tabwriter with docker's settings)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.cli.client import CliError
from dockyard.cli.templates import Template, TemplateError, expand_escapes

# docker: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0): cells are at least 10 wide, 3 spaces of padding.
MIN_WIDTH = 10
PADDING = 3


def tabwrite(lines: Iterable[str], min_width: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """Align tab-terminated cells as Go's tabwriter does; text after the last tab is not padded."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for cells in rows:
        for index, cell in enumerate(cells[:-1]):
            widths[index] = max(widths.get(index, 0), len(cell) + padding, min_width)
    out = []
    for cells in rows:
        padded = [cell.ljust(widths[index]) for index, cell in enumerate(cells[:-1])]
        out.append("".join(padded) + cells[-1])
    return "".join(line + "\n" for line in out)


class HeaderRow:
    """The value a ``table`` template is executed with to draw its header line."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        header = self._headers.get(name, name.upper())
        return _HeaderValue(header)

    def to_json(self) -> str:
        return ""


class _HeaderValue(str):
    """A header that also accepts the arguments of a method field (``{{.Label "x"}}``)."""

    def __call__(self, *args: Any) -> str:
        return str(self)


def compile_template(source: str) -> Template:
    try:
        return Template(source)
    except TemplateError as exc:
        raise CliError(str(exc), 125) from exc


def render_rows(fmt: str | None, rows: Iterable[Any], *, default: str,
                headers: Mapping[str, str], quiet_field: str | None = None) -> str:
    """Render listing rows as docker does for ``--format`` (``table …``, ``json``, a template)."""
    source = expand_escapes(fmt or "table")
    if source == "json":
        source = "{{json .}}"
    if source == "table":
        source = "table " + default
    table = source.startswith("table")
    if table:
        source = source[len("table"):].lstrip(" ")
    template = compile_template(source)
    lines = []
    try:
        if table:
            lines.append(template.render(HeaderRow(headers)))
        lines.extend(template.render(row) for row in rows)
    except TemplateError as exc:
        raise CliError(str(exc), 125) from exc
    if table:
        return tabwrite(lines)
    return "".join(line + "\n" for line in lines)


def render_each(fmt: str, values: Iterable[Any]) -> str:
    """``inspect --format``: one rendering per object, each followed by a newline."""
    template = compile_template(expand_escapes(fmt))
    try:
        return "".join(template.render(value) + "\n" for value in values)
    except TemplateError as exc:
        raise CliError(str(exc), 125) from exc


def ellipsis(text: str, width: int) -> str:
    """docker's ``formatter.Ellipsis``: cut to ``width`` characters ending in ``…``."""
    if len(text) <= width:
        return text
    return text[:width - 1] + "…" if width > 1 else text[:width]


def short_id(identifier: str) -> str:
    """12-character short ID, without the ``sha256:`` algorithm prefix."""
    _, _, hexpart = identifier.rpartition(":")
    return hexpart[:12]
