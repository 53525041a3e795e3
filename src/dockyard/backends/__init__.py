"""Implementations of the core Protocols: overlayfs, runc/crun, conmon, networking."""
