"""Dockyard: a container engine that speaks the Docker Engine API."""

from dockyard.imports import defer_package_init, source_version

__version__ = "0.1.0"
API_VERSION = "1.50"
MIN_API_VERSION = "1.24"

# aiohttp's server without its client until something asks for the client (imports.py): ~4 MB
# of an idle daemon. Before any module of ours imports aiohttp, so first in the package.
if _aiohttp_version := source_version("aiohttp"):
    defer_package_init("aiohttp", __version__=_aiohttp_version)
