"""``dockyard compose watch``: ``develop.watch`` rules (``sync``, ``sync+restart``, ``rebuild``) by
polling the watched paths (no inotify dependency; a poll every half second is what a developer
notices no more than Compose's own debounce)."""

from __future__ import annotations

import fnmatch
import time
from pathlib import Path, PurePosixPath
from typing import Any

import click

from dockyard.cli.client import CliError
from dockyard.compose.commands import compose_group, project_options
from dockyard.compose.converge import files_tar, up
from dockyard.compose.executor import Executor, UpOptions
from dockyard.compose.yamlfile import ComposeError

POLL = 0.5

Snapshot = dict[Path, tuple[float, int]]


def _scan(root: Path, ignore: list[str]) -> Snapshot:
    files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    out: Snapshot = {}
    for path in files:
        rel = str(path.relative_to(root)) if path != root else path.name
        if any(fnmatch.fnmatch(rel, pattern) for pattern in ignore):
            continue
        stat = path.stat()
        out[path] = (stat.st_mtime, stat.st_size)
    return out


def _sync(ex: Executor, name: str, root: Path, target: str, changed: list[Path]) -> None:
    """Copy the changed files into every running container of the service, under ``target``."""
    files = []
    for path in changed:
        rel = path.relative_to(root) if path != root else Path(path.name)
        dest = PurePosixPath(target) / rel.as_posix() if root.is_dir() else PurePosixPath(target)
        files.append((str(dest), path.read_bytes()))
    content = files_tar(files, mode=0o644)
    for container in ex.containers([name], all_=False):
        ex.client.request("PUT", f"/containers/{container['Id']}/archive", params={"path": "/"},
                          content=content, headers={"Content-Type": "application/x-tar"})


def _rules(ex: Executor, services: tuple[str, ...]) -> list[tuple[str, dict[str, Any], Path]]:
    rules = []
    for name in services or tuple(ex.project.services):
        for rule in (ex.project.services[name].get("develop") or {}).get("watch") or []:
            rules.append((name, rule, (ex.project.working_dir / str(rule["path"])).resolve()))
    if not rules:
        raise ComposeError("none of the selected services is configured for watch, consider setting a "
                           "'develop' section")
    return rules


def _apply(ex: Executor, name: str, rule: dict[str, Any], root: Path, changed: list[Path]) -> None:
    action = str(rule.get("action"))
    if action == "rebuild":
        click.echo(f"Rebuilding service {name!r} after changes were detected...", err=True)
        ex.build([name], force=True)
        up(ex, UpOptions(services=(name,), no_deps=True, force_recreate=True))
        return
    click.echo(f"Syncing service {name!r} after {len(changed)} changes were detected", err=True)
    _sync(ex, name, root, str(rule.get("target") or "/"), changed)
    if action == "sync+restart":
        for container in ex.containers([name], all_=False):
            ex.client.request("POST", f"/containers/{container['Id']}/restart")


@compose_group.command("watch")
@click.option("--no-up", is_flag=True, help="Do not build & start services before watching")
@click.argument("services", nargs=-1)
def watch_command(no_up: bool, services: tuple[str, ...]) -> None:
    """Watch build context for service and rebuild/refresh containers when files are updated"""
    ex = project_options().executor(services)
    rules = _rules(ex, services)
    if not no_up:
        up(ex, UpOptions(services=services))
    snapshots = [_scan(root, list(rule.get("ignore") or [])) for _, rule, root in rules]
    click.echo("Watch enabled", err=True)
    while True:
        time.sleep(POLL)
        for index, (name, rule, root) in enumerate(rules):
            now = _scan(root, list(rule.get("ignore") or []))
            changed = [p for p, sig in now.items() if snapshots[index].get(p) != sig]
            snapshots[index] = now
            if changed:
                try:
                    _apply(ex, name, rule, root, changed)
                except CliError as exc:  # keep watching: the next change may fix it
                    click.echo(exc.message, err=True)
