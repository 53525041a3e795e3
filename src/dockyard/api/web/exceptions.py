"""HTTP answers raised rather than returned: the router's 404 and 405, a refused request head."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dockyard.api.web.headers import Headers

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted",
    204: "No Content", 206: "Partial Content", 301: "Moved Permanently", 302: "Found",
    304: "Not Modified", 307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    408: "Request Timeout", 409: "Conflict", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
    417: "Expectation Failed", 422: "Unprocessable Entity", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 499: "Client Closed Request",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def reason_of(status: int) -> str:
    return REASONS.get(status, "Unknown")


class HTTPException(Exception):  # noqa: N818 - the name HTTP servers give it
    status_code = 500

    def __init__(self, *, reason: str | None = None, text: str | None = None,
                 headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
                 content_type: str = "text/plain") -> None:
        self.reason = reason or reason_of(self.status_code)
        self.text = text if text is not None else f"{self.status_code}: {self.reason}"
        self.headers = Headers(headers)
        self.content_type = content_type
        super().__init__(self.text)

    @property
    def status(self) -> int:
        return self.status_code


class HTTPBadRequest(HTTPException):
    status_code = 400


class HTTPNotFound(HTTPException):
    status_code = 404


class HTTPMethodNotAllowed(HTTPException):
    status_code = 405

    def __init__(self, method: str, allowed_methods: Iterable[str], **kwargs: object) -> None:
        allowed = sorted(set(allowed_methods))
        super().__init__(headers={"Allow": ",".join(allowed)}, **kwargs)  # type: ignore[arg-type]
        self.method = method
        self.allowed_methods = allowed


class HTTPRequestEntityTooLarge(HTTPException):
    status_code = 413


class HTTPRequestHeaderFieldsTooLarge(HTTPException):
    status_code = 431
