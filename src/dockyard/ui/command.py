"""``dockyard ui``: serve the web UI. Loopback by default; anything else needs ``--tls-cert/--tls-key``.

The web application is imported only when the command runs, so other CLI commands do not pay for
aiohttp and Jinja2 at start-up.
"""

from __future__ import annotations

import getpass
import ipaddress
import logging
import ssl
import sys
from pathlib import Path

import click

from dockyard.cli.client import CliError, resolve_host

log = logging.getLogger(__name__)

DEFAULT_STATE = Path.home() / ".local" / "share" / "dockyard-ui"


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"invalid --listen {listen!r}: expected HOST:PORT", 125)
    return host.strip("[]") or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _password(path: Path | None, prompt: str) -> str | None:
    if path is not None:
        try:
            text = path.read_text().rstrip("\r\n")
        except OSError as exc:
            raise CliError(f"reading {path}: {exc.strerror}", 125) from exc
        if not text:
            raise CliError(f"{path} is empty", 125)
        return text
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass(prompt)
    if not first or first != getpass.getpass("Repeat it: "):
        raise CliError("the passwords are empty or differ", 125)
    return first


@click.command("ui", context_settings={"help_option_names": ["--help"]})
@click.option("--listen", default="127.0.0.1:9000", show_default=True, help="Address to serve on")
@click.option("--admin-password-file", type=click.Path(path_type=Path, dir_okay=False),
              help="File holding the admin's password (asked on the terminal at first start otherwise)")
@click.option("--readonly-password-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Enable the read-only user 'viewer' with the password in this file")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_STATE,
              show_default=True, help="Where the hashed passwords are kept")
@click.option("--env", "env_specs", multiple=True, metavar="NAME=ENDPOINT",
              help="Another engine: unix:///path, tcp://host:port (TLS), ssh://…, context:NAME")
@click.option("--tlscacert", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="CA that signed tcp:// engines' certificates")
@click.option("--tlscert", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Client certificate for tcp:// engines")
@click.option("--tlskey", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Client key for tcp:// engines")
@click.option("--tls-cert", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Serve HTTPS with this certificate")
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Key of --tls-cert")
@click.pass_context
def ui_command(ctx: click.Context, listen: str, admin_password_file: Path | None,
               readonly_password_file: Path | None, state_dir: Path, env_specs: tuple[str, ...],
               tlscacert: Path | None, tlscert: Path | None, tlskey: Path | None,
               tls_cert: Path | None, tls_key: Path | None) -> None:
    """Serve the web UI (a Portainer-like manager for this and other engines)"""
    from aiohttp import web

    from dockyard.cli.endpoint import TlsConfig
    from dockyard.ui.app import Settings, build_app
    from dockyard.ui.auth import ADMIN, VIEWER, UserStore
    from dockyard.ui.environments import EnvironmentError_, local_environment, parse_environment

    host, port = parse_listen(listen)
    if bool(tls_cert) != bool(tls_key):
        raise CliError("--tls-cert and --tls-key go together", 125)
    if not is_loopback(host) and not tls_cert:
        raise CliError(f"refusing to serve on {host} without TLS: pass --tls-cert and --tls-key, "
                       "or listen on a loopback address", 125)
    users = UserStore(state_dir / "users.json")
    admin = _password(admin_password_file, "Password for the UI's admin: ") if (
        admin_password_file or not users.has(ADMIN)) else None
    if admin is not None:
        users.set(ADMIN, admin, ADMIN)
    elif not users.has(ADMIN):
        raise CliError("no admin password: pass --admin-password-file (or run on a terminal)", 125)
    if readonly_password_file is not None:
        users.set(VIEWER, _password(readonly_password_file, "") or "", VIEWER)
    else:
        users.remove(VIEWER)
    tls = None
    if tlscacert or tlscert:
        tls = TlsConfig(ca=str(tlscacert) if tlscacert else None, cert=str(tlscert) if tlscert else None,
                        key=str(tlskey) if tlskey else None)
    try:
        root_host = ctx.find_root().params.get("host")
        envs = [local_environment(resolve_host(root_host))] + [parse_environment(s, tls) for s in env_specs]
    except EnvironmentError_ as exc:
        raise CliError(str(exc), 125) from exc
    if len({e.name for e in envs}) != len(envs):
        raise CliError("environment names must be unique ('local' is taken)", 125)
    context = None
    if tls_cert and tls_key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls_cert), str(tls_key))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build_app(Settings(tuple(envs), secure_cookies=context is not None), users)
    scheme = "https" if context else "http"
    click.echo(f"dockyard ui on {scheme}://{listen} (engines: {', '.join(e.name for e in envs)})", err=True)
    web.run_app(app, host=host, port=port, ssl_context=context, print=None, access_log=None)
