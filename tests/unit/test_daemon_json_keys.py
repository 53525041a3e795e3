"""daemon.json as dockerd reads it: an unknown key, or a key also given as a flag, stops the daemon
with dockerd's message (a misspelt setting is never silently dropped)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.daemon import _parse_args
from dockyard.errors import InvalidArgument


def _write(tmp_path: Path, payload: dict[str, object]) -> Path:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(payload))
    return path


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, {"foo": 1, "log-driver": "json-file", "bar": True})
    with pytest.raises(InvalidArgument) as info:
        _parse_args(["--config-file", str(path)])
    assert str(info.value) == (f"unable to configure the Docker daemon with file {path}: the following "
                               "directives don't match any configuration option: bar, foo")


def test_flag_and_file_conflict(tmp_path: Path) -> None:
    path = _write(tmp_path, {"data-root": "/srv/a", "dns": ["1.1.1.1"], "mtu": 1400})
    with pytest.raises(InvalidArgument) as info:
        _parse_args(["--config-file", str(path), "--data-root", "/srv/b", "--dns", "9.9.9.9"])
    assert str(info.value) == (
        f"unable to configure the Docker daemon with file {path}: the following directives are "
        "specified both as a flag and in the configuration file: data-root: (from flag: /srv/b, "
        "from file: /srv/a), dns: (from flag: [9.9.9.9], from file: [1.1.1.1])")


def test_every_documented_key_is_known(tmp_path: Path) -> None:
    """The keys the README and the project's tests write into daemon.json all load."""
    path = _write(tmp_path, {
        "hosts": ["unix:///tmp/x.sock"], "data-root": str(tmp_path), "exec-root": str(tmp_path),
        "pidfile": str(tmp_path / "p"), "log-level": "info", "default-runtime": "runc",
        "runtimes": {"crun": {"path": "/usr/bin/crun"}}, "bind-hybrid-controllers": False,
        "userns-remap": "", "no-new-privileges": False, "insecure-registries": [],
        "registry-mirrors": [], "certs-dirs": [str(tmp_path)], "max-concurrent-downloads": 3,
        "max-concurrent-uploads": 5, "max-unpack-size": "1g", "log-driver": "json-file",
        "log-opts": {"max-size": "1m"}, "emulation": False, "default-ulimits": {},
        "default-shm-size": "64m", "default-address-pools": [], "icc": True, "mtu": 1500,
        "dns": [], "dns-search": [], "dns-opts": [], "ip": "0.0.0.0", "live-restore": True,
        "seccomp-profile": "", "tls": False, "metrics-addr": "", "group": "docker", "bip": "",
        "cpu-rt-period": 1000000, "cpu-rt-runtime": 0, "userland-proxy": True,
    })
    config, _ = _parse_args(["--config-file", str(path)])
    assert config.mtu == 1500 and config.max_unpack_size == 2**30


def test_dockyardd_exits_with_the_message(tmp_path: Path) -> None:
    path = _write(tmp_path, {"debugg": True})
    proc = subprocess.run([sys.executable, "-m", "dockyard.daemon", "--config-file", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "don't match any configuration option: debugg" in proc.stderr
    assert "Traceback" not in proc.stderr
