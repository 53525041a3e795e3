"""``fluentd``: the forward protocol (msgpack ``[tag, [[time, record], …], option]``) over TCP or a
UNIX socket, as moby's driver (fluent-logger-golang) speaks it.

Without ``fluentd-async`` the first connection is made at start and a server that is not there
fails the start (``dial tcp …: connect: connection refused``). With it, events wait in a buffer
of ``fluentd-buffer-limit`` bytes (the oldest dropped beyond it) until the server answers.
``fluentd-request-ack`` waits for the server's ``{"ack": chunk}``.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import struct
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.backends.logdrivers.net import Address, parse_address
from dockyard.core.logging.driver import (
    ATTR_OPTS,
    LogContext,
    LogDriver,
    LogMessage,
    parse_bool,
    parse_int,
    parse_size,
)
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    import msgpack
else:
    from dockyard.imports import lazy

    msgpack = lazy("msgpack")  # on first use: an idle daemon need not hold it (dockyard/imports.py)

_DEFAULT_BUFFER = 1024 * 1024
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")


def parse_duration(value: str, what: str) -> float:
    match = _DURATION.match(value)
    if not match:
        raise InvalidArgument(f'time: invalid duration "{value}" ({what})')
    return float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2)]


def fluentd_address(value: str) -> Address:
    """``host:port``, ``tcp://host:port`` or ``unix:///path`` (default localhost:24224)."""
    if not value:
        return Address("tcp", "127.0.0.1", 24224, "")
    if "://" not in value:
        value = "tcp://" + value
    return parse_address(value, schemes=("tcp", "unix"), default_port=24224, what="fluentd-address")


def event_time(time_ns: int, sub_second: bool) -> Any:
    if not sub_second:
        return time_ns // 1_000_000_000
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    return msgpack.ExtType(0, struct.pack(">II", seconds, nanos))  # EventTime


def _dial_error(address: Address, exc: OSError) -> OSError:
    where = address.path if address.scheme == "unix" else f"{address.host}:{address.port}"
    reason = (exc.strerror or str(exc)).lower()
    return OSError(f"dial {address.scheme} {where}: connect: {reason}")


class FluentdDriver:
    def __init__(self, address: Address, tag: str, extra: dict[str, str], *, context: LogContext,
                 async_mode: bool, buffer_limit: int, retries: int, wait: float, sub_second: bool,
                 ack: bool, timeout: float) -> None:
        self.address, self.tag, self.extra = address, tag, extra
        self.container_id, self.container_name = context.container_id, "/" + context.name
        self.async_mode, self.buffer_limit = async_mode, buffer_limit
        self.retries, self.wait, self.sub_second = retries, wait, sub_second
        self.ack, self.timeout = ack, timeout
        self.pending: deque[bytes] = deque()
        self.pending_bytes = 0
        self.sock: socket.socket | None = None
        if not async_mode:
            self.sock = self._connect()

    def _connect(self) -> socket.socket:
        try:
            sock = self.address.connect()
        except OSError as exc:
            raise _dial_error(self.address, exc) from exc
        sock.settimeout(self.timeout)
        return sock

    def _chunk(self, messages: Sequence[LogMessage]) -> bytes:
        entries = [[event_time(m.time_ns, self.sub_second),
                    {"container_id": self.container_id, "container_name": self.container_name,
                     "source": m.stream, "log": m.line.decode("utf-8", "replace"),
                     **({"partial_message": "true"} if m.partial else {}), **self.extra}]
                   for m in messages]
        option: dict[str, Any] = {"size": len(entries)}
        if self.ack:
            option["chunk"] = base64.b64encode(os.urandom(16)).decode()
        return bytes(msgpack.packb([self.tag, entries, option], use_bin_type=True))

    def _send(self, payload: bytes) -> None:
        if self.sock is None:
            self.sock = self._connect()
        self.sock.sendall(payload)
        if self.ack:
            option = msgpack.unpackb(payload, raw=False)[2]
            unpacker = msgpack.Unpacker(raw=False)
            while True:
                data = self.sock.recv(4096)
                if not data:
                    raise OSError("fluentd closed the connection before its ack")
                unpacker.feed(data)
                for answer in unpacker:
                    if isinstance(answer, dict) and answer.get("ack") == option["chunk"]:
                        return

    def write(self, messages: Sequence[LogMessage]) -> None:
        self.pending.append(self._chunk(messages))
        self.pending_bytes += len(self.pending[-1])
        while self.async_mode and self.pending_bytes > self.buffer_limit and len(self.pending) > 1:
            self.pending_bytes -= len(self.pending.popleft())  # buffer full: the oldest go
        attempts = 1 if self.async_mode else self.retries + 1
        for attempt in range(attempts):
            try:
                while self.pending:
                    self._send(self.pending[0])
                    self.pending_bytes -= len(self.pending.popleft())
                return
            except OSError:
                if self.sock is not None:
                    self.sock.close()
                    self.sock = None
                if self.async_mode:
                    return  # kept for the next batch, within the buffer limit
                if attempt + 1 == attempts:
                    self.pending.clear()
                    self.pending_bytes = 0
                    raise
                time.sleep(min(self.wait * (2 ** attempt), 5.0))

    def close(self) -> None:
        if self.pending and self.async_mode:
            try:
                while self.pending:
                    self._send(self.pending.popleft())
            except OSError:
                pass
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class FluentdSpec:
    name = "fluentd"
    options = frozenset({
        "fluentd-address", "fluentd-async", "fluentd-async-connect", "fluentd-buffer-limit",
        "fluentd-retry-wait", "fluentd-max-retries", "fluentd-sub-second-precision",
        "fluentd-request-ack", "fluentd-write-timeout", "tag"}) | ATTR_OPTS
    readable = False

    def read_path(self, log_dir: Path, container_id: str) -> Path:
        raise InvalidArgument("configured logging driver does not support reading")

    def validate(self, config: Mapping[str, str]) -> None:
        fluentd_address(config.get("fluentd-address", ""))
        for key in ("fluentd-async", "fluentd-async-connect", "fluentd-sub-second-precision",
                    "fluentd-request-ack"):
            if key in config:
                parse_bool(config[key], key)
        if "fluentd-buffer-limit" in config:
            parse_size(config["fluentd-buffer-limit"], "fluentd-buffer-limit")
        if "fluentd-max-retries" in config:
            parse_int(config["fluentd-max-retries"], "fluentd-max-retries", 0)
        for key in ("fluentd-retry-wait", "fluentd-write-timeout"):
            if key in config:
                parse_duration(config[key], key)

    def create(self, context: LogContext) -> LogDriver:
        config = context.config
        async_mode = parse_bool(config.get("fluentd-async", "false"), "fluentd-async") or parse_bool(
            config.get("fluentd-async-connect", "false"), "fluentd-async-connect")
        return FluentdDriver(
            fluentd_address(config.get("fluentd-address", "")), context.tag(),
            context.extra_attributes(), context=context, async_mode=async_mode,
            buffer_limit=parse_size(config.get("fluentd-buffer-limit", "1m"), "fluentd-buffer-limit"),
            retries=int(config.get("fluentd-max-retries", "10")),
            wait=parse_duration(config.get("fluentd-retry-wait", "1s"), "fluentd-retry-wait"),
            sub_second=parse_bool(config.get("fluentd-sub-second-precision", "false"), "sub-second"),
            ack=parse_bool(config.get("fluentd-request-ack", "false"), "fluentd-request-ack"),
            timeout=parse_duration(config.get("fluentd-write-timeout", "5s"), "fluentd-write-timeout"))
