"""``dockyard context …`` (docker's context commands on the shared store) and ``system dial-stdio``."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import click

from dockyard.cli.contexts import (
    DEFAULT,
    TLS_FILES,
    Context,
    ContextStore,
    Selection,
    context_name,
    default_endpoint,
)
from dockyard.cli.endpoint import open_socket
from dockyard.cli.errors import CliError
from dockyard.cli.session import session


def _selection() -> Selection:
    return session().selection


def _parse_docker_option(spec: str) -> dict[str, str]:
    """``--docker "host=tcp://…,ca=…,cert=…,key=…,skip-tls-verify=true"``."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or key not in ("host", "ca", "cert", "key", "skip-tls-verify", "from"):
            raise CliError(f"unable to parse docker endpoint: unrecognized config key: {key}")
        fields[key] = value
    return fields


@click.group("context")
def context_group() -> None:
    """Manage contexts"""


@context_group.command("create")
@click.argument("name")
@click.option("--description", default="", help="Description of the context")
@click.option("--docker", "docker_spec", default="", help="set the docker endpoint")
@click.option("--from", "from_context", default=None, help="create context from a named context")
def create_command(name: str, description: str, docker_spec: str, from_context: str | None) -> None:
    """Create a context"""
    store = ContextStore()
    if store.exists(name):
        raise CliError(f"context \"{name}\" already exists")
    fields = _parse_docker_option(docker_spec)
    if "from" in fields:  # --docker from=NAME: that context's docker endpoint
        from_context = fields["from"] or DEFAULT
    if from_context or not fields:
        base = _from(store, from_context)
        context = Context(name=name, host=base.host, description=description or base.description,
                          skip_tls_verify=base.skip_tls_verify, tls_files=base.tls_files)
    else:
        tls: dict[str, bytes] = {}
        for key, filename in (("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem")):
            if fields.get(key):
                try:
                    tls[filename] = Path(fields[key]).expanduser().read_bytes()
                except OSError as exc:
                    raise CliError(f"unable to read {key} file: {exc}") from exc
        skip = fields.get("skip-tls-verify", "false").lower() in ("1", "true")
        host = fields.get("host") or default_endpoint(Selection()).host
        context = Context(name=name, host=host, description=description, skip_tls_verify=skip,
                          tls_files=tls)
    store.save(context)
    click.echo(name)
    click.echo(f'Successfully created context "{name}"', err=True)


def _from(store: ContextStore, name: str | None) -> Context:
    if name and name != DEFAULT:
        return store.get(name)
    endpoint = default_endpoint(_selection())
    tls: dict[str, bytes] = {}
    if endpoint.tls is not None:
        for filename, path in zip(TLS_FILES, (endpoint.tls.ca, endpoint.tls.cert, endpoint.tls.key),
                                  strict=True):
            if path and Path(path).is_file():
                tls[filename] = Path(path).read_bytes()
    return Context(name=DEFAULT, host=endpoint.host, tls_files=tls,
                   skip_tls_verify=bool(endpoint.tls and not endpoint.tls.verify))


def _current(store: ContextStore) -> str:
    return context_name(_selection(), store)


@context_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only show context names")
@click.option("--format", "fmt", default=None, help="Format the output (json)")
def ls_command(quiet: bool, fmt: str | None) -> None:
    """List contexts"""
    store = ContextStore()
    current = _current(store)
    rows = [(DEFAULT, "Current DOCKER_HOST based configuration", default_endpoint(_selection()).host)]
    rows += [(c.name, c.description, c.host) for c in store.list()]
    if quiet:
        click.echo("\n".join(name for name, _, _ in rows))
        return
    if fmt == "json":
        for name, description, host in rows:
            click.echo(json.dumps({"Current": name == current, "Description": description,
                                   "DockerEndpoint": host, "Error": "", "Name": name}))
        return
    names = [name + (" *" if name == current else "") for name, _, _ in rows]
    width = max(len("NAME"), *(len(n) for n in names)) + 3
    dwidth = max(len("DESCRIPTION"), *(len(d) for _, d, _ in rows)) + 3
    click.echo(f"{'NAME':<{width}}{'DESCRIPTION':<{dwidth}}DOCKER ENDPOINT   ERROR")
    for shown, (_, description, host) in zip(names, rows, strict=True):
        click.echo(f"{shown:<{width}}{description:<{dwidth}}{host}".rstrip())


@context_group.command("use")
@click.argument("name")
def use_command(name: str) -> None:
    """Set the current docker context"""
    store = ContextStore()
    if name != DEFAULT:
        store.get(name)
    store.set_current(name)
    click.echo(name)
    click.echo(f'Current context is now "{name}"', err=True)
    if os.environ.get("DOCKER_HOST"):
        click.echo("Warning: DOCKER_HOST environment variable overrides the active context. "
                   "To use a context, either set the global --context flag, or unset DOCKER_HOST "
                   "environment variable.", err=True)


@context_group.command("show")
def show_command() -> None:
    """Print the name of the current context"""
    click.echo(_current(ContextStore()))


@context_group.command("inspect")
@click.argument("names", nargs=-1)
def inspect_command(names: tuple[str, ...]) -> None:
    """Display detailed information on one or more contexts"""
    store = ContextStore()
    result = []
    for name in names or (_current(store),):
        if name == DEFAULT:
            context = _from(store, None)
        else:
            context = store.get(name)
        result.append({
            "Name": name, "Metadata": {"Description": context.description} if context.description else {},
            "Endpoints": {"docker": {"Host": context.host, "SkipTLSVerify": context.skip_tls_verify}},
            "TLSMaterial": {"docker": sorted(context.tls_files)} if context.tls_files else {},
            "Storage": {"MetadataPath": str(store.meta_dir(name)) if name != DEFAULT else "<IN MEMORY>",
                        "TLSPath": str(store.tls_dir(name).parent) if name != DEFAULT else "<IN MEMORY>"}})
    click.echo(json.dumps(result, indent=4))


@context_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Force the removal of a context in use")
def rm_command(names: tuple[str, ...], force: bool) -> None:
    """Remove one or more contexts"""
    store = ContextStore()
    current = store.current()
    for name in names:
        if name == DEFAULT:
            raise CliError('default: context "default" cannot be removed')
        if name == current and not force:
            raise CliError(f'{name}: context "{name}" is in use, set -f flag to force remove')
        store.remove(name)
        if name == current:
            store.set_current(DEFAULT)
        click.echo(name)


@context_group.command("export")
@click.argument("name")
@click.argument("file", required=False)
def export_command(name: str, file: str | None) -> None:
    """Export a context to a tar archive FILE or a tar stream on STDOUT."""
    data = ContextStore().export(name)
    if file == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(file or f"{name}.dockercontext")
    target.write_bytes(data)
    click.echo(f"Written file {str(target)!r}".replace("'", '"'), err=True)


@context_group.command("import")
@click.argument("name")
@click.argument("file")
def import_command(name: str, file: str) -> None:
    """Import a context from a tar or zip file"""
    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    ContextStore().import_(name, data)
    click.echo(name)
    click.echo(f'Successfully imported context "{name}"', err=True)


@click.command("dial-stdio")
def dial_stdio_command() -> None:
    """Proxy the stdio stream to the daemon connection. Should not be invoked manually."""
    stream = open_socket(session().client.endpoint)

    def upstream() -> None:
        try:
            while data := os.read(0, 65536):
                stream.sendall(data)
        except OSError:
            pass
        try:
            stream.shutdown(1)  # SHUT_WR: the daemon sees the end of the request stream
        except OSError:
            pass

    threading.Thread(target=upstream, daemon=True).start()
    try:
        while data := stream.recv(65536):
            os.write(1, data)
    except OSError:
        pass
    finally:
        stream.close()
