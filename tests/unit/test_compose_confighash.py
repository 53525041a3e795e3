"""The config hash is Compose v2's: golden values taken from Compose v2.40.3 (``docker compose
config --format json`` of the same file in /srv/app, which is what its hash.go marshals), and the
Go encodings it depends on. tests/compose/test_compose_hash.py checks the same against the live
binary and through containers."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.compose import load_text
from dockyard.compose.confighash import config_hash, service_model
from dockyard.compose.gojson import Float32, go_json
from dockyard.compose.shellwords import split
from dockyard.compose.yamlfile import ComposeError
from dockyard.gofmt import go_duration

STACK = """
services:
  web:
    image: busybox
    command: sh -c 'echo "<$$HOME>" && sleep 1'; echo dropped
    environment: [A=1, B=true, EMPTY=, FROM_SHELL, NOT_SET]
    ports: ["127.0.0.1:8080:80", "9000-9001:90-91/udp", {target: 443, published: 8443}, "8000-8010:7000"]
    volumes: [data:/data, ./html:/html:ro, {type: tmpfs, target: /scratch, tmpfs: {size: 1m}},
              ~/cache:/c:z, /anon]
    healthcheck: {test: curl -f localhost, interval: 1m30s, retries: 2, start_period: 500ms}
    restart: on-failure:3
    init: true
    extra_hosts: ["db.local=10.0.0.9", "v6:[::1]"]
    ulimits: {nofile: {soft: 100, hard: 200}, nproc: 50}
    stop_grace_period: 5s
    logging: {driver: json-file, options: {max-size: 1m}}
    deploy: {resources: {limits: {memory: 64m, cpus: "0.5"}}, replicas: 2,
             restart_policy: {condition: any, delay: 2s}}
    depends_on:
      db: {condition: service_healthy, restart: true}
    networks:
      back: {aliases: [www], ipv4_address: 172.30.0.5}
      default:
    labels: {x: "1", "y&z": "<v>"}
    secrets: [token, {source: token, target: other}]
    devices: ["/dev/null:/dev/xnull"]
    develop: {watch: [{action: sync, path: ./html, target: /html, ignore: [tmp/]},
                      {action: rebuild, path: Dockerfile}]}
  db:
    image: busybox
    entrypoint: ["/bin/sh", "-c"]
    healthcheck: {disable: true}
    network_mode: host
    cpus: 1.5
    shm_size: 1gb
    tmpfs: /run
    dns: 1.1.1.1
    user: "1000:1000"
    profiles: [all]
    sysctls: {net.core.somaxconn: 1024}
networks:
  back:
volumes:
  data:
secrets:
  token: {file: ./token}
"""
GOLDEN = {"web": "a90f81c7d229fcf8c52dd39b76f3dcb1c8677e6642ecca279a54ff9b8ca1c048",
          "db": "996fb16c31101a2cd432da0cd620069ef5a8b457cb5c0a293484051b4f2c004c"}


def test_hashes_are_compose_v2s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/root")
    project = load_text(STACK, name="golden", environ={"FROM_SHELL": "s", "COMPOSE_PROFILES": "all"},
                        working_dir=Path("/srv/app"))
    assert {name: config_hash(project, project.services[name]) for name in GOLDEN} == GOLDEN


def test_what_compose_v2_clears_does_not_count() -> None:
    project = load_text("services:\n  a: {image: busybox}\n", name="p", working_dir=Path("/srv/app"))
    service = project.services["a"]
    same = {**service, "scale": 3, "pull_policy": "always", "profiles": ["x"], "build": {"context": "."},
            "depends_on": {"b": {}}, "deploy": {"replicas": 2}, "x-note": 1}
    assert service_model(project, same) == {**service_model(project, service),
                                            "deploy": {"resources": {}, "placement": {}}}
    assert config_hash(project, {**service, "command": "true"}) != config_hash(project, service)
    # The simplest service: Compose v2's own label for it (tests/compose saw it on a container).
    assert go_json(service_model(project, service)) == (
        '{"command":null,"entrypoint":null,"image":"busybox","networks":{"default":null}}')


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (500_000_000, "500ms"), (1_500_000_000, "1.5s"), (90 * 10**9, "1m30s"),
    (3600 * 10**9, "1h0m0s"), (1500, "1.5µs"), (12, "12ns"), (3723 * 10**9, "1h2m3s")])
def test_durations_print_as_go_does(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_go_json_escapes_and_float32() -> None:
    assert go_json({"a": "<&>\n\x01\u2028", "f": Float32(0.1), "g": Float32(2.0), "n": None}) == (
        '{"a":"\\u003c\\u0026\\u003e\\n\\u0001\\u2028","f":0.1,"g":2,"n":null}')


@pytest.mark.parametrize(("line", "words"), [
    ("echo 'a b' \"c d\"", ["echo", "a b", "c d"]),
    ("echo a; echo b", ["echo", "a"]),                 # go-shellwords stops at ; & | < >
    ("sh -c 'x; y' && true", ["sh", "-c", "x; y"]),
    ('echo "a\\tb" \\$HOME', ["echo", "atb", "$HOME"]),  # a backslash escapes any character
    ("echo ''", ["echo", ""]),
    ("echo $(date)", ["echo", "$(date)"]),
    ("echo 2>/dev/null", ["echo"]),
])
def test_command_words_are_go_shellwords(line: str, words: list[str]) -> None:
    assert split(line) == words


@pytest.mark.parametrize("line", ["echo 'open", "echo (x)", "echo \\"])
def test_command_words_refused_as_compose_v2_does(line: str) -> None:
    with pytest.raises(ComposeError, match="invalid command line string"):
        split(line)
