"""The built-in log drivers, registered by name (core/logging/driver.py's registry)."""

from __future__ import annotations

from dockyard.backends.logdrivers.fluentd import FluentdSpec
from dockyard.backends.logdrivers.gelf import GelfSpec
from dockyard.backends.logdrivers.journald import JournaldSpec
from dockyard.backends.logdrivers.jsonfile import JsonFileSpec, LocalSpec
from dockyard.backends.logdrivers.syslog import SyslogSpec
from dockyard.config import DaemonConfig
from dockyard.core.logging.driver import LogDriverRegistry
from dockyard.core.logging.service import BOUNDED_DEFAULT, LogService, daemon_defaults


def builtin_registry() -> LogDriverRegistry:
    registry = LogDriverRegistry()
    for spec in (JsonFileSpec(), LocalSpec(), SyslogSpec(), GelfSpec(), FluentdSpec(), JournaldSpec()):
        registry.register(spec)
    return registry


def log_service(config: DaemonConfig) -> LogService:
    if config.log_opts is None and config.log_driver == "json-file":
        return LogService(builtin_registry(), "json-file", {}, implicit=BOUNDED_DEFAULT)
    driver, opts = daemon_defaults(config.log_driver, config.log_opts)
    return LogService(builtin_registry(), driver, opts)
