"""A runtime binary that cannot be executed: every kind of runtime call says which runtime and
where it was looked for, as a 503 (Unavailable), whatever the call's stdio."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.backends import oci_cli
from dockyard.backends.oci_cli import CliRuntime
from dockyard.errors import Unavailable


@pytest.mark.parametrize("tty, detach", [(False, False), (False, True)])  # pipes; detached
async def test_a_missing_runtime_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                tty: bool, detach: bool) -> None:
    monkeypatch.setattr(oci_cli, "become_subreaper", lambda: None)  # not for the test runner
    missing = str(tmp_path / "no-runc")
    runtime = CliRuntime("runc", missing, root=tmp_path / "root")
    with pytest.raises(Unavailable, match=f"OCI runtime runc is not available at {missing}"):
        await runtime.start("c1")
    with pytest.raises(Unavailable, match=f"OCI runtime runc is not available at {missing}"):
        await runtime.exec("c1", {"args": ["true"], "terminal": tty}, detach=detach)
