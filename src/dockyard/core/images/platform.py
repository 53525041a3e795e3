"""An image's platform (``os/architecture[/variant]`` from its config) and Docker's checks of it:
``--platform`` names an image of that platform, and a foreign one runs only where the kernel can
emulate it (binfmt_misc, core/runtime/emulation.py)."""

from __future__ import annotations

import platform as host_machine

from dockyard.core.distribution.model import Platform, host_platform, parse_platform
from dockyard.core.images.model import Image
from dockyard.errors import NotFound


def host() -> Platform:
    return host_platform(host_machine.machine())


def of(image: Image) -> Platform:
    """The platform the image's config declares (the host's fields where it says nothing)."""
    config = image.config
    here = host()
    return parse_platform("/".join(p for p in (str(config.get("os") or here.os),
                                               str(config.get("architecture") or here.architecture),
                                               str(config.get("variant") or "")) if p), here)


def matches(image: Image, wanted: str) -> bool:
    want = parse_platform(wanted, host())
    have = of(image)
    return (want.os, want.architecture) == (have.os, have.architecture) and (
        not want.variant or want.variant == have.variant)


def check(image: Image, ref: str, wanted: str) -> None:
    """moby's answer when ``--platform`` names a local image of another platform (a 404, so the
    CLI goes on to pull the platform asked for)."""
    if wanted and not matches(image, wanted):
        raise NotFound(f"image with reference {ref} was found but does not match the specified "
                       f"platform: wanted {parse_platform(wanted, host())}, actual: {of(image)}")
