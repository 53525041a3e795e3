"""The CLI's errors: each is reported on one line and turned into an exit status."""

from __future__ import annotations


class CliError(Exception):
    """An error the CLI reports on one line and turns into an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        # Set by run/create: docker then prints "docker: <error>" and a pointer to --help.
        self.help_command: str | None = None


class DaemonError(CliError):
    """The daemon answered with an error status; ``str()`` is docker's ``Error response from daemon``."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(f"Error response from daemon: {message}")
        self.http_status = http_status
        self.daemon_message = message


class CannotConnect(CliError):
    def __init__(self, host: str) -> None:
        super().__init__(f"Cannot connect to the Docker daemon at {host}. Is the docker daemon running?")


class ConnectFailed(CliError):
    """``error during connect: …`` with the mechanism's own reason (tcp, TLS, ssh)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"error during connect: {reason}")
        self.host = host
