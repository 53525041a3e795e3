"""Loading Compose files: interpolation, merging, profiles, extends, include and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.compose.interpolation import InterpolationError, interpolate
from dockyard.compose.loader import load_project
from dockyard.compose.spec import parse_ports
from dockyard.compose.yamlfile import ComposeError


def test_interpolation_forms() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET} $SET $$SET", env) == "v v $SET"
    assert interpolate("${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET:-${SET}}", env) == "d  d v"
    assert interpolate("${SET:+alt}${UNSET:+alt}", env) == "alt"
    with pytest.raises(InterpolationError, match="required variable UNSET is missing a value: need it"):
        interpolate("${UNSET:?need it}", env)
    assert interpolate("${EMPTY?x}", env) == ""
    with pytest.raises(InterpolationError):
        interpolate("${EMPTY:?x}", env)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_override_file_merges_and_reset_override_tags(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", """
services:
  web:
    image: busybox
    environment: [A=1, B=2]
    ports: ["80:80"]
    command: sleep 1
    labels: {keep: "yes"}
""")
    _write(tmp_path, "compose.override.yaml", """
services:
  web:
    environment: {B: "3"}
    ports: !reset []
    labels: !override {only: "this"}
    command: [sleep, "2"]
""")
    project = load_project(working_dir=tmp_path, environ={})
    web = project.services["web"]
    assert web["environment"] == {"A": "1", "B": "3"} and "ports" not in web
    assert web["labels"] == {"only": "this"} and web["command"] == ["sleep", "2"]
    assert project.name == tmp_path.name.lower() and len(project.config_files) == 2


def test_dotenv_project_name_and_yaml_12_strings(tmp_path: Path) -> None:
    _write(tmp_path, ".env", "TAG=1.2\nCOMPOSE_X=ignored # comment\n")
    _write(tmp_path, "compose.yaml", "name: Demo_App\nservices:\n  a: {image: 'busybox:${TAG}', "
                                     "environment: {FLAG: yes}}\n")
    project = load_project(working_dir=tmp_path, environ={})
    assert project.name == "demo_app" and project.services["a"]["image"] == "busybox:1.2"
    assert project.services["a"]["environment"]["FLAG"] == "yes"  # YAML 1.2: not a boolean
    assert load_project(working_dir=tmp_path, environ={"COMPOSE_PROJECT_NAME": "other"}).name == "other"
    assert load_project(working_dir=tmp_path, environ={}, name="cli").name == "cli"


def test_profiles_extends_include_and_anchors(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", "services:\n  common: {image: busybox, environment: {X: '1'}}\n")
    _write(tmp_path, "inc.yaml", "services:\n  included: {image: busybox}\n")
    _write(tmp_path, "compose.yaml", """
include: [inc.yaml]
x-defaults: &defaults
  restart: always
services:
  app:
    <<: *defaults
    extends: {file: base.yaml, service: common}
    environment: {Y: "2"}
  debug:
    image: busybox
    profiles: [debug]
""")
    project = load_project(working_dir=tmp_path, environ={})
    assert set(project.services) == {"app", "included"} and "debug" in project.disabled
    assert project.services["app"]["environment"] == {"X": "1", "Y": "2"}
    assert project.services["app"]["restart"] == "always"
    assert "debug" in load_project(working_dir=tmp_path, environ={}, profiles=["debug"]).services


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  web:\n    image: busybox\n    bogus: 1\n",
     r"compose.yaml:4: services.web.bogus additional properties 'bogus' not allowed"),
    ("services:\n  web:\n    image: busybox\n    ports: 80\n", r"compose.yaml:4: services.web.ports"),
    ("services:\n  a: {image: busybox, depends_on: [b]}\n  b: {image: busybox, depends_on: [a]}\n",
     r"dependency cycle detected: a -> b -> a"),
    ("services:\n  a: {image: busybox, depends_on: [nope]}\n", r"depends on undefined service 'nope'"),
    ("services:\n  a:\n    image: ${IMG:?set IMG}\n",
     r"compose.yaml:3: services.a.image: required variable IMG is missing a value: set IMG"),
    ("services:\n  a: [\n", r"yaml: .*compose.yaml:"),
])
def test_bad_files_name_the_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, "compose.yaml", text)
    with pytest.raises(ComposeError, match=message):
        load_project(working_dir=tmp_path, environ={})


def test_no_file_found(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="no configuration file provided"):
        load_project(working_dir=tmp_path / "nowhere", environ={})


def test_ports_short_long_and_ranges() -> None:
    ports = parse_ports(["127.0.0.1:8080:80/udp", "9000-9001:90-91", "3000", {"target": 5, "published": 6}])
    assert ports[0] == {"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "udp"}
    assert [(p["published"], p["target"]) for p in ports[1:3]] == [("9000", 90), ("9001", 91)]
    assert ports[3]["published"] == "" and ports[4]["published"] == "6"


def test_config_prints_a_file_that_loads_to_the_same_project(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dockyard.cli.main import cli

    _write(tmp_path, "compose.yaml", "services:\n  a:\n    image: busybox\n"
                                     "    command: sh -c 'echo $$HOME ${WHO:-me}'\n")
    runner = CliRunner()
    first = runner.invoke(cli, ["compose", "--project-directory", str(tmp_path), "config"], env={})
    assert first.exit_code == 0, first.output
    assert "echo $$HOME me" in first.output
    _write(tmp_path, "again.yaml", first.output)
    again = load_project([tmp_path / "again.yaml"], working_dir=tmp_path, environ={})
    assert again.services["a"]["command"] == "sh -c 'echo $HOME me'"


@pytest.mark.parametrize(("service", "message"), [
    ("volumes: ['data:/x']", "refers to undefined volume data"),
    ("networks: [back]", "refers to undefined network back"),
    ("secrets: [token]", "refers to undefined secret token"),
])
def test_undefined_references_are_refused_at_load(tmp_path: Path, service: str, message: str) -> None:
    _write(tmp_path, "compose.yaml", f"services:\n  a:\n    image: busybox\n    {service}\n")
    with pytest.raises(ComposeError, match=message):
        load_project(working_dir=tmp_path, environ={})
    _write(tmp_path, "compose.yaml", "services:\n  a:\n    image: busybox\n    volumes: ['./d:/x', '/y']\n")
    assert load_project(working_dir=tmp_path, environ={}).services["a"]["volumes"]
