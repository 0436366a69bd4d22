"""launchq's one edge to Google Cloud's SDK errors: ``gcp_call`` and ``import_sdk``.

Every Google Cloud adapter (Pub/Sub, the Vertex AI target) runs its SDK calls inside ``gcp_call``, so that
no ``google.api_core`` or ``google.auth`` exception crosses a port (STYLE: "Translate SDK
errors at the adapter boundary"), and imports the SDK through ``import_sdk``, so that a
missing ``gcp`` extra is a clear BackendUnavailable naming the package, not an ImportError
in a dispatcher loop. The shape follows ``launchq.adapters.aws_sdk.aws_call``: a table from
the SDK's error name to launchq's error, extended by the caller for its call; an error not
in it is BackendUnavailable when Google says to retry (or never answered) and ``otherwise``
when Google refused the request.

The SDK is imported when a call is made, never when this module loads, so importing it
costs an AWS Lambda cold start nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType

from launchq.errors import BackendUnavailable, LaunchqError

__all__ = ["RETRYABLE", "Translation", "codes", "gcp_call", "import_sdk", "transient"]

Translation = Callable[[str], LaunchqError]
"""Builds launchq's error from a detail: an error class, or e.g. ``partial(InvalidInput, field=...)``."""


def codes(kind: Translation, *names: str) -> dict[str, Translation]:
    """A table sending each of Google's error names (``NotFound``, ``FailedPrecondition``) to
    ``kind``; tables combine with ``|`` (as ``aws_sdk.codes``)."""
    return dict.fromkeys(names, kind)


#: ``google.api_core.exceptions`` classes below HTTP 500 that still mean "try again later".
#: Every 5xx (ServiceUnavailable, DeadlineExceeded, InternalServerError, Unknown, ...) is
#: retryable too; so, when it reaches ``gcp_call``, is a ``RetryError`` (retries ran out of time).
RETRYABLE = frozenset({"Aborted", "Cancelled", "ResourceExhausted", "TooManyRequests"})


@contextmanager
def gcp_call(
    action: str,
    table: Mapping[str, Translation] | None = None,
    *,
    field: str | None = None,
    otherwise: Translation = BackendUnavailable,
) -> Iterator[None]:
    """Run the block; a Google SDK error raised in it leaves as one of launchq's errors.

    The error's class name and those of its bases (``NotFound``, ``ClientError``, ...) are
    looked up in ``table``, nearest first. Not found there, a retryable error or one with no
    answer (credentials, transport) is BackendUnavailable, any other refusal ``otherwise``.
    ``field`` goes to every error whose translation names none; a transport error of
    ``requests`` (no answer) is BackendUnavailable. The detail reads
    "<action> failed: <error name>: <Google's message>"; Google's messages name the
    resource, never request data.
    """
    api = import_sdk("google.api_core.exceptions", "google-api-core")
    auth = import_sdk("google.auth.exceptions", "google-auth")
    transport = import_sdk("requests.exceptions", "requests")
    try:
        yield
    except transport.RequestException as exc:
        # REST clients (Cloud Storage) raise requests' own errors when no retry wraps them;
        # they are OSErrors, and must not pass for a local disk's.
        raise BackendUnavailable(f"{action} failed: {type(exc).__name__}: {exc}", field=field) from exc
    except (api.GoogleAPIError, auth.GoogleAuthError) as exc:
        names = [cls.__name__ for cls in type(exc).__mro__]
        found = next((table[name] for name in names if table and name in table), None)
        if found is None:
            refused = isinstance(exc, api.GoogleAPICallError) and not _retryable(exc)
            found = otherwise if refused else BackendUnavailable
        # A call error's message without its status prefix; a RetryError's text names the last error.
        said = exc.message if isinstance(exc, api.GoogleAPICallError) else str(exc)
        error = found(f"{action} failed: {names[0]}: {said}")
        if error.field is None:
            error.field = field
        raise error from exc


def transient(exc: BaseException) -> bool:
    """Whether Google answered ``exc``'s call with "try again later": the predicate of an
    adapter's ``google.api_core.retry.Retry``, so retries and translation agree."""
    api = import_sdk("google.api_core.exceptions", "google-api-core")
    return isinstance(exc, api.GoogleAPICallError) and _retryable(exc)


def _retryable(exc: Exception) -> bool:
    code = getattr(exc, "code", None)
    return type(exc).__name__ in RETRYABLE or not isinstance(code, int) or code >= 500


def import_sdk(module: str, package: str) -> ModuleType:
    """``module`` of Google's SDK. Raises BackendUnavailable naming ``package`` when it is not
    installed (launchq's ``gcp`` extra: ``pip install 'launchq[gcp]'``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(
            f"{module} is not installed: pip install 'launchq[gcp]' (or {package})"
        ) from exc
