"""``--health-*`` and ``--no-healthcheck`` flags of run/create: the ``Config.Healthcheck`` they make."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import click

from dockyard.cli.client import CliError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|h|m|s)")
_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
       "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(value: str, flag: str) -> int:
    """A Go duration (``1m30s``, ``500ms``) in nanoseconds; ``0`` stays 0 (the default)."""
    if value == "0":
        return 0
    parts = _PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise CliError(f'invalid argument "{value}" for "{flag}" flag: time: invalid duration '
                       f'"{value}"', 125)
    return int(sum(float(n) * _NS[u] for n, u in parts))


def health_options() -> list[Callable[[Any], Any]]:
    o = click.option
    return [
        o("--health-cmd", help="Command to run to check health"),
        o("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)"),
        o("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
        o("--health-retries", type=int, help="Consecutive failures needed to report unhealthy"),
        o("--health-start-period", help="Start period for the container to initialize before "
                                        "starting health-retries countdown (ms|s|m|h) (default 0s)"),
        o("--health-start-interval", help="Time between running the check during the start "
                                          "period (ms|s|m|h) (default 0s)"),
        o("--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK"),
    ]


def healthcheck_body(opts: Mapping[str, Any]) -> dict[str, Any] | None:
    """``Config.Healthcheck`` as docker's CLI sends it, or None when no flag was given."""
    durations = {"Interval": "health_interval", "Timeout": "health_timeout",
                 "StartPeriod": "health_start_period", "StartInterval": "health_start_interval"}
    given = [k for k in ("health_cmd", "health_retries", *durations.values()) if opts.get(k)]
    if opts.get("no_healthcheck"):
        if given:
            raise CliError("--no-healthcheck conflicts with --health-* options", 125)
        return {"Test": ["NONE"]}
    if not given:
        return None
    body: dict[str, Any] = {"Test": ["CMD-SHELL", opts["health_cmd"]] if opts.get("health_cmd") else None}
    for key, option in durations.items():
        value = parse_duration(opts.get(option) or "0", "--" + option.replace("_", "-"))
        if value < 0:
            raise CliError(f"--{option.replace('_', '-')} cannot be negative", 125)
        body[key] = value
    retries = int(opts.get("health_retries") or 0)
    if retries < 0:
        raise CliError("--health-retries cannot be negative", 125)
    body["Retries"] = retries
    return body
