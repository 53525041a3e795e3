"""``--metrics-addr``: scraped by Debian's real Prometheus, results read through its HTTP API."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from conformance.polling import wait_for

from remote.conftest import RemoteDaemon
from remote.sshd import free_port

pytestmark = [pytest.mark.root, pytest.mark.slow]

PROMETHEUS = "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def prometheus(remote: RemoteDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("prometheus")
    (root / "prometheus.yml").write_text(f"""\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: dockyard
    static_configs:
      - targets: ["{remote.metrics}"]
""")
    port = free_port()
    with open(root / "prometheus.log", "ab") as log:
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={root / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={root / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError((root / "prometheus.log").read_text()[-2000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _query(url: str, expr: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}",
                                timeout=10) as response:
        payload = json.load(response)
    assert payload["status"] == "success", payload
    return list(payload["data"]["result"])


def _eventually(url: str, expr: str, timeout: float = 40) -> list[dict[str, object]]:
    return wait_for(lambda: _query(url, expr), timeout, f"prometheus to have {expr}", interval=0.5)


def test_prometheus_scrapes_engine_and_container_metrics(remote: RemoteDaemon, prometheus: str) -> None:
    name = "metrics-web"
    run = remote.run("docker", "-H", remote.daemon.host, "run", "-d", "--name", name,
                     "--label", "com.docker.compose.project=shop", "--label",
                     "com.docker.compose.service=web", "--health-cmd", "true", "--health-interval", "1s",
                     "busybox", "sh", "-c", "head -c 20000000 /dev/zero > /dev/shm/blob; sleep 300")
    assert run.returncode == 0, run.stderr
    try:
        running = _eventually(prometheus, 'engine_daemon_container_states_containers{state="running"} >= 1')
        assert running[0]["metric"]["job"] == "dockyard"  # type: ignore[index]
        memory = _eventually(prometheus, f'container_memory_usage_bytes{{name="{name}"}} > 1000000')
        labels = memory[0]["metric"]
        assert labels["image"] == "busybox"  # type: ignore[index]
        assert labels["container_label_com_docker_compose_project"] == "shop"  # type: ignore[index]
        assert labels["container_label_com_docker_compose_service"] == "web"  # type: ignore[index]
        assert str(labels["id"]).endswith(run.stdout.strip())  # type: ignore[index]
        _eventually(prometheus, f'container_cpu_usage_seconds_total{{name="{name}"}} > 0')
        _eventually(prometheus, f'container_memory_working_set_bytes{{name="{name}"}} > 0')
        _eventually(prometheus, f'container_network_receive_bytes_total{{name="{name}"}} >= 0')
        _eventually(prometheus, 'engine_daemon_container_actions_seconds_count{action="create"} >= 1')
        _eventually(prometheus, 'engine_daemon_container_actions_seconds_count{action="start"} >= 1')
        _eventually(prometheus, "engine_daemon_events_total > 0")
        _eventually(prometheus, "engine_daemon_health_checks_total >= 2")
        info = _eventually(prometheus, "engine_daemon_engine_info")
        assert info[0]["metric"]["os_type"] == "linux"  # type: ignore[index]
    finally:
        remote.run("docker", "-H", remote.daemon.host, "rm", "-f", name)


def test_metrics_text_format_directly(remote: RemoteDaemon) -> None:
    with urllib.request.urlopen(f"http://{remote.metrics}/metrics", timeout=10) as response:
        body = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE engine_daemon_container_actions_seconds histogram" in body
    assert "# TYPE engine_daemon_health_checks_failed_total counter" in body
    assert "engine_daemon_events_created" not in body
