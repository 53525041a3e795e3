"""Restart decisions and back-off, the health state machine, and the event bus's filters."""

from __future__ import annotations

import asyncio
import time

import pytest

from dockyard.core.containers.health import (
    HealthConfig,
    ProbeResult,
    health_status,
    initial_health,
    next_delay,
    record,
)
from dockyard.core.containers.restart import Backoff, RestartPolicy, check_create, should_restart
from dockyard.core.events import EventBus, matches
from dockyard.errors import InvalidArgument

# ---- restart ----


def test_backoff_doubles_from_100ms_and_resets_after_10s_up() -> None:
    backoff = Backoff()
    assert [backoff.next(0.5) for _ in range(5)] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert backoff.next(10.0) == 0.1
    for _ in range(20):
        last = backoff.next(0.0)
    assert last == 60.0


@pytest.mark.parametrize(("policy", "code", "count", "manual", "daemon_start", "expected"), [
    ("no", 1, 0, False, False, False),
    ("always", 0, 5, False, False, True),
    ("always", 137, 0, True, False, False),  # a user's stop cancels
    ("always", 137, 0, True, True, True),  # but the daemon's start brings it back
    ("unless-stopped", 0, 0, False, False, True),
    ("unless-stopped", 137, 0, True, True, False),
    ("on-failure", 0, 0, False, False, False),
    ("on-failure", 3, 99, False, False, True),  # no maximum
])
def test_should_restart(policy: str, code: int, count: int, manual: bool, daemon_start: bool,
                        expected: bool) -> None:
    assert should_restart(RestartPolicy(policy), exit_code=code, restart_count=count,
                          manually_stopped=manual, daemon_start=daemon_start) is expected


def test_on_failure_stops_at_its_maximum() -> None:
    policy = RestartPolicy.of({"Name": "on-failure", "MaximumRetryCount": 2})
    decisions = [should_restart(policy, exit_code=3, restart_count=n, manually_stopped=False)
                 for n in range(4)]
    assert decisions == [True, True, False, False]


def test_policy_validation_uses_dockers_messages() -> None:
    assert RestartPolicy.of({"Name": ""}) == RestartPolicy("no")
    with pytest.raises(InvalidArgument, match="unknown policy 'sometimes'"):
        RestartPolicy.of({"Name": "sometimes"})
    with pytest.raises(InvalidArgument, match="can only be used with 'on-failure'"):
        RestartPolicy.of({"Name": "always", "MaximumRetryCount": 2})
    with pytest.raises(InvalidArgument, match="cannot be negative"):
        RestartPolicy.of({"Name": "on-failure", "MaximumRetryCount": -1})
    with pytest.raises(InvalidArgument, match="can't create 'AutoRemove' container with restart policy"):
        check_create({"RestartPolicy": {"Name": "always"}}, auto_remove=True)
    check_create({"RestartPolicy": {"Name": "no"}}, auto_remove=True)


# ---- health ----
S = 1_000_000_000


def _result(code: int, at_ns: int) -> ProbeResult:
    return ProbeResult(at_ns, at_ns + 1000, code, "out")


def test_health_config_parses_forms_and_defaults() -> None:
    assert HealthConfig.of(None) is None
    assert HealthConfig.of({"Test": ["NONE"]}) is None
    shell = HealthConfig.of({"Test": ["CMD-SHELL", "curl -f x"], "Interval": 2 * S, "Retries": 5})
    assert shell is not None
    assert shell.argv == ("/bin/sh", "-c", "curl -f x")
    assert (shell.interval, shell.timeout, shell.retries, shell.start_period) == (2.0, 30.0, 5, 0.0)
    cmd = HealthConfig.of({"Test": ["CMD", "true", "x"]})
    assert cmd is not None and cmd.argv == ("true", "x") and cmd.interval == 30.0


def test_health_starting_healthy_unhealthy_and_back() -> None:
    config = HealthConfig(argv=("true",), retries=2)
    health = initial_health()
    health = record(health, _result(1, 1 * S), config, 0)
    assert (health["Status"], health["FailingStreak"]) == ("starting", 1)
    health = record(health, _result(1, 2 * S), config, 0)
    assert (health["Status"], health["FailingStreak"]) == ("unhealthy", 2)
    health = record(health, _result(0, 3 * S), config, 0)
    assert (health["Status"], health["FailingStreak"]) == ("healthy", 0)
    health = record(health, _result(1, 4 * S), config, 0)
    assert (health["Status"], health["FailingStreak"]) == ("healthy", 1)


def test_failures_in_the_start_period_do_not_count_while_starting() -> None:
    config = HealthConfig(argv=("true",), retries=1, start_period=10.0)
    health = record(initial_health(), _result(1, 5 * S), config, 0)
    assert (health["Status"], health["FailingStreak"]) == ("starting", 0)
    health = record(health, _result(1, 11 * S), config, 0)
    assert health["Status"] == "unhealthy"


def test_health_log_keeps_the_last_five() -> None:
    config = HealthConfig(argv=("true",))
    health = initial_health()
    for n in range(8):
        health = record(health, ProbeResult(n * S, n * S + 1, n, f"run {n}"), config, 0)
    assert [e["ExitCode"] for e in health["Log"]] == [3, 4, 5, 6, 7]
    assert health["Log"][0]["Output"] == "run 3"


def test_start_interval_applies_only_while_starting_in_the_start_period() -> None:
    config = HealthConfig(argv=("true",), interval=30.0, start_period=60.0, start_interval=1.0)
    now = time.time_ns()
    assert next_delay({"Status": "starting"}, config, now) == 1.0
    assert next_delay({"Status": "healthy"}, config, now) == 30.0
    assert next_delay({"Status": "starting"}, config, now - 120 * S) == 30.0


def test_health_status_filter_value() -> None:
    from dockyard.core.containers.model import Container, ContainerConfig, HostOptions
    from dockyard.core.ids import ContainerId, ImageId

    c = Container(id=ContainerId("a" * 64), name="/x", created="", image_id=ImageId("sha256:0"),
                  config=ContainerConfig(image="busybox"), host=HostOptions(), path="sh", args=[],
                  runtime="runc")
    assert health_status(c) == "none"
    c.health = {"Status": "healthy"}
    assert health_status(c) == "healthy"


# ---- events ----
def test_event_filters() -> None:
    bus = EventBus()
    start = bus.publish("container", "start", "abc123def", {"name": "web", "image": "busybox",
                                                           "tier": "front"})
    health = bus.publish("container", "health_status: healthy", "abc123def", {"name": "web"})
    pulled = bus.publish("image", "pull", "busybox:latest", {"name": "busybox"})
    assert matches(start, {"container": ["web"]}) and matches(start, {"container": ["abc123"]})
    assert not matches(start, {"container": ["db"]})
    assert matches(start, {"type": ["container"], "event": ["start", "die"]})
    assert matches(health, {"event": ["health_status"]})
    assert matches(start, {"label": ["tier=front"]}) and not matches(start, {"label": ["tier=back"]})
    assert matches(start, {"image": ["busybox"]}) and matches(pulled, {"image": ["busybox"]})
    assert not matches(pulled, {"container": ["web"]})
    assert bus.history(since=0, filters={"type": ["image"]}) == [pulled]


def test_subscribe_replays_since_then_streams_until() -> None:
    async def scenario() -> list[str]:
        bus = EventBus()
        bus.publish("container", "create", "a")
        since = time.time() - 1
        seen: list[str] = []

        async def read() -> None:
            async for event in bus.subscribe(since=since, until=time.time() + 0.3):
                seen.append(event.action)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.05)
        bus.publish("container", "start", "a")
        await asyncio.wait_for(reader, 2)
        return seen

    assert asyncio.run(scenario()) == ["create", "start"]


def test_until_in_the_past_ends_after_the_replay() -> None:
    async def scenario() -> list[str]:
        bus = EventBus()
        bus.publish("volume", "create", "v1")
        return [e.action async for e in bus.subscribe(since=0, until=time.time())]

    assert asyncio.run(asyncio.wait_for(scenario(), 2)) == ["create"]


def test_unknown_filter_is_invalid() -> None:
    async def scenario() -> None:
        async for _ in EventBus().subscribe(filters={"bogus": ["x"]}):
            pass

    with pytest.raises(InvalidArgument, match="invalid filter 'bogus'"):
        asyncio.run(scenario())
