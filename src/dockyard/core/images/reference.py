"""Image references, normalised as Docker's (distribution/reference grammar).

A *reference* names an image in a repository: ``docker.io/library/busybox:latest``. Its *familiar*
form is what users type and Docker prints: ``busybox:latest``. Grammar (distribution's
``reference/regexp.go``, written out here from the grammar, not copied)::

    reference      := name [ ":" tag ] [ "@" digest ]
    name           := [domain "/"] path-component ["/" path-component]*
    domain         := host [":" port-number]
    path-component := alpha-numeric [separator alpha-numeric]*
    separator      := /[_.]|__|[-]+/
    tag            := /[\\w][\\w.-]{0,127}/
    digest         := algorithm ":" hex (32 or more)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
_REFERENCE_RE = re.compile(rf"^{_NAME}(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_TAG_RE = re.compile(rf"^{_TAG}$")

INVALID_FORMAT = "invalid reference format"


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised reference: ``domain/path`` plus an optional tag and digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository, fully qualified: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as users write it: ``busybox``, ``user/app``, ``localhost:5000/x``."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX):]:
                path = path[len(OFFICIAL_PREFIX):]
            return path
        return self.name

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """``busybox:latest`` for ``docker.io/library/busybox:latest``."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag is not None else ""
        return out + (f"@{self.digest}" if self.digest is not None else "")

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    def with_default_tag(self) -> Reference:
        """Docker's ``TagNameOnly``: a reference with neither tag nor digest gets ``latest``."""
        if self.tag is None and self.digest is None:
            return self.with_tag(DEFAULT_TAG)
        return self


def _split_domain(name: str) -> tuple[str, str]:
    head, sep, rest = name.partition("/")
    # The first component is a registry host only if it looks like one: it has a dot or a
    # port, is "localhost", or has uppercase letters (which a path component cannot).
    if not sep or ("." not in head and ":" not in head and head != "localhost" and head.lower() == head):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = head, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse(value: str) -> Reference:
    """Parse and normalise as Docker's ``ParseNormalizedNamed`` (no default tag added)."""
    if not value:
        raise InvalidArgument(INVALID_FORMAT)
    if _ANCHORED_HEX64.fullmatch(value):
        raise InvalidArgument(
            f"invalid repository name ({value}), cannot specify 64-byte hexadecimal strings")
    name_part, at, digest_part = value.partition("@")
    # A ":" after the last "/" separates the tag; one before it belongs to a registry port.
    colon = name_part.rfind(":")
    repo_part = name_part[:colon] if colon > name_part.rfind("/") else name_part
    domain, remainder = _split_domain(repo_part)
    if remainder.lower() != remainder:
        raise InvalidArgument(f"{INVALID_FORMAT}: repository name ({remainder}) must be lowercase")
    full = f"{domain}/{remainder}{name_part[len(repo_part):]}{at}{digest_part}"
    match = _REFERENCE_RE.fullmatch(full)  # "$" alone allows a trailing newline
    if match is None:
        raise InvalidArgument(INVALID_FORMAT)
    ref_domain, path, tag, digest = match.groups()
    if len(f"{ref_domain}/{path}") > NAME_TOTAL_MAX:
        raise InvalidArgument(
            f"{INVALID_FORMAT}: repository name must not be more than {NAME_TOTAL_MAX} characters")
    return Reference(ref_domain or DEFAULT_DOMAIN, path, tag, digest)


def parse_tagged(value: str) -> Reference:
    """Parse and add ``latest`` when neither tag nor digest is given (``docker pull busybox``)."""
    return parse(value).with_default_tag()


def parse_repository(repo: str, tag: str | None) -> Reference:
    """The ``repo`` + ``tag`` query parameters of tag and import; a tag inside ``repo`` is allowed."""
    ref = parse(repo)
    if tag:
        if not _TAG_RE.fullmatch(tag):
            raise InvalidArgument(f"invalid tag format: {tag}" if tag else INVALID_FORMAT)
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        ref = ref.with_tag(tag)
    if ref.digest is not None:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    return ref.with_default_tag()


def familiar(normalised: str) -> str:
    """The familiar form of a stored (normalised) reference string."""
    return parse(normalised).familiar()
