"""The CLI's errors: each one is a single line for stderr plus the exit status to end with.

Exit statuses: 2 for the user's own mistakes (a bad flag or file, a 4xx answer), 1 for
problems on the other side (launchq unreachable, a 5xx answer, an unexpected reply).
"""

from __future__ import annotations

USER_ERROR = 2
SERVER_ERROR = 1


class CliError(Exception):
    """A failure the CLI reports as ``Error: <message>`` on one line and exits with ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = USER_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ApiError(CliError):
    """The launchq API answered with an HTTP error: ``{"error": ..., "detail": ...}``."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        self.status = status
        self.error = error
        self.detail = detail
        if status >= 500:
            message = f"launchq server error (HTTP {status} {error}): {detail}"
            super().__init__(message, exit_code=SERVER_ERROR)
        else:
            super().__init__(detail or error, exit_code=USER_ERROR)


class Unreachable(CliError):
    """No answer from the launchq API at all (connection refused, timeout, broken reply)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=SERVER_ERROR)
