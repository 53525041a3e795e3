"""``dockyard compose watch``: ``develop.watch`` rules (``sync``, ``sync+restart``, ``sync+exec``,
``restart``, ``rebuild``; a file deleted on the host is removed in the container too) by
polling the watched paths (no inotify dependency; a poll every half second is what a developer
notices no more than Compose's own debounce)."""

from __future__ import annotations

import fnmatch
import time
from pathlib import Path, PurePosixPath
from typing import Any

import click

from dockyard.cli.client import CliError
from dockyard.compose import shellwords
from dockyard.compose.commands import compose_group, project_options
from dockyard.compose.converge import files_tar, up
from dockyard.compose.executor import Executor, UpOptions
from dockyard.compose.yamlfile import ComposeError

POLL = 0.5

Snapshot = dict[Path, tuple[float, int]]


def _matches(rel: str, patterns: list[str]) -> bool:
    """A .dockerignore-style match: the path or one of its parent directories fits a pattern."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(prefix, pattern.strip("/")) for pattern in patterns for prefix in prefixes)


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _scan(root: Path, rule: dict[str, Any]) -> Snapshot:
    """The watched files (``include`` and ``ignore`` applied) with what tells a change."""
    ignore, include = _strings(rule.get("ignore")), _strings(rule.get("include"))
    files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    out: Snapshot = {}
    for path in files:
        rel = path.relative_to(root).as_posix() if path != root else path.name
        if _matches(rel, ignore) or (include and not _matches(rel, include)):
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


def _gone(root: Path, target: str, deleted: list[Path]) -> list[str]:
    """Container paths to remove for files deleted on the host: the topmost vanished directory
    of each (a deleted directory goes as a whole, as Compose v2 removes the path it saw go)."""
    out: list[str] = []
    for path in deleted:
        top = path
        while top.parent != root and not top.parent.exists() and root in top.parents:
            top = top.parent
        rel = top.relative_to(root).as_posix() if top != root else ""
        dest = str(PurePosixPath(target) / rel) if root != path else target
        if dest not in out:
            out.append(dest)
    return out


def _exec(ex: Executor, name: str, body: dict[str, Any]) -> None:
    """Run an exec (``body`` is the exec's create body) in every running container of the
    service and wait for it to end."""
    for container in ex.containers([name], all_=False):
        created = ex.client.post_json(f"/containers/{container['Id']}/exec",
                                      body={"AttachStdout": False, "AttachStderr": False, **body})
        ex.client.post_json(f"/exec/{created['Id']}/start", body={"Detach": True, "Tty": False})
        deadline = time.monotonic() + 60
        while ex.client.get_json(f"/exec/{created['Id']}/json").get("Running"):
            if time.monotonic() > deadline:
                raise ComposeError(f"{' '.join(body['Cmd'])} in {name} did not finish")
            time.sleep(0.05)


def _hook(rule: dict[str, Any]) -> dict[str, Any]:
    """``sync+exec``'s ``exec:`` as an exec body."""
    hook = rule.get("exec") or {}
    command = hook.get("command")
    if not command:
        raise ComposeError("watch: action sync+exec requires an exec command")
    env = hook.get("environment") or {}
    env = env if isinstance(env, dict) else dict(str(e).partition("=")[::2] for e in env)
    return {"Cmd": shellwords.split(command) if isinstance(command, str) else [str(c) for c in command],
            "User": str(hook.get("user") or ""), "WorkingDir": str(hook.get("working_dir") or ""),
            "Privileged": bool(hook.get("privileged")), "Env": [f"{k}={v}" for k, v in env.items()]}


def _rules(ex: Executor, services: tuple[str, ...]) -> list[tuple[str, dict[str, Any], Path]]:
    rules = []
    for name in services or tuple(ex.project.services):
        for rule in (ex.project.services[name].get("develop") or {}).get("watch") or []:
            rules.append((name, rule, (ex.project.working_dir / str(rule["path"])).resolve()))
    if not rules:
        raise ComposeError("none of the selected services is configured for watch, consider setting a "
                           "'develop' section")
    return rules


def _apply(ex: Executor, name: str, rule: dict[str, Any], root: Path, changed: list[Path],
           deleted: list[Path]) -> None:
    action = str(rule.get("action"))
    if action == "rebuild":
        click.echo(f"Rebuilding service {name!r} after changes were detected...", err=True)
        ex.build([name], force=True)
        up(ex, UpOptions(services=(name,), no_deps=True, force_recreate=True))
        return
    if action == "restart":
        click.echo(f"Restarting service {name!r} after changes were detected", err=True)
        _restart(ex, name)
        return
    click.echo(f"Syncing service {name!r} after {len(changed) + len(deleted)} changes were detected",
               err=True)
    target = str(rule.get("target") or "/")
    if changed:
        _sync(ex, name, root, target, changed)
    if deleted:
        _exec(ex, name, {"Cmd": ["rm", "-rf", "--", *_gone(root, target, deleted)]})
    if action == "sync+restart":
        _restart(ex, name)
    elif action == "sync+exec":
        _exec(ex, name, _hook(rule))


def _restart(ex: Executor, name: str) -> None:
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
    snapshots = [_scan(root, rule) for _, rule, root in rules]
    click.echo("Watch enabled", err=True)
    while True:
        time.sleep(POLL)
        for index, (name, rule, root) in enumerate(rules):
            now = _scan(root, rule)
            changed = [p for p, sig in now.items() if snapshots[index].get(p) != sig]
            deleted = [p for p in snapshots[index] if p not in now]
            snapshots[index] = now
            if changed or deleted:
                try:
                    _apply(ex, name, rule, root, changed, deleted)
                except CliError as exc:  # keep watching: the next change may fix it
                    click.echo(exc.message, err=True)
