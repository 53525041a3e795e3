"""The Go-template subset behind ``--format`` and docker's tabwriter output."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.cli.formatter import HeaderRow, render_rows, tabwrite
from dockyard.cli.templates import Template, TemplateError, expand_escapes

INSPECT = {
    "Id": "abc123",
    "Name": "/web",
    "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0},
    "Config": {"Labels": {"com.example": "yes", "tier": "front"}, "Env": ["A=1", "B=2"], "Cmd": None},
    "Mounts": [{"Source": "/a", "Destination": "/x"}, {"Source": "/b", "Destination": "/y"}],
    "HostConfig": {"Binds": []},
}

CASES: list[tuple[str, Any, str]] = [
    ("{{.State.Status}}", INSPECT, "running"),
    ("{{.State.Running}}", INSPECT, "true"),
    ("{{.State.Pid}}", INSPECT, "4242"),
    ("{{.Name}} is {{.State.Status}}", INSPECT, "/web is running"),
    ("{{.Config.Cmd}}", INSPECT, "<nil>"),
    ("{{.Config.Nope}}", INSPECT, "<no value>"),
    ("{{.Config.Env}}", INSPECT, "[A=1 B=2]"),
    ("{{.Config.Labels}}", INSPECT, "map[com.example:yes tier:front]"),
    ("{{json .Config.Labels}}", INSPECT, '{"com.example":"yes","tier":"front"}'),
    ("{{json .State}}", INSPECT, '{"ExitCode":0,"Pid":4242,"Running":true,"Status":"running"}'),
    ("{{json .HostConfig.Binds}}", INSPECT, "[]"),
    ('{{index .Config.Labels "tier"}}', INSPECT, "front"),
    ('{{join .Config.Env ","}}', INSPECT, "A=1,B=2"),
    ("{{upper .State.Status}}", INSPECT, "RUNNING"),
    ("{{.State.Status | upper}}", INSPECT, "RUNNING"),
    ("{{lower (upper .Name)}}", INSPECT, "/web"),
    ("{{title .State.Status}}", INSPECT, "Running"),
    ("{{len .Mounts}}", INSPECT, "2"),
    ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", INSPECT, "/a:/x /b:/y "),
    ("{{if .State.Running}}up{{else}}down{{end}}", INSPECT, "up"),
    ("{{if .Config.Cmd}}cmd{{else}}none{{end}}", INSPECT, "none"),
    ('{{if eq .State.Status "running"}}yes{{end}}', INSPECT, "yes"),
    ("{{with .State}}{{.Pid}}{{end}}", INSPECT, "4242"),
    ("a {{- .Name -}} b", INSPECT, "a/webb"),
    ('{{printf "%s-%d" .Name .State.Pid}}', INSPECT, "/web-4242"),
    ('{{split "a:b" ":"}}', INSPECT, "[a b]"),
    ("plain text", INSPECT, "plain text"),
    ("{{.}}", "x", "x"),
]


@pytest.mark.parametrize(("source", "value", "expected"), CASES)
def test_template_renders_like_go(source: str, value: Any, expected: str) -> None:
    assert Template(source).render(value) == expected


class Row:
    ID = "0123456789ab"
    Names = "web"

    def Label(self, name: str) -> str:  # noqa: N802
        return {"tier": "front"}.get(name, "")

    def to_json(self) -> dict[str, str]:
        return {"Names": self.Names, "ID": self.ID}


def test_method_fields_take_arguments_and_json_dot_uses_to_json() -> None:
    assert Template('{{.Label "tier"}}/{{.Label "none"}}').render(Row()) == "front/"
    assert Template("{{json .}}").render(Row()) == '{"ID":"0123456789ab","Names":"web"}'


@pytest.mark.parametrize("source", ["{{.Name", "{{if .X}}no end", "{{nosuchfunc .X}}", "{{end}}"])
def test_bad_templates_are_errors(source: str) -> None:
    with pytest.raises(TemplateError):
        Template(source).render(INSPECT)


def test_unknown_field_of_an_object_is_an_error() -> None:
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        Template("{{.Nope}}").render(Row())


def test_escapes_typed_on_the_command_line() -> None:
    assert expand_escapes(r"{{.ID}}\t{{.Names}}\n") == "{{.ID}}\t{{.Names}}\n"


def test_tabwriter_matches_docker_padding() -> None:
    out = tabwrite(["CONTAINER ID\tIMAGE\tNAMES", "0123456789ab\tbusybox\tweb"])
    assert out == ("CONTAINER ID   IMAGE     NAMES\n"
                   "0123456789ab   busybox   web\n")


def test_table_format_draws_header_from_field_names() -> None:
    headers = {"ID": "CONTAINER ID", "Names": "NAMES"}
    out = render_rows(r"table {{.ID}}\t{{.Names}}", [Row()], default="", headers=headers)
    assert out == "CONTAINER ID   NAMES\n0123456789ab   web\n"
    assert render_rows("{{.Names}}", [Row(), Row()], default="", headers=headers) == "web\nweb\n"
    as_json = render_rows("json", [Row()], default="", headers=headers)
    assert as_json == '{"ID":"0123456789ab","Names":"web"}\n'
    assert HeaderRow(headers).Label("x") == "LABEL"
