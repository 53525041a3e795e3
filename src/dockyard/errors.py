"""The one error hierarchy of Dockyard.

Core code raises the class that tells a client what to do next; adapters map the class to their own
terms (the API to HTTP statuses in ``api/errors.py``, the CLI to exit codes). Nothing here knows HTTP.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every error the engine raises on purpose."""


class NotFound(DockyardError):
    """The named object does not exist (``No such container: x``)."""


class InvalidArgument(DockyardError):
    """The caller's input is malformed or contradictory."""


class Conflict(DockyardError):
    """The request clashes with the current state of an object."""


class AlreadyExists(Conflict):
    """A name or key is already taken."""


class InUse(Conflict):
    """The object is referenced by another and cannot be removed."""


class WrongState(Conflict):
    """The object is not in a state that allows the operation (e.g. removing a running container)."""


class NotModified(DockyardError):
    """The operation had nothing to do (start of a running container, stop of a stopped one)."""


class Unauthorized(DockyardError):
    """Credentials are missing or wrong."""


class Forbidden(DockyardError):
    """The caller may not do this."""


class Unimplemented(DockyardError):
    """The feature is not supported yet; never answered as a silent success."""


class Unavailable(DockyardError):
    """A backend (runtime, registry) cannot be reached or refused to work."""


class Internal(DockyardError):
    """An invariant was lost; a bug or a broken host."""


class NoSpace(Internal):
    """The disk is full (ENOSPC, EDQUOT): dockerd answers 500 ``write <path>: no space left on device``."""
