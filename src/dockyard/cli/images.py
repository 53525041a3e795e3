"""Image commands: images, rmi, tag, history, import, load, save."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import IO, Any

import click

from dockyard.cli.client import CliError, filters_param, iter_json_stream
from dockyard.cli.connection import Response
from dockyard.cli.credentials import config_format
from dockyard.cli.formatter import ellipsis, render_rows, short_id
from dockyard.cli.registry import ProgressDisplay
from dockyard.cli.session import session
from dockyard.cli.units import format_local_time, human_size, parse_timestamp, since

IMAGES_FORMAT = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGESTS_FORMAT = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
                 "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
                 "VirtualSize": "VIRTUAL SIZE"}
HISTORY_FORMAT = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
_CHUNK = 1 << 16


def split_tag(reference: str) -> tuple[str, str]:
    """``repo:tag`` → (repo, tag); the tag is after the last ``:`` that follows the last ``/``."""
    name, _, digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, "@" + digest if digest else ""


class ImageRow:
    """One line of ``images``: an image under one of its repository:tag names."""

    def __init__(self, summary: dict[str, Any], repo: str, tag: str, digest: str, *, trunc: bool) -> None:
        self._i = summary
        self.Repository = repo
        self.Tag = tag
        self.Digest = digest
        self._trunc = trunc

    @property
    def ID(self) -> str:  # noqa: N802 - Go template field names
        image_id = str(self._i.get("Id", ""))
        return short_id(image_id) if self._trunc else image_id

    @property
    def CreatedSince(self) -> str:  # noqa: N802
        return since(self._i.get("Created"))

    @property
    def CreatedAt(self) -> str:  # noqa: N802
        return format_local_time(self._i.get("Created"))

    @property
    def Size(self) -> str:  # noqa: N802
        return human_size(self._i.get("Size") or 0, 3)

    @property
    def Containers(self) -> str:  # noqa: N802
        count = self._i.get("Containers", -1)
        return "N/A" if count is None or count < 0 else str(count)

    @property
    def VirtualSize(self) -> str:  # noqa: N802
        return human_size(self._i.get("Size") or 0)

    @property
    def SharedSize(self) -> str:  # noqa: N802
        shared = self._i.get("SharedSize", -1)
        return "N/A" if shared is None or shared < 0 else human_size(shared, 3)

    @property
    def UniqueSize(self) -> str:  # noqa: N802
        shared = self._i.get("SharedSize", -1)
        if shared is None or shared < 0:
            return "N/A"
        return human_size((self._i.get("Size") or 0) - shared, 3)

    def to_json(self) -> dict[str, str]:
        names = ("Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize",
                 "Size", "Tag", "UniqueSize", "VirtualSize")
        return {name: getattr(self, name) for name in names}


def image_rows(images: list[dict[str, Any]], *, trunc: bool) -> list[ImageRow]:
    """One row per repository:tag (``<none>`` for untagged), as docker expands them."""
    rows = []
    for image in images:
        digests = {split_tag(d)[0]: d.partition("@")[2] for d in image.get("RepoDigests") or []}
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        for ref in tags:
            repo, tag = split_tag(ref)
            rows.append(ImageRow(image, repo, tag, digests.get(repo, "<none>"), trunc=trunc))
        if not tags:
            for repo, digest in digests.items() or [("<none>", "<none>")]:
                rows.append(ImageRow(image, repo, "<none>", digest, trunc=trunc))
    return rows


@click.command("images")
@click.option("-a", "--all", "show_all", is_flag=True,
              help="Show all images (default hides intermediate images)")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--digests", is_flag=True, help="Show digests")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Format output using a custom template")
@click.argument("repository", required=False)
def images_command(show_all: bool, quiet: bool, digests: bool, no_trunc: bool, filters: tuple[str, ...],
                   fmt: str | None, repository: str | None) -> None:
    """List images"""
    s = session()
    all_filters = list(filters) + ([f"reference={repository}"] if repository else [])
    params = {"all": "1" if show_all else "0"}
    if all_filters:
        params["filters"] = filters_param(all_filters)
    if not fmt and not quiet:
        fmt = config_format("imagesFormat")  # the user's default template in config.json
    images = s.client.get_json("/images/json", params)
    rows = image_rows(images, trunc=not no_trunc)
    if quiet and not fmt:
        fmt = "{{.ID}}"
        rows = list({row.ID: row for row in reversed(rows)}.values())[::-1]
    default = DIGESTS_FORMAT if digests else IMAGES_FORMAT
    s.out(render_rows(fmt, rows, default=default, headers=IMAGE_HEADERS))


@click.command("rmi")
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents")
@click.argument("images", nargs=-1, required=True)
def rmi_command(force: bool, no_prune: bool, images: tuple[str, ...]) -> None:
    """Remove one or more images"""
    s = session()
    params = {"force": "1" if force else "0", "noprune": "1" if no_prune else "0"}
    errors = []
    for image in images:
        try:
            deleted = s.client.request("DELETE", f"/images/{image}", params=params).json()
        except CliError as exc:
            errors.append(exc.message)
            continue
        for item in deleted or []:
            for key, label in (("Untagged", "Untagged"), ("Deleted", "Deleted")):
                if item.get(key):
                    s.out(f"{label}: {item[key]}\n")
    if errors:
        raise CliError("\n".join(errors), 1)


@click.command("tag")
@click.argument("source")
@click.argument("target")
def tag_command(source: str, target: str) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"""
    repo, tag = split_tag(target)
    session().client.request("POST", f"/images/{source}/tag", params={"repo": repo, "tag": tag or "latest"})


class HistoryRow:
    def __init__(self, entry: dict[str, Any], *, trunc: bool, human: bool) -> None:
        self._h = entry
        self._trunc = trunc
        self._human = human

    @property
    def ID(self) -> str:  # noqa: N802
        image_id = str(self._h.get("Id") or "")
        if not image_id or image_id == "<missing>":
            return "<missing>"
        return short_id(image_id) if self._trunc else image_id

    @property
    def CreatedSince(self) -> str:  # noqa: N802
        if self._human:
            return since(self._h.get("Created"))
        when = parse_timestamp(self._h.get("Created"))
        return when.astimezone().isoformat() if when else ""

    @property
    def CreatedAt(self) -> str:  # noqa: N802
        when = parse_timestamp(self._h.get("Created"))
        return when.astimezone().isoformat() if when else ""

    @property
    def CreatedBy(self) -> str:  # noqa: N802
        created_by = str(self._h.get("CreatedBy") or "").replace("\t", " ")
        return ellipsis(created_by, 45) if self._trunc else created_by

    @property
    def Size(self) -> str:  # noqa: N802
        size = self._h.get("Size") or 0
        return human_size(size, 3) if self._human else str(size)

    @property
    def Comment(self) -> str:  # noqa: N802
        return str(self._h.get("Comment") or "")

    def to_json(self) -> dict[str, str]:
        names = ("Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size")
        return {name: getattr(self, name) for name in names}


@click.command("history")
@click.option("-H", "--human", type=bool, default=True, help="Print sizes and dates in human readable format")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--format", "fmt", help="Format output using a custom template")
@click.argument("image")
def history_command(human: bool, no_trunc: bool, quiet: bool, fmt: str | None, image: str) -> None:
    """Show the history of an image"""
    s = session()
    entries = s.client.get_json(f"/images/{image}/history")
    rows = [HistoryRow(e, trunc=not no_trunc, human=human) for e in entries]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    s.out(render_rows(fmt, rows, default=HISTORY_FORMAT, headers=HISTORY_HEADERS))


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    while chunk := source.read(_CHUNK):
        yield chunk


def show_json_stream(response: Response) -> None:
    """Print docker's JSON progress messages (``stream``, ``status``); an ``error`` fails."""
    s = session()
    for message in iter_json_stream(response):
        if "error" in message or "errorDetail" in message:
            detail = message.get("errorDetail") or {}
            raise CliError(str(message.get("error") or detail.get("message")), 1)
        if message.get("stream"):
            s.out(str(message["stream"]))
        elif message.get("status"):
            prefix = f"{message['id']}: " if message.get("id") else ""
            s.out(f"{prefix}{message['status']}\n")


@click.command("import")
@click.option("-c", "--change", "changes", multiple=True,
              help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", help="Set commit message for imported image")
@click.option("--platform", help="Set platform if server is multi-platform capable")
@click.argument("source")
@click.argument("reference", required=False)
def import_command(changes: tuple[str, ...], message: str | None, platform: str | None, source: str,
                   reference: str | None) -> None:
    """Import the contents from a tarball to create a filesystem image"""
    s = session()
    params: list[tuple[str, str]] = []
    if reference:
        repo, tag = split_tag(reference)
        params += [("repo", repo), ("tag", tag)]
    params += [("changes", change) for change in changes]
    if message:
        params.append(("message", message))
    if platform:
        params.append(("platform", platform))
    if "://" in source:
        params.insert(0, ("fromSrc", source))
        with s.client.stream("POST", "/images/create", params=params) as response:
            show_json_stream(response)
        return
    params.insert(0, ("fromSrc", "-"))
    try:
        handle = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    except OSError as exc:
        raise CliError(f"open {source}: {exc.strerror.lower() if exc.strerror else exc}", 1) from exc
    with handle, s.client.stream("POST", "/images/create", params=params, content=_chunks(handle),
                                 headers={"Content-Type": "application/x-tar"}) as response:
        show_json_stream(response)


@click.command("load")
@click.option("-i", "--input", "input_path", help="Read from tar archive file, instead of STDIN")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
@click.option("--platform", multiple=True, help="Load only the given platform(s)")
def load_command(input_path: str | None, quiet: bool, platform: tuple[str, ...]) -> None:
    """Load an image from a tar archive or STDIN"""
    s = session()
    if input_path is None and os.isatty(sys.stdin.fileno()):
        raise CliError("requested load from stdin, but stdin is empty", 1)
    # As docker: progress bars only on a terminal; otherwise the daemon is asked for none.
    quiet = quiet or not sys.stdout.isatty()
    params = [("quiet", "1" if quiet else "0")] + [("platform", p) for p in platform]
    try:
        handle = open(input_path, "rb") if input_path else sys.stdin.buffer  # noqa: SIM115
    except OSError as exc:
        raise CliError(f"open {input_path}: {exc.strerror.lower() if exc.strerror else exc}", 1) from exc
    with handle, s.client.stream("POST", "/images/load", params=params, content=_chunks(handle),
                                 headers={"Content-Type": "application/x-tar"}) as response:
        with ProgressDisplay(quiet=False) as display:
            for message in iter_json_stream(response):
                display.show(message)


@click.command("save")
@click.option("-o", "--output", help="Write to a file, instead of STDOUT")
@click.option("--platform", multiple=True, help="Save only the given platform(s)")
@click.argument("images", nargs=-1, required=True)
def save_command(output: str | None, platform: tuple[str, ...], images: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)"""
    s = session()
    if output is None and os.isatty(s.stdout.fileno()):
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1)
    params = [("names", name) for name in images] + [("platform", p) for p in platform]
    with s.client.stream("GET", "/images/get", params=params) as response:
        target = open(output + ".tmp", "wb") if output else s.stdout  # noqa: SIM115
        try:
            for chunk in response.iter_raw():
                target.write(chunk)
            target.flush()
        except BaseException:
            if output:
                target.close()
                os.unlink(output + ".tmp")
            raise
    if output:
        target.close()
        os.replace(output + ".tmp", output)
