"""Adapter: the Docker Engine HTTP API over a UNIX socket. No logic of its own."""
