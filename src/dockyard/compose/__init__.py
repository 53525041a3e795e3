"""``dockyard compose``: the Compose Specification over the Engine API (an adapter like cli/).

For other adapters (the web UI deploys a pasted file) the entry points are::

    project = load_text(text, name="demo", environ={"TAG": "1"})
    deploy(project, Client(host))      # up -d (networks, volumes, builds, containers in order)
    undeploy(project, Client(host), volumes=True)   # down -v

Errors are :class:`ComposeError` (a ``CliError``: ``.message`` is the one line to show).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from dockyard.cli.client import Client
from dockyard.compose.converge import down, up
from dockyard.compose.executor import Executor, UpOptions
from dockyard.compose.loader import Project, load_project
from dockyard.compose.yamlfile import ComposeError

__all__ = ["ComposeError", "Project", "UpOptions", "deploy", "load_project", "load_text", "undeploy"]


def load_text(text: str, *, name: str, environ: Mapping[str, str] | None = None,
              working_dir: Path | None = None) -> Project:
    """A project from the text of one compose file (``environ`` is its whole environment)."""
    return load_project(text=text, name=name, environ=dict(environ or {}), working_dir=working_dir)


def deploy(project: Project, client: Client, *, options: UpOptions | None = None,
           say: Callable[[str], None] | None = None) -> list[str]:
    """``up -d`` (``--wait`` with ``UpOptions(wait=True)``); returns the service containers' IDs."""
    executor = Executor(client, project, say or (lambda _line: None))
    return up(executor, options or UpOptions())


def undeploy(project: Project, client: Client, *, volumes: bool = False,
             say: Callable[[str], None] | None = None) -> None:
    """``down`` (``-v`` with ``volumes=True``)."""
    down(Executor(client, project, say or (lambda _line: None)), volumes=volumes)
