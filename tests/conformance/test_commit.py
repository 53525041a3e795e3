"""``docker commit``, ``docker diff`` and ``docker export`` through the stock CLI."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

from .daemon import DOCKER, Daemon


def test_commit_then_run_the_committed_image(daemon: Daemon, container, name) -> None:
    cid = container("busybox", "sh", "-c", "echo committed > /greeting; rm /bin/true; sleep 60")
    daemon.docker_ok("exec", cid, "sh", "-c", "test -f /greeting || sleep 1")
    image = f"{name('committed')}:v1"
    out = daemon.docker_ok("commit", "-m", "a message", "-a", "Jane <j@example.com>",
                           "--change", 'CMD ["cat", "/greeting"]', "--change", "ENV MODE=test",
                           cid, image)
    assert out.startswith("sha256:")
    # The container was paused for the commit and runs again afterwards.
    assert json.loads(daemon.docker_ok("inspect", cid))[0]["State"]["Status"] == "running"
    info = json.loads(daemon.docker_ok("image", "inspect", image))[0]
    assert info["Id"] == out.strip()
    assert info["Comment"] == "a message" and info["Author"] == "Jane <j@example.com>"
    assert info["Config"]["Cmd"] == ["cat", "/greeting"] and "MODE=test" in info["Config"]["Env"]
    assert daemon.docker_ok("run", "--rm", image) == "committed\n"
    code, _, _ = daemon.docker("run", "--rm", image, "ls", "/bin/true")
    assert code != 0  # the deletion is a whiteout in the new layer
    history = daemon.docker_ok("history", "--no-trunc", "--format", "{{.Comment}}", image)
    assert history.splitlines()[0] == "a message"
    daemon.docker_ok("rmi", image)


def test_commit_of_a_stopped_container_without_a_tag(daemon: Daemon, name) -> None:
    ctr = name("tocommit")
    daemon.docker_ok("run", "--name", ctr, "busybox", "sh", "-c", "echo hi > /f")
    image_id = daemon.docker_ok("commit", ctr).strip()
    try:
        assert daemon.docker_ok("run", "--rm", image_id, "cat", "/f") == "hi\n"
        assert json.loads(daemon.docker_ok("image", "inspect", image_id))[0]["RepoTags"] == []
    finally:
        daemon.docker_ok("rm", ctr)
        daemon.docker_ok("rmi", image_id)
    code, _, err = daemon.docker("commit", "no-such-container-x")
    assert code != 0 and "No such container" in err


def test_diff_lists_changes(daemon: Daemon, name) -> None:
    ctr = name("diff")
    daemon.docker_ok("run", "--name", ctr, "busybox", "sh", "-c",
                     "mkdir /newdir && echo x > /newdir/f && rm /etc/group && echo y >> /etc/passwd")
    try:
        lines = set(daemon.docker_ok("diff", ctr).splitlines())
        assert {"A /newdir", "A /newdir/f", "D /etc/group", "C /etc/passwd", "C /etc"} <= lines
    finally:
        daemon.docker_ok("rm", ctr)


def test_export_is_a_tar_of_the_filesystem(daemon: Daemon, name) -> None:
    ctr = name("export")
    daemon.docker_ok("run", "--name", ctr, "busybox", "sh", "-c", "echo exported > /marker")
    try:
        proc = subprocess.run([DOCKER, "export", ctr], capture_output=True, env=daemon.env(), timeout=60)
        assert proc.returncode == 0, proc.stderr
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            names = set(tar.getnames())
            marker = tar.extractfile("marker")
            assert marker is not None and marker.read() == b"exported\n"
        assert {"bin/busybox", "etc/passwd", "marker"} <= names
        # docker export -o writes the same tar to a file; import makes it an image again.
        code, out, err = daemon.docker("import", "-", f"{ctr}-reimported", input=proc.stdout)
        assert code == 0, err
        assert daemon.docker_ok("run", "--rm", f"{ctr}-reimported", "cat", "/marker") == "exported\n"
        daemon.docker_ok("rmi", f"{ctr}-reimported")
    finally:
        daemon.docker_ok("rm", ctr)
