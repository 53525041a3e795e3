"""``gelf``: GELF 1.1 over UDP (gzip/zlib/none, chunked above 1420 bytes) or TCP (NUL-framed).

Fields as moby's driver sends them: ``_container_id``, ``_container_name``, ``_image_id``,
``_image_name``, ``_command``, ``_tag``, ``_created`` and the labels/env extras; level 6 for
stdout, 3 for stderr.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dockyard.backends.logdrivers.net import Address, parse_address
from dockyard.core.logging.driver import ATTR_OPTS, LogContext, LogDriver, LogMessage, parse_int
from dockyard.errors import InvalidArgument

CHUNK_SIZE = 1420  # moby's (go-gelf) ChunkSize
_MAX_CHUNKS = 128


def chunks(payload: bytes) -> list[bytes]:
    """GELF chunking: magic 0x1e0f, an 8-byte message id, sequence number and count."""
    if len(payload) <= CHUNK_SIZE:
        return [payload]
    body = CHUNK_SIZE - 12
    count = -(-len(payload) // body)
    if count > _MAX_CHUNKS:
        raise ValueError(f"GELF message too large: {len(payload)} bytes")
    ident = os.urandom(8)
    return [b"\x1e\x0f" + ident + bytes([n, count]) + payload[n * body:(n + 1) * body]
            for n in range(count)]


class GelfDriver:
    def __init__(self, address: Address, base: dict[str, Any], compression: str, level: int,
                 reconnects: int, delay: float) -> None:
        self.address, self.base, self.compression, self.level = address, base, compression, level
        self.reconnects, self.delay = reconnects, delay
        self.sock: socket.socket | None = address.connect()

    def _encode(self, message: LogMessage) -> bytes:
        record = {**self.base, "short_message": message.line.decode("utf-8", "replace"),
                  "timestamp": round(message.time_ns / 1e9, 6),
                  "level": 3 if message.stream == "stderr" else 6}
        payload = json.dumps(record, separators=(",", ":")).encode()
        if self.address.scheme == "tcp":
            return payload + b"\0"
        if self.compression == "gzip":
            return gzip.compress(payload, compresslevel=self.level if self.level >= 0 else 1)
        if self.compression == "zlib":
            return zlib.compress(payload, self.level)
        return payload

    def write(self, messages: Sequence[LogMessage]) -> None:
        payloads = [self._encode(m) for m in messages if m.line]  # go-gelf drops empty lines
        for attempt in range(self.reconnects + 1):
            try:
                if self.sock is None:
                    self.sock = self.address.connect()
                if self.address.scheme == "tcp":
                    self.sock.sendall(b"".join(payloads))
                else:
                    for payload in payloads:
                        for chunk in chunks(payload):
                            self.sock.send(chunk)
                return
            except OSError:
                self.close()
                if attempt == self.reconnects:
                    raise
                time.sleep(self.delay)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class GelfSpec:
    name = "gelf"
    options = frozenset({"gelf-address", "gelf-compression-type", "gelf-compression-level",
                         "gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay", "tag"}) | ATTR_OPTS
    readable = False

    def read_path(self, log_dir: Path, container_id: str) -> Path:
        raise InvalidArgument("configured logging driver does not support reading")

    def validate(self, config: Mapping[str, str]) -> None:
        if not config.get("gelf-address"):
            raise InvalidArgument("gelf-address is a required parameter")
        address = parse_address(config["gelf-address"], schemes=("udp", "tcp"), default_port=12201,
                                what="gelf-address")
        for key in ("gelf-compression-type", "gelf-compression-level"):
            if key in config and address.scheme == "tcp":
                raise InvalidArgument(f"{key} is not supported with TCP")
        for key in ("gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay"):
            if key in config and address.scheme == "udp":
                raise InvalidArgument(f"{key} is only supported with TCP")
            if key in config:
                parse_int(config[key], key, 0)
        if config.get("gelf-compression-type", "gzip") not in ("gzip", "zlib", "none"):
            raise InvalidArgument("Unknown gelf compression type: " + config["gelf-compression-type"])
        level = parse_int(config.get("gelf-compression-level", "1"), "gelf-compression-level", -1)
        if level > 9:
            raise InvalidArgument("gelf-compression-level must be between -1 and 9")

    def create(self, context: LogContext) -> LogDriver:
        config = context.config
        address = parse_address(config["gelf-address"], schemes=("udp", "tcp"), default_port=12201,
                                what="gelf-address")
        base: dict[str, Any] = {
            "version": "1.1", "host": socket.gethostname(),
            "_container_id": context.container_id, "_container_name": context.name,
            "_image_id": context.image_id, "_image_name": context.image_name,
            "_command": " ".join(context.command), "_tag": context.tag(),
            "_created": context.created}
        base.update({"_" + k: v for k, v in context.extra_attributes().items()})
        return GelfDriver(address, base, config.get("gelf-compression-type", "gzip"),
                          int(config.get("gelf-compression-level", "1")),
                          int(config.get("gelf-tcp-max-reconnect", "3")),
                          float(config.get("gelf-tcp-reconnect-delay", "1")))
