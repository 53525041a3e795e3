"""resolve_user / home_of: Docker's -u semantics against the container's own passwd and group."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.core.builder.source import find
from dockyard.core.runtime.model import ProcessUser
from dockyard.core.runtime.users import home_of, resolve_user
from dockyard.errors import InvalidArgument

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
# a comment
bob:x:1000:1000:Bob:/home/bob:/bin/sh
nohome:x:1001:1001::/:/bin/sh
"""
GROUP = """\
root:x:0:
wheel:x:10:root,bob
staff:x:50:bob
bob:x:1000:
daemon:x:1:
"""


@pytest.fixture()
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


@pytest.mark.parametrize(("spec", "expected"), [
    ("", ProcessUser(0, 0, (10,))),
    ("root", ProcessUser(0, 0, (10,))),
    ("0", ProcessUser(0, 0, (10,))),
    ("bob", ProcessUser(1000, 1000, (10, 50))),
    ("1000", ProcessUser(1000, 1000, (10, 50))),
    ("bob:staff", ProcessUser(1000, 50)),
    ("bob:10", ProcessUser(1000, 10)),
    ("1000:1000", ProcessUser(1000, 1000)),
    ("1000:staff", ProcessUser(1000, 50)),
    ("4242", ProcessUser(4242, 0)),
    ("4242:4343", ProcessUser(4242, 4343)),
    (":staff", ProcessUser(0, 50)),
])
def test_resolve_user_table(rootfs: Path, spec: str, expected: ProcessUser) -> None:
    assert resolve_user(rootfs, spec) == expected


def test_unknown_user_has_dockers_message(rootfs: Path) -> None:
    message = "^unable to find user alice: no matching entries in passwd file$"
    with pytest.raises(InvalidArgument, match=message):
        resolve_user(rootfs, "alice")


def test_unknown_group_has_dockers_message(rootfs: Path) -> None:
    message = "^unable to find group nogroup: no matching entries in group file$"
    with pytest.raises(InvalidArgument, match=message):
        resolve_user(rootfs, "bob:nogroup")


def test_names_need_a_passwd_file_but_numbers_do_not(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert resolve_user(empty, "") == ProcessUser(0, 0)
    assert resolve_user(empty, "123:456") == ProcessUser(123, 456)
    with pytest.raises(InvalidArgument):
        resolve_user(empty, "bob")


def test_out_of_range_id_is_refused(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match="range"):
        resolve_user(rootfs, "99999999999")


def test_symlinked_passwd_never_leaves_the_rootfs(tmp_path: Path) -> None:
    """An absolute symlink to /etc/passwd must read the container's file, not the host's."""
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "passwd").write_text("eve:x:77:77::/home/eve:/bin/sh\n")
    os.symlink("/data/passwd", root / "etc" / "passwd")
    os.symlink("../../../../../../../../etc/shadow", root / "etc" / "group")
    assert resolve_user(root, "eve") == ProcessUser(77, 77)
    # The host's /etc/passwd has root; the container's does not.
    with pytest.raises(InvalidArgument):
        resolve_user(root, "root")
    assert find(root, "/etc/group") is None  # the rootfs's /etc/shadow, absent: not the host's
    (root / "etc" / "shadow").write_text("in the rootfs\n")
    found = find(root, "/etc/group")
    assert found is not None and found.path == "/etc/shadow"


def test_home_of(rootfs: Path) -> None:
    assert home_of(rootfs, 1000) == "/home/bob"
    assert home_of(rootfs, 0) == "/root"
    assert home_of(rootfs, 1001) == "/"
    assert home_of(rootfs, 5555) == "/"
