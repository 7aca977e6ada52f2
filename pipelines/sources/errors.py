"""Errors a connector raises, and the two internal signals its retry and split loops act on.

Messages are one line, name the tenant and say what to do. They never carry a secret, a token or
a response body (bodies can echo request data).
"""

from __future__ import annotations


class SourceError(RuntimeError):
    """A fetch that could not return its window complete. The partition must not be written."""


class AccessDenied(SourceError):
    """401/403: retrying cannot help; the message names the missing permission or role."""


class Forbidden(AccessDenied):
    """HTTP 403 from a service that issued the token: a permission or role not granted."""


class IncompleteWindow(SourceError):
    """A window still truncated (row cap, PartialError, timeout) at the smallest allowed split."""


class SourceUnavailable(SourceError):
    """Transient failures (429, 5xx, resets, malformed bodies) outlasted the attempt budget."""


class Retryable(Exception):
    """Internal: the request may succeed if repeated. `retry_after` is the server's wait, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SplitNeeded(Exception):
    """Internal: the window's result is (or may be) truncated; a narrower window can fix it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
