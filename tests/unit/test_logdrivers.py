"""Log driver registry and options (Docker's texts), tag templates and attributes, the daemon's
bounded default and its merge into a container's LogConfig, GELF chunking, syslog formats, and
the CLI's --log-driver/--log-opt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from dockyard.backends.logdrivers import builtin_registry
from dockyard.backends.logdrivers.gelf import CHUNK_SIZE, chunks
from dockyard.backends.logdrivers.syslog import format_message
from dockyard.cli.create_opts import build_create_body, create_options
from dockyard.core.logging.driver import LogContext, parse_size
from dockyard.core.logging.service import LogService, daemon_defaults
from dockyard.errors import InvalidArgument


def service(driver: str = "json-file", opts: dict[str, str] | None = None) -> LogService:
    return LogService(builtin_registry(), *daemon_defaults(driver, opts))


def test_unknown_driver_and_options_use_dockers_texts() -> None:
    svc = service()
    with pytest.raises(InvalidArgument, match="no log driver named 'x' is registered"):
        svc.resolve({"LogConfig": {"Type": "x"}})
    with pytest.raises(InvalidArgument, match="unknown log opt 'bogus' for json-file log driver"):
        svc.resolve({"LogConfig": {"Config": {"bogus": "1"}}})
    with pytest.raises(InvalidArgument, match="unknown log opt 'cache-disabled' for json-file"):
        svc.resolve({"LogConfig": {"Config": {"cache-disabled": "true"}}})
    with pytest.raises(InvalidArgument, match="invalid size"):
        svc.resolve({"LogConfig": {"Config": {"max-size": "ten"}}})
    with pytest.raises(InvalidArgument, match="Invalid syslog format"):
        svc.resolve({"LogConfig": {"Type": "syslog", "Config": {"syslog-format": "rfc9999"}}})
    with pytest.raises(InvalidArgument, match="unsupported scheme"):
        svc.resolve({"LogConfig": {"Type": "syslog", "Config": {"syslog-address": "http://x"}}})
    with pytest.raises(InvalidArgument, match="not supported with TCP"):
        svc.resolve({"LogConfig": {"Type": "gelf", "Config": {
            "gelf-address": "tcp://127.0.0.1:1", "gelf-compression-type": "gzip"}}})
    with pytest.raises(InvalidArgument, match="cache-max-file"):
        svc.resolve({"LogConfig": {"Type": "syslog", "Config": {"cache-max-file": "x"}}})
    with pytest.raises(InvalidArgument, match="duration"):
        svc.resolve({"LogConfig": {"Type": "fluentd", "Config": {"fluentd-retry-wait": "soon"}}})


def test_daemon_default_is_bounded_and_merged() -> None:
    svc = service()
    assert svc.resolve({})["LogConfig"] == {"Type": "json-file",
                                            "Config": {"max-size": "10m", "max-file": "5"}}
    assert svc.resolve({"LogConfig": {"Type": "json-file", "Config": {"max-file": "2"}}})["LogConfig"] == {
        "Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}
    assert svc.resolve({"LogConfig": {"Type": "local"}})["LogConfig"] == {"Type": "local", "Config": {}}
    assert service("local").resolve({})["LogConfig"] == {"Type": "local", "Config": {}}
    with pytest.raises(InvalidArgument):
        service("nosuch")  # a bad daemon.json stops the daemon


def test_sizes() -> None:
    assert parse_size("10m", "max-size") == 10 * 1024 * 1024
    assert parse_size("512k", "max-size") == 512 * 1024
    assert parse_size("-1", "max-size") == -1


def context(config: dict[str, str]) -> LogContext:
    return LogContext(container_id="a" * 64, name="web", image_id="sha256:" + "b" * 64,
                      image_name="busybox", command=["sh", "-c", "x"], created="2024-01-01T00:00:00Z",
                      labels={"team": "blue", "app.tier": "front"}, env=["STAGE=test", "K=v"],
                      config=config, log_dir=Path("/nonexistent"))


def test_tag_templates_and_attributes() -> None:
    assert context({}).tag() == "a" * 12
    assert context({"tag": "{{.Name}}/{{.ImageName}}/{{.FullID}}"}).tag() == f"web/busybox/{'a' * 64}"
    with pytest.raises(InvalidArgument):
        context({"tag": "{{.Nope}}"}).tag()
    attrs = context({"labels": "team", "env-regex": "^ST", "labels-regex": r"^app\."}).extra_attributes()
    assert attrs == {"team": "blue", "STAGE": "test", "app.tier": "front"}


def test_gelf_chunks_carry_sequence_and_count() -> None:
    payload = bytes(range(256)) * 20
    parts = chunks(payload)
    assert len(parts) == -(-len(payload) // (CHUNK_SIZE - 12)) and all(len(p) <= CHUNK_SIZE for p in parts)
    assert {p[2:10] for p in parts} == {parts[0][2:10]} and [p[10] for p in parts] == list(range(len(parts)))
    assert b"".join(p[12:] for p in parts) == payload
    assert chunks(b"small") == [b"small"]


def test_syslog_formats() -> None:
    when = 1_700_000_000_123_456_789
    rfc5424 = format_message("rfc5424", priority=30, time_ns=when, hostname="h", tag="t", pid=7, text="hi")
    assert rfc5424.startswith(b"<30>1 ") and rfc5424.endswith(b" h t 7 t - hi")
    micro = format_message("rfc5424micro", priority=30, time_ns=when, hostname="h", tag="t", pid=7, text="hi")
    assert b".123456" in micro
    rfc3164 = format_message("rfc3164", priority=27, time_ns=when, hostname="h", tag="t", pid=7, text="hi")
    assert rfc3164.startswith(b"<27>Nov ") and rfc3164.endswith(b" h t[7]: hi")


def test_cli_log_flags() -> None:
    captured: dict[str, Any] = {}

    @click.command()
    @create_options
    @click.argument("image")
    def fake(image: str, **opts: Any) -> None:
        captured.update(build_create_body(image, (), opts, {}))

    fake.main(args=["--log-driver", "syslog", "--log-opt", "tag={{.Name}}", "--log-opt",
                    "syslog-format=rfc5424", "busybox"], standalone_mode=False)
    assert captured["HostConfig"]["LogConfig"] == {
        "Type": "syslog", "Config": {"tag": "{{.Name}}", "syslog-format": "rfc5424"}}
    json.dumps(captured)


def test_json_file_tag_is_an_attribute(tmp_path: Path) -> None:
    spec = builtin_registry().get("json-file")
    ctx = LogContext(**{**{k: getattr(context({}), k) for k in LogContext.__dataclass_fields__},
                        "config": {"tag": "{{.Name}}"}, "log_dir": tmp_path})
    driver = spec.create(ctx)
    from dockyard.core.logging.driver import LogMessage
    driver.write([LogMessage(b"hi", "stdout", 10**18)])
    driver.close()
    record = json.loads(spec.read_path(tmp_path, "a" * 64).read_text())
    assert record["attrs"] == {"tag": "web"} and record["log"] == "hi\n"


def test_the_implicit_json_file_bound_applies_without_being_recorded() -> None:
    """dockyardd without daemon.json log-opts (backends/logdrivers.log_service): HostConfig keeps
    the request's options only, as dockerd's; the driver still gets the 10m × 5 bound."""
    from types import SimpleNamespace

    from dockyard.backends.logdrivers import log_service
    from dockyard.config import DaemonConfig

    svc = log_service(DaemonConfig())
    assert svc.resolve({})["LogConfig"] == {"Type": "json-file", "Config": {}}
    own = svc.resolve({"LogConfig": {"Config": {"max-size": "1m"}}})
    assert own["LogConfig"]["Config"] == {"max-size": "1m"}
    container: Any = SimpleNamespace(host=SimpleNamespace(raw=own))  # log_config reads host.raw
    assert svc.log_config(container) == ("json-file", {"max-size": "1m", "max-file": "5"})
    with pytest.raises(InvalidArgument):
        svc.resolve({"LogConfig": {"Config": {"max-file": "x"}}})
