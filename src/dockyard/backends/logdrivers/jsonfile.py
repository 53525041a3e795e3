"""``json-file`` (Docker's on-disk format) and ``local`` (the same lines, compressed rotation).

json-file: ``<dir>/<id>-json.log``, one ``{"time","stream","attrs","log"}`` object per line,
rotated to ``.1`` … ``.N`` (gzipped with ``compress``) at ``max-size``. ``local`` is a documented
equivalent of Docker's protobuf-framed format: the same lines under ``<dir>/local-logs/container.log``
with Docker's local defaults (20 MB × 5 files, compressed). Both are read back by
core/logging/reader.py, so docker logs works the same over either.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from dockyard.core.logging.driver import (
    ATTR_OPTS,
    LogContext,
    LogDriver,
    LogMessage,
    parse_bool,
    parse_int,
    parse_size,
)
from dockyard.core.timestamps import format_ns
from dockyard.errors import InvalidArgument

_FLUSH_BYTES = 256 * 1024
# The head of a whole spool line in UTC (conmon's format), for the chunk-at-a-time fast path.
_SPOOL_HEAD = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(?:Z|\+00:00) (?:stdout|stderr) F ", re.M)
_MARKS = [(zone + b" " + stream + b" F ", b'Z","stream":"' + stream + b'",')
          for zone in (b"+00:00", b"Z") for stream in (b"stdout", b"stderr")]
# What JSON would have to escape, or bytes that may not be UTF-8: those chunks take the slow path.
_NEEDS_ESCAPE = re.compile(rb'[\x00-\x09\x0b-\x1f"\\\x7f-\xff]')
_encode = json.JSONEncoder(ensure_ascii=False).encode


class RotatingWriter:
    """Appends JSON lines; rotates at ``max_size`` keeping ``max_file`` files in all."""

    def __init__(self, path: Path, *, max_size: int, max_file: int, compress: bool,
                 attrs: dict[str, str]) -> None:
        self.path, self.max_size, self.max_file, self.compress = path, max_size, max_file, compress
        self._attrs = f'"attrs":{json.dumps(attrs, separators=(",", ":"))},' if attrs else ""
        self._stamp_second, self._stamp_head = -1, ""
        self._marks = [(mark, out + self._attrs.encode() + b'"log":"') for mark, out in _MARKS]
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("ab")
        self._size = self._handle.tell()
        self._buffer: list[bytes] = []
        self._buffered = 0

    def _stamp(self, time_ns: int) -> str:
        """RFC 3339 nano in UTC; the whole-second part formatted once per second."""
        seconds, nanos = divmod(time_ns, 1_000_000_000)
        if seconds != self._stamp_second:
            self._stamp_second, self._stamp_head = seconds, format_ns(seconds * 1_000_000_000)[:19]
        return f"{self._stamp_head}.{nanos:09d}Z"

    def add(self, message: LogMessage) -> None:
        # Built by hand around the C string encoder: one json.dumps of a dict per line costs
        # the shipper most of its time at container speed.
        text = message.line.decode("utf-8", "replace") + ("" if message.partial else "\n")
        line = (f'{{"time":"{self._stamp(message.time_ns)}","stream":"{message.stream}",'
                f'{self._attrs}"log":{_encode(text)}}}\n').encode()
        if self.max_size > 0 and self._size + self._buffered + len(line) > self.max_size and (
                self._size + self._buffered) > 0:
            self.flush()
            self._rotate()
        self._buffer.append(line)
        self._buffered += len(line)
        if self._buffered >= _FLUSH_BYTES:
            self.flush()

    def add_spool(self, chunk: bytes) -> bool:
        """A chunk of whole spool lines converted by a few C-level replaces, when every line is a
        complete UTC line with nothing to escape (the common case at container speed); False,
        with nothing written, otherwise. Lines come out ``time`` first (the same fields, the
        order JSON does not fix), so the slow path writes them in that order too."""
        lines = chunk.count(b"\n")
        if not lines or _NEEDS_ESCAPE.search(chunk) or len(_SPOOL_HEAD.findall(chunk)) != lines:
            return False
        if sum(chunk.count(mark) for mark, _ in self._marks) != lines:
            return False  # a line's text holds a header-like run: replaces would touch it
        converted = chunk
        for mark, out in self._marks:
            converted = converted.replace(mark, out)
        converted = b'{"time":"' + converted[:-1].replace(b"\n", b'\\n"}\n{"time":"') + b'\\n"}\n'
        del lines
        self.flush()
        rest = converted
        while self.max_size > 0 and self._size + len(rest) > self.max_size:
            cut = rest.rfind(b"\n", 0, self.max_size - self._size) + 1
            if cut == 0 and self._size == 0:
                cut = rest.find(b"\n") + 1  # one line longer than max-size: a file of its own
            if cut:
                self._handle.write(rest[:cut])
                self._size += cut
                rest = rest[cut:]
            self._handle.flush()
            self._rotate()
        self._handle.write(rest)
        self._handle.flush()
        self._size += len(rest)
        return True

    def flush(self) -> None:
        if self._buffer:
            self._handle.write(b"".join(self._buffer))
            self._handle.flush()
            self._size += self._buffered
            self._buffer, self._buffered = [], 0

    def _rotate(self) -> None:
        self._handle.close()
        if self.max_file <= 1:
            self._handle = self.path.open("wb")  # one file: start it over, as Docker's
            self._size = 0
            return
        suffix = ".gz" if self.compress else ""
        oldest = self.path.with_name(f"{self.path.name}.{self.max_file - 1}{suffix}")
        oldest.unlink(missing_ok=True)
        for n in range(self.max_file - 2, 0, -1):
            for ext in (".gz", ""):
                src = self.path.with_name(f"{self.path.name}.{n}{ext}")
                if src.exists():
                    src.rename(self.path.with_name(f"{self.path.name}.{n + 1}{ext}"))
        first = self.path.with_name(f"{self.path.name}.1")
        self.path.rename(first)
        if self.compress:
            with first.open("rb") as src_f, gzip.open(f"{first}.gz", "wb", compresslevel=1) as dst_f:
                shutil.copyfileobj(src_f, dst_f)
            first.unlink()
        self._handle = self.path.open("wb")
        self._size = 0

    def close(self) -> None:
        self.flush()
        self._handle.close()


class FileDriver:
    def __init__(self, writer: RotatingWriter) -> None:
        self._writer = writer

    def write(self, messages: Sequence[LogMessage]) -> None:
        for message in messages:
            self._writer.add(message)
        self._writer.flush()  # a batch is on disk before the shipper records its offset

    def write_spool(self, chunk: bytes) -> bool:
        return self._writer.add_spool(chunk)

    def close(self) -> None:
        self._writer.close()


class JsonFileSpec:
    name = "json-file"
    options = frozenset({"max-size", "max-file", "compress", "tag"}) | ATTR_OPTS
    readable = True
    default_size, default_files, default_compress = -1, 1, False

    def read_path(self, log_dir: Path, container_id: str) -> Path:
        return log_dir / f"{container_id}-json.log"

    def _limits(self, config: Mapping[str, str]) -> tuple[int, int, bool]:
        size = parse_size(config["max-size"], "max-size") if "max-size" in config else self.default_size
        files = parse_int(config["max-file"], "max-file", 1) if "max-file" in config else self.default_files
        compress = (parse_bool(config["compress"], "compress") if "compress" in config
                    else self.default_compress)
        return size, files, compress

    def validate(self, config: Mapping[str, str]) -> None:
        size, files, _ = self._limits(config)
        if "max-file" in config and size < 0 and "max-size" not in config and self.name == "json-file":
            raise InvalidArgument("max-file can only be used with max-size")
        if size == 0 or (size < 0 and "max-size" in config and config["max-size"] != "-1"):
            raise InvalidArgument("max-size must be a positive number")
        del files

    def create(self, context: LogContext) -> LogDriver:
        size, files, compress = self._limits(context.config)
        path = self.read_path(context.log_dir, context.container_id)
        attrs = context.extra_attributes()
        if "tag" in context.config:  # json-file keeps the tag as an attribute, as Docker's
            attrs["tag"] = context.tag()
        return FileDriver(RotatingWriter(path, max_size=size, max_file=files, compress=compress,
                                         attrs=attrs))


class LocalSpec(JsonFileSpec):
    name = "local"
    options = frozenset({"max-size", "max-file", "compress"})
    default_size, default_files, default_compress = 20 * 1024 * 1024, 5, True

    def read_path(self, log_dir: Path, container_id: str) -> Path:
        return log_dir / "local-logs" / "container.log"


def remove_logs(path: Path) -> None:
    for member in path.parent.glob(path.name + "*"):
        with_suffix = member.name[len(path.name):]
        if with_suffix == "" or with_suffix.lstrip(".").removesuffix(".gz").isdigit():
            os.unlink(member)
