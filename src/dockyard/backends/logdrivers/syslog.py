"""``syslog``: rfc3164, rfc5424 and rfc5424micro over udp, tcp, tcp+tls, unix and unixgram.

Messages as moby's driver (srslog) writes them: ``<PRI>`` with the facility and info (stdout) or
err (stderr), the ``tag`` template (default ``{{.ID}}``) as the app name, the daemon's pid; on
stream transports rfc5424 messages are octet-counted (RFC 5425), others end with a newline.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path

from dockyard.backends.logdrivers.net import Address, parse_address
from dockyard.core.logging.driver import ATTR_OPTS, LogContext, LogDriver, LogMessage, parse_bool
from dockyard.errors import InvalidArgument

FACILITIES = {name: code for code, name in enumerate([
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "", "", "", "", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7"]) if name}
FORMATS = ("", "rfc3164", "rfc5424", "rfc5424micro")
_SCHEMES = ("udp", "tcp", "tcp+tls", "unix", "unixgram")
_INFO, _ERR = 6, 3


@functools.lru_cache(maxsize=8)
def _stamp(fmt: str, seconds: int) -> tuple[str, str]:
    """(before, after) the microseconds of a timestamp; formatted once per second."""
    stamp = dt.datetime.fromtimestamp(seconds).astimezone()
    if fmt == "rfc3164":
        return stamp.strftime("%b %e %H:%M:%S"), ""
    zone = stamp.isoformat()[19:]
    return stamp.isoformat()[:19], zone


def format_message(fmt: str, *, priority: int, time_ns: int, hostname: str, tag: str, pid: int,
                   text: str) -> bytes:
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    head, zone = _stamp(fmt, seconds)
    if fmt in ("rfc5424", "rfc5424micro"):
        when = head + zone if fmt == "rfc5424" else f"{head}.{nanos // 1000:06d}{zone}"
        return f"<{priority}>1 {when} {hostname} {tag} {pid} {tag} - {text}".encode()
    if fmt == "rfc3164":
        return f"<{priority}>{head} {hostname} {tag}[{pid}]: {text}".encode()
    # moby's default for a network address: RFC 3339 time, hostname, tag[pid].
    return f"<{priority}>{head}{zone} {hostname} {tag}[{pid}]: {text}".encode()


class SyslogDriver:
    def __init__(self, address: Address, fmt: str, facility: int, tag: str,
                 tls: ssl.SSLContext | None) -> None:
        self.address, self.fmt, self.facility, self.tag, self.tls = address, fmt, facility, tag, tls
        self.hostname = socket.gethostname()
        self.sock: socket.socket | None = address.connect(tls)

    def _frame(self, message: bytes) -> bytes:
        if self.address.scheme in ("udp", "unixgram"):
            return message
        if self.fmt.startswith("rfc5424"):
            return str(len(message)).encode() + b" " + message
        return message + b"\n"

    def write(self, messages: Sequence[LogMessage]) -> None:
        frames, pid = [], os.getpid()
        for message in messages:
            severity = _ERR if message.stream == "stderr" else _INFO
            frames.append(self._frame(format_message(
                self.fmt, priority=self.facility * 8 + severity, time_ns=message.time_ns,
                hostname=self.hostname, tag=self.tag, pid=pid,
                text=message.line.decode("utf-8", "replace"))))
        for attempt in (1, 2):  # one reconnect: the receiver may have restarted
            try:
                if self.sock is None:
                    self.sock = self.address.connect(self.tls)
                if self.address.scheme in ("udp", "unixgram"):
                    for frame in frames:
                        self.sock.send(frame)
                else:
                    self.sock.sendall(b"".join(frames))
                return
            except OSError:
                self.close()
                if attempt == 2:
                    raise

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class SyslogSpec:
    name = "syslog"
    options = frozenset({"syslog-address", "syslog-facility", "syslog-tls-ca-cert", "syslog-tls-cert",
                         "syslog-tls-key", "syslog-tls-skip-verify", "tag", "syslog-format"}) | ATTR_OPTS
    readable = False

    def read_path(self, log_dir: Path, container_id: str) -> Path:
        raise InvalidArgument("configured logging driver does not support reading")

    def _address(self, config: Mapping[str, str]) -> Address:
        if not config.get("syslog-address"):
            return Address("unixgram", "", 0, "/dev/log")  # the local syslog, as srslog's default
        return parse_address(config["syslog-address"], schemes=_SCHEMES, default_port=514,
                             what="syslog-address")

    def validate(self, config: Mapping[str, str]) -> None:
        self._address(config)
        facility = config.get("syslog-facility", "daemon")
        if facility not in FACILITIES and not (facility.isdigit() and int(facility) < 24):
            raise InvalidArgument("invalid syslog facility")
        if config.get("syslog-format", "") not in FORMATS:
            raise InvalidArgument("Invalid syslog format")
        if "syslog-tls-skip-verify" in config:
            parse_bool(config["syslog-tls-skip-verify"], "syslog-tls-skip-verify")

    def _tls(self, config: Mapping[str, str]) -> ssl.SSLContext | None:
        if self._address(config).scheme != "tcp+tls":
            return None
        context = ssl.create_default_context(cafile=config.get("syslog-tls-ca-cert") or None)
        if config.get("syslog-tls-cert"):
            context.load_cert_chain(config["syslog-tls-cert"], config.get("syslog-tls-key") or None)
        if parse_bool(config.get("syslog-tls-skip-verify", "false"), "syslog-tls-skip-verify"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def create(self, context: LogContext) -> LogDriver:
        config = context.config
        facility_name = config.get("syslog-facility", "daemon")
        facility = FACILITIES.get(facility_name, int(facility_name) if facility_name.isdigit() else 3)
        return SyslogDriver(self._address(config), config.get("syslog-format", ""), facility,
                            context.tag(), self._tls(config))
