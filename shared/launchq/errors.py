"""launchq's own error types.

Adapters translate SDK errors into these at their edge; the API maps each to one HTTP
status in a single table (``launchq.api.errors``); the CLI prints them without a traceback.
"""

from __future__ import annotations


class LaunchqError(Exception):
    """Base of every error launchq raises on purpose."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail


class InvalidInput(LaunchqError):
    """A user mistake in a request, a config file or a flag (HTTP 422)."""


class PayloadTooLarge(LaunchqError):
    """A request or one of its parts is larger than the documented bound (HTTP 413)."""


class NotFound(LaunchqError):
    """The named queue, run or schedule does not exist (HTTP 404)."""


class AlreadyExists(LaunchqError):
    """Creating something whose name is taken (HTTP 409)."""


class Conflict(LaunchqError):
    """The request does not fit the current state, e.g. stopping a finished run (HTTP 409)."""


class StaleWrite(Conflict):
    """A conditional write lost: the record is no longer in the expected state/version."""


class LaunchFailed(LaunchqError):
    """A target or builder could not start a run; the run goes to ``dead_letter`` with this reason."""


class BackendUnavailable(LaunchqError):
    """A store, bus or cloud service could not be reached (HTTP 503); safe to retry."""
