"""Remote log drivers against real receivers on 127.0.0.1: Debian's rsyslog (rfc3164 over UDP,
rfc5424 over TCP), a GELF receiver (chunked gzip over UDP, TCP) and a fluentd forward receiver
decoding msgpack; dual logging keeps docker logs working, cache-disabled turns it off."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from .daemon import Daemon
from .polling import wait_for
from .registries import make_tls

Name = Callable[[str], str]


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    if shutil.which("rsyslogd") is None:
        pytest.fail("rsyslogd missing: scripts/deps/logging.apt installs it")
    root = tmp_path_factory.mktemp("rsyslog")
    udp, tcp = _free_port(socket.SOCK_DGRAM), _free_port()
    out = root / "out.log"
    (root / "rsyslog.conf").write_text(f'''
global(workDirectory="{root}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="fields" type="string"
         string="%syslogfacility-text%|%syslogseverity-text%|%programname%|%procid%|%msg:::drop-last-lf%\\n")
*.* action(type="omfile" file="{out}" template="fields")
''')
    proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(root / "rsyslog.conf"), "-i", str(root / "pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: _listening(tcp), 10)
        yield udp, tcp, out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("fmt,transport", [("rfc3164", "udp"), ("rfc5424", "tcp"), ("rfc5424micro", "tcp")])
def test_syslog_reaches_rsyslog(daemon: Daemon, name: Name, rsyslog: tuple[int, int, Path],
                                fmt: str, transport: str) -> None:
    udp, tcp, out = rsyslog
    ctr = name("sys")
    port = udp if transport == "udp" else tcp
    daemon.docker_ok("run", "--name", ctr, "--log-driver", "syslog",
                     "--log-opt", f"syslog-address={transport}://127.0.0.1:{port}",
                     "--log-opt", f"syslog-format={fmt}", "--log-opt", "syslog-facility=local3",
                     "--log-opt", "tag={{.Name}}", "busybox", "sh", "-c",
                     f"echo out-{fmt}; echo err-{fmt} >&2")
    def mine() -> list[str] | None:
        found = [ln for ln in _lines(out) if ctr in ln and ln.count("|") >= 4]
        return found if len(found) >= 2 else None

    got = wait_for(mine)
    fields = sorted(tuple(ln.split("|", 4)) for ln in got)
    assert [(f[0], f[1], f[2], f[4].strip()) for f in fields] == [
        ("local3", "err", ctr, f"err-{fmt}"), ("local3", "info", ctr, f"out-{fmt}")]
    # Dual logging: the local cache answers docker logs.
    code, stdout, stderr = daemon.docker("logs", ctr)
    assert (code, stdout, stderr) == (0, f"out-{fmt}\n", f"err-{fmt}\n")
    daemon.docker_ok("rm", ctr)


def test_cache_disabled_refuses_docker_logs(daemon: Daemon, name: Name,
                                            rsyslog: tuple[int, int, Path]) -> None:
    udp, _, _ = rsyslog
    ctr = name("nocache")
    daemon.docker_ok("run", "--name", ctr, "--log-driver", "syslog", "--log-opt",
                     f"syslog-address=udp://127.0.0.1:{udp}", "--log-opt", "cache-disabled=true",
                     "busybox", "echo", "hi")
    code, _, err = daemon.docker("logs", ctr)
    assert code != 0 and "configured logging driver does not support reading" in err
    daemon.docker_ok("rm", ctr)


def _gelf_payload(chunks: dict[bytes, dict[int, bytes]], data: bytes) -> bytes | None:
    if data[:2] == b"\x1e\x0f":
        ident, seq, count = data[2:10], data[10], data[11]
        parts = chunks.setdefault(ident, {})
        parts[seq] = data[12:]
        if len(parts) < count:
            return None
        data = b"".join(parts[n] for n in range(count))
        del chunks[ident]
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:1] == b"\x78":
        return zlib.decompress(data)
    return data


@pytest.mark.parametrize("compression", ["gzip", "zlib"])
def test_gelf_udp_chunked(daemon: Daemon, name: Name, compression: str) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(20)
    port = receiver.getsockname()[1]
    ctr = name("gelf")
    long_line = os.urandom(3000).hex()  # 6000 characters: more than one 1420-byte chunk compressed
    daemon.docker_ok("run", "--name", ctr, "--log-driver", "gelf", "--log-opt",
                     f"gelf-address=udp://127.0.0.1:{port}",
                     "--log-opt", f"gelf-compression-type={compression}",
                     "--label", "team=blue", "--log-opt", "labels=team", "--log-opt", "tag=t-{{.Name}}",
                     "busybox", "sh", "-c", f"echo short; echo {long_line} >&2")
    chunks: dict[bytes, dict[int, bytes]] = {}
    messages: list[dict[str, Any]] = []
    saw_chunks = False
    with receiver:
        while len(messages) < 2:
            data = receiver.recv(65536)
            saw_chunks |= data[:2] == b"\x1e\x0f"
            payload = _gelf_payload(chunks, data)
            if payload is not None:
                messages.append(json.loads(payload))
    assert saw_chunks
    data = json.loads(daemon.docker_ok("inspect", ctr))[0]
    by_text = {m["short_message"]: m for m in messages}
    first, second = by_text["short"], by_text[long_line]
    assert (first["level"], second["level"]) == (6, 3)
    assert first["_container_name"] == ctr and first["_container_id"] == data["Id"]
    assert first["_image_name"] == "busybox" and first["_tag"] == f"t-{ctr}"
    assert first["_command"].startswith("sh -c") and first["_created"] == data["Created"]
    assert first["_team"] == "blue" and first["version"] == "1.1"
    daemon.docker_ok("rm", ctr)


def test_gelf_tcp(daemon: Daemon, name: Name) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    got = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while (data := conn.recv(65536)):
                got.extend(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ctr = name("gelftcp")
    daemon.docker_ok("run", "--name", ctr, "--log-driver", "gelf", "--log-opt",
                     f"gelf-address=tcp://127.0.0.1:{port}", "busybox", "sh", "-c", "echo one; echo two")
    wait_for(lambda: got.count(b"\0") >= 2)
    messages = [json.loads(part) for part in bytes(got).split(b"\0") if part]
    assert [m["short_message"] for m in messages] == ["one", "two"]
    server.close()
    daemon.docker_ok("rm", ctr)


class Forward:
    """A fluentd forward receiver: msgpack events over TCP or a UNIX socket."""

    def __init__(self, server: socket.socket) -> None:
        self.server, self.events = server, []  # type: ignore[var-annotated]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        with conn:
            while (data := conn.recv(65536)):
                unpacker.feed(data)
                for message in unpacker:
                    tag, entries = message[0], message[1]
                    self.events.extend((tag, t, record) for t, record in entries)
                    option = message[2] if len(message) > 2 else {}
                    if "chunk" in option:
                        conn.sendall(msgpack.packb({"ack": option["chunk"]}))


def test_fluentd_forward_tcp_and_unix(daemon: Daemon, name: Name, tmp_path: Path) -> None:
    tcp = Forward(socket.create_server(("127.0.0.1", 0)))
    port = tcp.server.getsockname()[1]
    ctr = name("fluent")
    daemon.docker_ok("run", "--name", ctr, "--log-driver", "fluentd", "--log-opt",
                     f"fluentd-address=127.0.0.1:{port}", "--log-opt", "tag=app.{{.Name}}",
                     "--log-opt", "fluentd-request-ack=true", "--env", "STAGE=test", "--log-opt", "env=STAGE",
                     "busybox", "sh", "-c", "echo hello; echo oops >&2")
    wait_for(lambda: len(tcp.events) >= 2)
    cid = json.loads(daemon.docker_ok("inspect", ctr))[0]["Id"]
    records = sorted((r["source"], r["log"], tag) for tag, _, r in tcp.events)
    assert records == [("stderr", "oops", f"app.{ctr}"), ("stdout", "hello", f"app.{ctr}")]
    assert all(r["container_id"] == cid and r["container_name"] == f"/{ctr}" and r["STAGE"] == "test"
               for _, _, r in tcp.events)
    assert daemon.docker_ok("logs", ctr) == "hello\n"  # dual logging
    sock_path = tmp_path / "fluent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen()
    unix = Forward(server)
    ctr2 = name("fluentu")
    daemon.docker_ok("run", "--name", ctr2, "--log-driver", "fluentd", "--log-opt",
                     f"fluentd-address=unix://{sock_path}", "busybox", "echo", "via-unix")
    wait_for(lambda: unix.events)
    cid2 = json.loads(daemon.docker_ok("inspect", ctr2))[0]["Id"]
    assert (unix.events[0][0], unix.events[0][2]["log"]) == (cid2[:12], "via-unix")  # tag {{.ID}}
    tcp.server.close()
    server.close()
    daemon.docker_ok("rm", ctr, ctr2)


def test_fluentd_unreachable_fails_start_unless_async(daemon: Daemon, name: Name) -> None:
    port = _free_port()
    ctr = name("fdown")
    code, _, err = daemon.docker("run", "--name", ctr, "--log-driver", "fluentd", "--log-opt",
                                 f"fluentd-address=127.0.0.1:{port}", "busybox", "echo", "x")
    assert code != 0
    refused = f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    assert f"failed to initialize logging driver: {refused}" in err
    daemon.docker_ok("rm", ctr)
    ctr2 = name("fasync")
    out = daemon.docker_ok("run", "--name", ctr2, "--log-driver", "fluentd", "--log-opt",
                           f"fluentd-address=127.0.0.1:{port}", "--log-opt", "fluentd-async=true",
                           "busybox", "echo", "x")
    assert out == "x\n"
    daemon.docker_ok("rm", ctr2)


def test_journald_without_a_journal_is_a_clear_error(daemon: Daemon, name: Name) -> None:
    if Path("/run/systemd/journal/socket").exists():
        pytest.skip("this host runs a journal")
    ctr = name("jd")
    code, _, err = daemon.docker("run", "--name", ctr, "--log-driver", "journald", "busybox", "true")
    assert code != 0 and "journald is not enabled on this host" in err
    daemon.docker_ok("rm", ctr)


def test_syslog_over_tls_is_octet_counted(daemon: Daemon, name: Name, tmp_path: Path) -> None:
    ca, cert, key = make_tls(tmp_path, "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    got = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            while (data := tls.recv(65536)):
                got.extend(data)

    threading.Thread(target=serve, daemon=True).start()
    ctr = name("tls")
    daemon.docker_ok("run", "--name", ctr, "--log-driver", "syslog",
                     "--log-opt", f"syslog-address=tcp+tls://127.0.0.1:{port}",
                     "--log-opt", f"syslog-tls-ca-cert={ca}", "--log-opt", "syslog-format=rfc5424",
                     "busybox", "sh", "-c", "echo secret-one; echo secret-two")

    def frames() -> list[bytes] | None:
        out, rest = [], bytes(got)
        while b" " in rest:
            length, _, rest = rest.partition(b" ")
            out.append(rest[:int(length)])
            rest = rest[int(length):]
        return out if len(out) >= 2 else None

    messages = wait_for(frames)
    assert [m.rsplit(b" - ", 1)[1] for m in messages] == [b"secret-one", b"secret-two"]
    assert all(m.startswith(b"<30>1 ") for m in messages)  # daemon.info, RFC 5424 version 1
    server.close()
    daemon.docker_ok("rm", ctr)


def test_syslog_unixgram(daemon: Daemon, name: Name, tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(20)
    ctr = name("ugram")
    with receiver:
        daemon.docker_ok("run", "--name", ctr, "--log-driver", "syslog", "--log-opt",
                         f"syslog-address=unixgram://{path}", "--log-opt", "tag={{.ImageName}}",
                         "busybox", "echo", "over-unix")
        message = receiver.recv(65536)
    assert re.fullmatch(rb"<30>\S+ \S+ busybox\[\d+\]: over-unix", message), message
    daemon.docker_ok("rm", ctr)


def test_fluentd_async_buffers_until_the_server_comes(daemon: Daemon, name: Name) -> None:
    port = _free_port()
    ctr = name("fbuf")
    cid = daemon.docker_ok("run", "-d", "--name", ctr, "--log-driver", "fluentd", "--log-opt",
                           f"fluentd-address=127.0.0.1:{port}", "--log-opt", "fluentd-async=true",
                           "--log-opt", "fluentd-buffer-limit=1m", "busybox", "sh", "-c",
                           "echo early; sleep 2; echo late").strip()
    time.sleep(1)
    receiver = Forward(socket.create_server(("127.0.0.1", port)))
    assert daemon.docker_ok("wait", cid).strip() == "0"
    wait_for(lambda: len(receiver.events) >= 2)
    assert [r["log"] for _, _, r in receiver.events] == ["early", "late"]
    receiver.server.close()
    daemon.docker_ok("rm", ctr)


def _stalling_gelf(stall: float) -> tuple[int, bytearray, threading.Event]:
    """A GELF TCP receiver with a tiny receive buffer that reads nothing for ``stall`` seconds."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by the accepted socket
    server.bind(("127.0.0.1", 0))
    server.listen()
    got, done = bytearray(), threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        time.sleep(stall)
        with conn:
            while (data := conn.recv(65536)):
                got.extend(data)
        server.close()
        done.set()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], got, done


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["blocking", "non-blocking"])
def test_log_mode_against_a_stalled_receiver(daemon: Daemon, name: Name, mode: str) -> None:
    """blocking: the delivery waits for the receiver and every line arrives; non-blocking: the
    buffer (max-buffer-size) drops the oldest lines and the daemon logs how many. Either way the
    container finishes at its own speed (conmon's spool)."""
    lines = 60000  # ~6 MB of output, ~12 MB of GELF: more than the sockets' buffers hold
    port, got, done = _stalling_gelf(2.0)
    ctr = name("stall")
    opts = ["--log-opt", f"mode={mode}"] + (["--log-opt", "max-buffer-size=64k"]
                                            if mode == "non-blocking" else [])
    started = time.monotonic()
    daemon.docker_ok("run", "--name", ctr, "--log-driver", "gelf", "--log-opt",
                     f"gelf-address=tcp://127.0.0.1:{port}", *opts, "busybox", "sh", "-c",
                     f"yes '{'x' * 90}' | head -n {lines}; echo last", timeout=120)
    assert time.monotonic() - started < 60
    try:
        assert done.wait(60), "the driver never closed its connection"
        received = [json.loads(p)["short_message"] for p in bytes(got).split(b"\0") if p]
        assert received[-1] == "last"
        if mode == "blocking":
            assert len(received) == lines + 1
        else:
            assert len(received) < lines
            cid = json.loads(daemon.docker_ok("inspect", ctr))[0]["Id"]
            text = daemon.log_path.read_text(errors="replace")
            assert re.search(rf"dropped \d+ log messages of {cid[:12]}", text), daemon.log_tail()
    finally:
        daemon.docker("rm", "-f", ctr)
