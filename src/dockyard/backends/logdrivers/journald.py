"""``journald``: the journal's native protocol on ``/run/systemd/journal/socket``.

Fields as moby's driver sends them: MESSAGE, CONTAINER_ID, CONTAINER_ID_FULL, CONTAINER_NAME,
CONTAINER_TAG, SYSLOG_IDENTIFIER, IMAGE_NAME, PRIORITY (6 stdout, 3 stderr) and the attributes.
Where no journal runs (this machine: PID 1 is not systemd) the start fails saying so.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from dockyard.core.logging.driver import ATTR_OPTS, LogContext, LogDriver, LogMessage
from dockyard.errors import InvalidArgument

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")


def _field(key: str, value: bytes) -> bytes:
    if b"\n" in value:  # the binary-safe form: name, newline, 64-bit little-endian length
        return key.encode() + b"\n" + len(value).to_bytes(8, "little") + value + b"\n"
    return key.encode() + b"=" + value + b"\n"


class JournaldDriver:
    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = b"".join(_field(k, v.encode()) for k, v in fields.items())
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.connect(str(JOURNAL_SOCKET))

    def write(self, messages: Sequence[LogMessage]) -> None:
        for message in messages:
            priority = b"3" if message.stream == "stderr" else b"6"
            self.sock.send(_field("MESSAGE", message.line) + _field("PRIORITY", priority) + self.fields)

    def close(self) -> None:
        self.sock.close()


class JournaldSpec:
    name = "journald"
    options = frozenset({"tag"}) | ATTR_OPTS
    readable = False

    def read_path(self, log_dir: Path, container_id: str) -> Path:
        raise InvalidArgument("configured logging driver does not support reading")

    def validate(self, config: Mapping[str, str]) -> None:
        del config

    def create(self, context: LogContext) -> LogDriver:
        if not JOURNAL_SOCKET.is_socket():
            raise OSError(f"journald is not enabled on this host ({JOURNAL_SOCKET} does not exist)")
        tag = context.tag()
        fields = {"CONTAINER_ID": context.container_id[:12], "CONTAINER_ID_FULL": context.container_id,
                  "CONTAINER_NAME": context.name, "CONTAINER_TAG": tag, "SYSLOG_IDENTIFIER": tag,
                  "IMAGE_NAME": context.image_name}
        for key, value in context.extra_attributes().items():
            fields[re.sub(r"[^A-Z0-9_]", "_", key.upper()).lstrip("_") or "ATTR"] = value
        return JournaldDriver(fields)
